package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/finding"
)

// TextOptions tune the human report. The zero value prints everything,
// without color.
type TextOptions struct {
	// Color adds ANSI colors. The CLI sets it when stdout is a terminal and
	// NO_COLOR is unset; the renderer never looks at the environment.
	Color bool
	// MinSeverity hides findings below it from the listing; they are still
	// counted, and the report says how many it left out.
	MinSeverity finding.Severity
}

// headlineCodes are the finding codes worth naming in the summary line, in
// the order they are named. They must match reconcile/codes.go; report
// does not import reconcile, to stay a leaf package.
var headlineCodes = []struct {
	code      finding.Code
	one, many string
}{
	{"resurrected", "resurrected lvol", "resurrected lvols"},
	{"pending-resurrection", "pending resurrection", "pending resurrections"},
	{"hidden-zombie", "hidden zombie (fixed target)", "hidden zombies (fixed target)"},
	{"clone-lost-base-snapshot", "clone without its base snapshot", "clones without their base snapshot"},
	{"name-collision", "name collision", "name collisions"},
	{"not-opened-at-load", "lvol not opened at load", "lvols not opened at load"},
	{"phantom", "phantom lvol", "phantom lvols"},
}

// maxHeadlineLvstores bounds the lvstore names the summary line lists.
const maxHeadlineLvstores = 3

// Headline is the report's first line, the one a cron mail shows at a
// glance, without color: "lvfsck check: 2 errors, 1 warning on 1 lvstore
// (lvs-r) — 1 pending resurrection" or "lvfsck check: clean — 1 lvstore,
// 4 lvols".
func Headline(s Summary) string {
	gs, _ := groups(s)
	return headline(s, gs)
}

func headline(s Summary, gs []*group) string {
	var b strings.Builder
	b.WriteString("lvfsck")
	if s.Command != "" {
		b.WriteString(" " + safeText(s.Command))
	}
	b.WriteString(": ")
	c := CountFindings(s.Findings)
	completed := RunCompleted(s.Exit)
	if !completed {
		fmt.Fprintf(&b, "incomplete (exit %d, %s)", s.Exit, ExitMeaning(s.Exit))
		if c.Problems() > 0 {
			b.WriteString("; ")
		}
	}
	if c.Problems() == 0 {
		if completed {
			b.WriteString("clean")
		}
		if !completed && len(s.Lvstores) == 0 {
			return b.String() // "no lvstores" would read as a finding
		}
		b.WriteString(" — " + inventory(s))
		if c.Info > 0 {
			fmt.Fprintf(&b, "; %d info", c.Info)
		}
		return b.String()
	}
	b.WriteString(countsPhrase(c, false))
	var affected []string
	for _, g := range gs {
		if !g.none && g.counts.Problems() > 0 {
			affected = append(affected, safeText(g.label()))
		}
	}
	if n := len(affected); n > 0 {
		fmt.Fprintf(&b, " on %s (", plural(n, "lvstore", "lvstores"))
		if n > maxHeadlineLvstores {
			affected = append(affected[:maxHeadlineLvstores], fmt.Sprintf("+%d more", n-maxHeadlineLvstores))
		}
		b.WriteString(strings.Join(affected, ", ") + ")")
	}
	if hl := highlights(s, gs); len(hl) > 0 {
		b.WriteString(" — " + strings.Join(hl, ", "))
	}
	return b.String()
}

// inventory is "1 lvstore, 4 lvols" (or "no lvstores").
func inventory(s Summary) string {
	if len(s.Lvstores) == 0 {
		return "no lvstores"
	}
	lvols := 0
	for _, l := range s.Lvstores {
		lvols += max(l.Lvols, 0)
	}
	return plural(len(s.Lvstores), "lvstore", "lvstores") + ", " + plural(lvols, "lvol", "lvols")
}

// countsPhrase is "1 critical, 2 errors, 1 warning" (infos only when asked).
func countsPhrase(c Counts, withInfo bool) string {
	var parts []string
	if c.Critical > 0 {
		parts = append(parts, strconv.Itoa(c.Critical)+" critical")
	}
	if c.Error > 0 {
		parts = append(parts, plural(c.Error, "error", "errors"))
	}
	if c.Warning > 0 {
		parts = append(parts, plural(c.Warning, "warning", "warnings"))
	}
	if withInfo && c.Info > 0 {
		parts = append(parts, strconv.Itoa(c.Info)+" info")
	}
	return strings.Join(parts, ", ")
}

// highlights names what matters most after a restart: a crash, an lvstore
// that will not load, and the resurrection family of findings.
func highlights(s Summary, gs []*group) []string {
	var out []string
	crash, refuse := 0, 0
	for _, g := range gs {
		refused := false
		for _, f := range g.findings {
			switch f.SPDK {
			case finding.LoadCrash:
				crash++
			case finding.LoadRefuse:
				refused = true
			}
		}
		if refused {
			refuse++
		}
	}
	if crash > 0 {
		out = append(out, "spdk_tgt will crash at its next load")
	}
	if refuse > 0 {
		out = append(out, plural(refuse, "lvstore", "lvstores")+" will not load")
	}
	for _, h := range headlineCodes {
		n := 0
		for _, f := range s.Findings {
			if f.Code == h.code {
				n++
			}
		}
		if n > 0 {
			out = append(out, plural(n, h.one, h.many))
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// ANSI SGR sequences; only written when TextOptions.Color is set.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiDim     = "\x1b[2m"
	ansiRed     = "\x1b[1;31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[1;35m"
	ansiCyan    = "\x1b[36m"
)

var severityColor = map[finding.Severity]string{
	finding.Critical: ansiMagenta,
	finding.Error:    ansiRed,
	finding.Warning:  ansiYellow,
	finding.Info:     ansiCyan,
}

// loadWords says in words what spdk_tgt does at its next load.
var loadWords = map[finding.LoadOutcome]string{
	finding.LoadOK:       "spdk_tgt loads it normally",
	finding.LoadDegraded: "spdk_tgt loads it, degraded",
	finding.LoadSkip:     "spdk_tgt silently skips it (it does not load)",
	finding.LoadRefuse:   "spdk_tgt refuses the whole lvstore (no lvol of it loads)",
	finding.LoadCrash:    "spdk_tgt fails an assertion and dies, with every volume on the device",
}

type textPrinter struct {
	w     *bufio.Writer
	color bool
}

func (p *textPrinter) paint(color, s string) string {
	if !p.color || color == "" {
		return s
	}
	return color + s + ansiReset
}

// WriteText writes the human report: the headline, the run, then findings
// grouped by lvstore and by severity (most severe first). Output depends
// only on s and opts.
func WriteText(w io.Writer, s Summary, opts TextOptions) error {
	return writeText(w, s, opts, nil)
}

// writeText is WriteText with body, when not nil, written between the
// headline and the run: a command's own description of the lvstores it
// looked at (scan's lvstore and lvol tree). Those lvstores are then not
// headed again: their findings follow under "findings".
func writeText(w io.Writer, s Summary, opts TextOptions, body func(*textPrinter)) error {
	p := &textPrinter{w: bufio.NewWriterSize(w, 64<<10), color: opts.Color}
	gs, _ := groups(s)

	p.w.WriteString(p.paint(headlineColor(s), headline(s, gs)) + "\n")
	if body != nil {
		body(p)
	}
	p.runInfo(s)
	for _, g := range gs {
		p.group(g, opts.MinSeverity, body != nil && (g.known || g.none && len(s.Lvstores) == 0))
	}
	if len(s.Notes) > 0 {
		p.w.WriteString("\n" + p.paint(ansiBold, "notes") + "\n")
		for _, n := range s.Notes {
			for i, l := range lines(n) {
				prefix := "  - "
				if i > 0 {
					prefix = "    "
				}
				p.w.WriteString(prefix + l + "\n")
			}
		}
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	return nil
}

func headlineColor(s Summary) string {
	switch s.Status() {
	case "incomplete", "errors":
		if m, ok := finding.Max(s.Findings); ok && m >= finding.Critical {
			return ansiMagenta
		}
		return ansiRed
	case "warnings":
		return ansiYellow
	}
	return ansiGreen
}

// rfc3339 renders t for humans and machines alike: UTC, whole seconds.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (p *textPrinter) kv(k, v string) {
	fmt.Fprintf(p.w, "%s %s\n", p.paint(ansiDim, fmt.Sprintf("%-12s", k)), v)
}

func (p *textPrinter) runInfo(s Summary) {
	p.w.WriteString("\n")
	if s.Target != "" {
		p.kv("target", safeText(s.Target))
	}
	if s.Incarnation != "" {
		p.kv("incarnation", safeText(s.Incarnation))
	}
	if !s.Started.IsZero() {
		run := rfc3339(s.Started)
		if !s.Finished.IsZero() {
			run += ", took " + s.Finished.Sub(s.Started).Round(time.Millisecond).String()
		}
		p.kv("run", run)
	}
	if s.ScannedBytes > 0 || s.ScanDuration > 0 {
		p.kv("scanned", fmt.Sprintf("%s in %s", Bytes(uint64(max(s.ScannedBytes, 0))), s.ScanDuration.Round(time.Millisecond)))
	}
	if d := s.DeleteSemantics; d != nil {
		p.kv("semantics", safeText(d.Semantics+" ("+d.From+")"))
	}
	p.kv("exit", fmt.Sprintf("%d (%s)", s.Exit, ExitMeaning(s.Exit)))
}

// group writes one lvstore's findings. described: the body showed that
// lvstore (or, when it knew none, the device), so the findings are headed
// plainly "findings".
func (p *textPrinter) group(g *group, minSev finding.Severity, described bool) {
	if described && len(g.findings) == 0 {
		return // the headline said clean, the body showed the store
	}
	p.w.WriteString("\n")
	switch {
	case described:
		p.w.WriteString(p.paint(ansiBold, "findings"))
	case g.none:
		p.w.WriteString(p.paint(ansiBold, "not tied to an lvstore"))
	default:
		p.w.WriteString(p.paint(ansiBold, "lvstore "+safeText(g.label())))
		if g.lvs.UUID != "" && g.lvs.Name != "" {
			p.w.WriteString("  uuid " + safeText(g.lvs.UUID))
		}
		if g.known {
			p.w.WriteString("  " + plural(g.lvs.Lvols, "lvol", "lvols"))
			if g.lvs.Source != "" {
				p.w.WriteString("  (" + safeText(g.lvs.Source) + ")")
			}
		} else {
			p.w.WriteString("  (named only by findings)")
		}
	}
	if len(g.findings) == 0 {
		p.w.WriteString(" — " + p.paint(ansiGreen, "clean") + "\n")
		return
	}
	p.w.WriteString(" — " + countsPhrase(g.counts, true) + "\n")

	hidden := 0
	i := 0
	for _, sev := range severities {
		n := g.counts.of(sev)
		if n == 0 {
			continue
		}
		fs := g.findings[i : i+n] // findings are sorted most severe first
		i += n
		if sev < minSev {
			hidden += n
			continue
		}
		fmt.Fprintf(p.w, "  %s (%d)\n", p.paint(severityColor[sev], strings.ToUpper(sev.String())), n)
		for _, f := range fs {
			p.finding(f, sev)
		}
	}
	if hidden > 0 {
		fmt.Fprintf(p.w, "  (%s below %s not listed)\n", plural(hidden, "finding", "findings"), minSev)
	}
}

// put writes each string in turn; it saves the concatenations that would
// otherwise allocate per line.
func (p *textPrinter) put(ss ...string) {
	for _, s := range ss {
		p.w.WriteString(s)
	}
}

// spaces returns n blanks without allocating for usual widths.
func spaces(n int) string {
	const blanks = "                                "
	if n <= len(blanks) {
		return blanks[:max(n, 0)]
	}
	return strings.Repeat(" ", n)
}

func (p *textPrinter) finding(f finding.Finding, sev finding.Severity) {
	const ind = "      "
	p.put("    ", p.paint(severityColor[sev], safeText(string(f.Code))))
	if f.LvolName != "" {
		p.put("  lvol ", safeText(f.LvolName))
	}
	if f.LvolUUID != "" {
		p.put("  uuid ", safeText(f.LvolUUID))
	}
	var num [24]byte
	if f.BlobID != 0 {
		p.put("  blob 0x")
		p.w.Write(strconv.AppendUint(num[:0], f.BlobID, 16))
	}
	if f.Page != nil {
		p.put("  page ")
		p.w.Write(strconv.AppendUint(num[:0], uint64(*f.Page), 10))
	}
	p.w.WriteByte('\n')
	if f.Message != "" {
		for _, l := range lines(f.Message) {
			p.put(ind, l, "\n")
		}
	}
	if f.SPDK != finding.LoadNotApplies {
		words, ok := loadWords[f.SPDK]
		if !ok {
			words = safeText(string(f.SPDK))
		}
		p.put(ind, p.paint(ansiDim, "next load:"), " ", words, "\n")
	}
	if len(f.Evidence) > 0 {
		p.put(ind, p.paint(ansiDim, "evidence:"), "\n")
		keys := f.EvidenceKeys()
		width := 0
		for _, k := range keys {
			width = max(width, min(len(safeText(k)), 16))
		}
		for _, k := range keys {
			sk := safeText(k)
			pad := spaces(width - len(sk))
			for i, l := range lines(f.Evidence[k]) {
				if i == 0 {
					p.put(ind, "  ", sk, ":", pad, " ", l, "\n")
				} else {
					p.put(ind, "  ", spaces(len(sk)+len(pad)+2), l, "\n")
				}
			}
		}
	}
	switch {
	case f.Repair != "":
		for i, l := range lines(f.Repair) {
			if i == 0 {
				p.put(ind, p.paint(ansiBold, "repair:"), " ", l, "\n")
			} else {
				p.put(ind, "        ", l, "\n")
			}
		}
	case sev >= finding.Warning:
		p.put(ind, p.paint(ansiBold, "repair:"), " none known to lvfsck\n")
	}
}
