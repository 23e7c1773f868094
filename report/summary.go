// Package report renders the outcome of an lvfsck run and maps it onto an
// exit code. A check (a Summary) renders as a human report for terminals
// and cron mail, a versioned JSON document for machines, and a Prometheus
// text file for node_exporter's textfile collector; a scan, a delete and a
// repair have their own documents. Renderers are pure
// functions over a value and an io.Writer, except WritePromFile, which owns
// the atomic file replacement, and ProgressBar, which draws on a terminal.
package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/natsort"
)

// LvstoreSummary describes one lvstore the run looked at.
type LvstoreSummary struct {
	Name  string `json:"name"`
	UUID  string `json:"uuid"`
	Lvols int    `json:"lvols"` // lvols found (persisted ∪ live)
	// Source says which views saw it: "disk+live", "disk", "live", "image"...
	Source string `json:"source,omitempty"`
}

// Summary is everything one run hands to the renderers.
type Summary struct {
	Command     string // "check", "repair"...
	Version     string // lvfsck's version, for the JSON document
	Target      string // socket path or image file
	Incarnation string // target incarnation, as the spdk package renders it
	Lvstores    []LvstoreSummary
	Findings    []finding.Finding

	Started, Finished time.Time
	ScannedBytes      int64
	ScanDuration      time.Duration
	Exit              int      // the process exit code (report.Exit*)
	Notes             []string // things the operator should know about the run itself
	// DeleteSemantics is which delete semantics lvfsck has observed this
	// target show (forced, fixed, conflicting, not yet seen); nil: not said.
	DeleteSemantics *DeleteSemantics
}

// DeleteSemantics is what a busy delete does on the target, as observed.
type DeleteSemantics struct {
	Semantics string `json:"semantics"` // "forced", "fixed", "conflicting" or "not yet seen"
	From      string `json:"from"`      // what showed it
}

// Counts holds the number of findings per severity.
type Counts struct {
	Critical int `json:"critical"`
	Error    int `json:"error"`
	Warning  int `json:"warning"`
	Info     int `json:"info"`
}

// Total is the number of findings counted.
func (c Counts) Total() int { return c.Critical + c.Error + c.Warning + c.Info }

// Problems is the number of findings of warning severity or worse.
func (c Counts) Problems() int { return c.Critical + c.Error + c.Warning }

func (c *Counts) add(s finding.Severity) {
	switch clampSeverity(s) {
	case finding.Critical:
		c.Critical++
	case finding.Error:
		c.Error++
	case finding.Warning:
		c.Warning++
	default:
		c.Info++
	}
}

func (c Counts) of(s finding.Severity) int {
	switch s {
	case finding.Critical:
		return c.Critical
	case finding.Error:
		return c.Error
	case finding.Warning:
		return c.Warning
	}
	return c.Info
}

// CountFindings counts fs by severity. Severities outside the known range
// count as the nearest known one, so no finding goes uncounted.
func CountFindings(fs []finding.Finding) Counts {
	var c Counts
	for _, f := range fs {
		c.add(f.Severity)
	}
	return c
}

// severities, most severe first: the order every renderer uses.
var severities = []finding.Severity{finding.Critical, finding.Error, finding.Warning, finding.Info}

// clampSeverity maps an out-of-range severity to the nearest known one.
func clampSeverity(s finding.Severity) finding.Severity {
	return max(finding.Info, min(s, finding.Critical))
}

// Status is a one-word verdict: "incomplete" when the run did not finish
// (operational error, usage, cancelled), else "errors" when any finding is an
// error or worse, "warnings" when any is a warning, "clean" otherwise.
func (s Summary) Status() string {
	if !RunCompleted(s.Exit) {
		return "incomplete"
	}
	c := CountFindings(s.Findings)
	switch {
	case c.Critical+c.Error > 0:
		return "errors"
	case c.Warning > 0:
		return "warnings"
	}
	return "clean"
}

// compareFindings is the one order every renderer lists findings in: most
// severe first, then by code, lvstore, lvol, blob, page, and message, so
// output does not depend on the order checks ran in.
func compareFindings(a, b finding.Finding) int {
	if c := cmp.Compare(clampSeverity(b.Severity), clampSeverity(a.Severity)); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(a.Code, b.Code),
		natsort.Compare(a.Lvstore, b.Lvstore),
		cmp.Compare(a.LvstoreUUID, b.LvstoreUUID),
		natsort.Compare(a.LvolName, b.LvolName),
		cmp.Compare(a.BlobID, b.BlobID),
		cmp.Compare(pageKey(a), pageKey(b)),
		cmp.Compare(a.LvolUUID, b.LvolUUID),
		cmp.Compare(a.Message, b.Message),
	)
}

func pageKey(f finding.Finding) int64 {
	if f.Page == nil {
		return -1
	}
	return int64(*f.Page)
}

// sortedFindings returns a sorted copy; callers' slices are never reordered.
func sortedFindings(fs []finding.Finding) []finding.Finding {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, compareFindings)
	return out
}

// group is one lvstore's share of the report.
type group struct {
	lvs      LvstoreSummary
	known    bool // listed in Summary.Lvstores (else only named by findings)
	none     bool // the group of findings tied to no lvstore
	findings []finding.Finding
	counts   Counts
}

// label names the lvstore for humans: its name, else its uuid.
func (g *group) label() string {
	if g.lvs.Name != "" {
		return g.lvs.Name
	}
	return g.lvs.UUID
}

// resolver maps a finding to its lvstore's uuid, filling in the uuid from
// the summary when the producer only knew the name.
type resolver struct {
	byUUID map[string]int
	byName map[string]int // -1 when the name is ambiguous
	lvs    []LvstoreSummary
}

func newResolver(lvs []LvstoreSummary) *resolver {
	r := &resolver{byUUID: map[string]int{}, byName: map[string]int{}, lvs: lvs}
	for i, l := range lvs {
		if l.UUID != "" {
			if _, dup := r.byUUID[l.UUID]; !dup {
				r.byUUID[l.UUID] = i
			}
		}
		if l.Name != "" {
			if _, dup := r.byName[l.Name]; dup {
				r.byName[l.Name] = -1
			} else {
				r.byName[l.Name] = i
			}
		}
	}
	return r
}

// index returns the summary lvstore a finding belongs to, or -1.
func (r *resolver) index(f finding.Finding) int {
	if f.LvstoreUUID != "" {
		if i, ok := r.byUUID[f.LvstoreUUID]; ok {
			return i
		}
		return -1
	}
	if i, ok := r.byName[f.Lvstore]; ok && f.Lvstore != "" {
		return i
	}
	return -1
}

// uuid returns the lvstore uuid a finding is about, "" when unknown.
func (r *resolver) uuid(f finding.Finding) string {
	if f.LvstoreUUID != "" {
		return f.LvstoreUUID
	}
	if i := r.index(f); i >= 0 {
		return r.lvs[i].UUID
	}
	return ""
}

// groups splits the findings by lvstore. Lvstores of the summary come first
// in name order (clean ones included), then lvstores only findings name, and
// findings tied to no lvstore last. It also returns all findings sorted
// (a copy), which the JSON document lists.
func groups(s Summary) ([]*group, []finding.Finding) {
	r := newResolver(s.Lvstores)
	known := make([]*group, len(s.Lvstores))
	for i, l := range s.Lvstores {
		known[i] = &group{lvs: l, known: true}
	}
	extra := map[string]*group{}
	var none *group
	sorted := sortedFindings(s.Findings)
	for _, f := range sorted {
		var g *group
		switch i := r.index(f); {
		case i >= 0:
			g = known[i]
		case f.LvstoreUUID == "" && f.Lvstore == "":
			if none == nil {
				none = &group{none: true}
			}
			g = none
		default:
			key := "u:" + f.LvstoreUUID
			if f.LvstoreUUID == "" {
				key = "n:" + f.Lvstore
			}
			g = extra[key]
			if g == nil {
				g = &group{lvs: LvstoreSummary{Name: f.Lvstore, UUID: f.LvstoreUUID}}
				extra[key] = g
			}
		}
		g.findings = append(g.findings, f)
		g.counts.add(f.Severity)
	}
	out := make([]*group, 0, len(known)+len(extra)+1)
	out = append(out, known...)
	for _, g := range extra {
		out = append(out, g)
	}
	slices.SortStableFunc(out, func(a, b *group) int {
		if a.known != b.known {
			if a.known {
				return -1
			}
			return 1
		}
		return cmp.Or(natsort.Compare(a.lvs.Name, b.lvs.Name), cmp.Compare(a.lvs.UUID, b.lvs.UUID))
	})
	if none != nil {
		out = append(out, none)
	}
	return out, sorted
}
