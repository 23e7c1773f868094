package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
)

// ScanSchema names the JSON document of `lvfsck scan --json`
// (docs/scan-json.md). Fields are only ever added under this name.
const ScanSchema = "lvfsck.scan/v1"

// progressMinPages is the md region size from which a terminal gets a
// progress bar: below it the scan is over before a bar would be read.
const progressMinPages = 4096

type scanOpts struct {
	mode    string
	json    bool
	tmpDir  string
	noColor bool
}

func init() {
	subcommands = append(subcommands, newScanCmd)
}

func newScanCmd(g *globalOpts) *cobra.Command {
	o := &scanOpts{}
	cmd := &cobra.Command{
		Use:   "scan PATH",
		Short: "decode and check the lvstore persisted on a device or image (read-only)",
		Long: `scan reads the SPDK blobstore on PATH (a block device, an image file, or a
gzip-compressed image) without SPDK, decodes every blob's metadata, and
checks it like fsck checks a file system. Every finding says what spdk_tgt
will do at its next load: load, load degraded, skip the lvol, refuse the
lvstore, or crash.

Mode "auto" follows the super block: a clean store is read through its
masks, as SPDK's clean load does; a dirty one (clean=0, e.g. held by a
running spdk_tgt) is walked page by page, as SPDK's recovery does — what
would load if the target restarted now.

Exit: 0 clean, 4 findings of error severity or worse, 8 cannot read, 16 usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", "auto", "auto, clean or recovery")
	f.BoolVar(&o.json, "json", false, "write the "+ScanSchema+" JSON document instead of the human report")
	f.StringVar(&o.tmpDir, "tmpdir", "", "where a gzip image is decompressed (default: $TMPDIR)")
	f.BoolVar(&o.noColor, "no-color", false, "no ANSI colors in the human report")
	return cmd
}

func runScan(cmd *cobra.Command, g *globalOpts, o *scanOpts, path string) error {
	mode := scanner.Mode(o.mode)
	switch mode {
	case scanner.ModeAuto, scanner.ModeClean, scanner.ModeRecovery:
	default:
		return usageError("--mode %q: want auto, clean or recovery", o.mode)
	}
	// cobra gives every command a context; ^C cancels the scan (exit 32)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := scanner.Options{Mode: mode}
	bar := newProgressBar(cmd.ErrOrStderr())
	if bar != nil {
		opts.Progress = bar.update
	}
	v, err := scanner.ScanPath(ctx, path, opts, o.tmpDir)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		if ctx.Err() != nil {
			return exitCode(report.ExitCancelled, fmt.Errorf("scan %s: %w", path, err))
		}
		return exitCode(report.ExitOperational, fmt.Errorf("scan %s: %w", path, err))
	}
	if v.Buffered {
		g.log.Warn().Str("device", path).Msg("O_DIRECT refused by the file system: read buffered, may see stale page-cache data of a running target")
	}
	g.log.Info().Str("device", path).Str("mode", string(v.Mode)).Int("blobs", len(v.Blobs)).
		Int("findings", len(v.Findings)).Dur("took", v.Stats.Duration).Msg("scan done")
	code := report.ExitFor(v.Findings)
	out := cmd.OutOrStdout()
	if o.json {
		err = writeScanJSON(out, v, code)
	} else {
		color := !o.noColor && os.Getenv("NO_COLOR") == "" && isTerminal(out)
		err = writeScanText(out, v, code, color)
	}
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// scanDoc is the --json document: the schema, the exit code, and the view.
type scanDoc struct {
	Schema        string `json:"schema"`
	LvfsckVersion string `json:"lvfsck_version"`
	ExitCode      int    `json:"exit_code"`
	*scanner.View
}

func writeScanJSON(w io.Writer, v *scanner.View, code int) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(scanDoc{Schema: ScanSchema, LvfsckVersion: version, ExitCode: code, View: v}); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// printable quotes data-derived names that would not print safely.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd {
			return strconv.Quote(s)
		}
	}
	if len(s) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

var loadWords = map[finding.LoadOutcome]string{
	finding.LoadOK:       "loads",
	finding.LoadDegraded: "loads degraded",
	finding.LoadSkip:     "does NOT load",
	finding.LoadRefuse:   "REFUSES the lvstore",
	finding.LoadCrash:    "CRASHES spdk_tgt",
}

func writeScanText(w io.Writer, v *scanner.View, code int, color bool) error {
	var b strings.Builder
	l := v.Lvstore
	name := l.Name
	if name == "" {
		name = "(unknown)"
	}
	uuid := l.UUID
	if uuid == "" {
		uuid = "(unknown)"
	}
	fmt.Fprintf(&b, "lvstore %s  uuid %s\n", printable(name), printable(uuid))
	fmt.Fprintf(&b, "  device    %s (%s)\n", printable(v.Device), report.Bytes(uint64(max(v.Size, 0))))
	if v.Mode != "" {
		state := "dirty (clean=0)"
		if l.Clean {
			state = "clean"
		}
		fmt.Fprintf(&b, "  store     %s, version %d, scanned in %s mode\n", state, l.Version, v.Mode)
		fmt.Fprintf(&b, "  clusters  %d × %s (%d for metadata); md region %d pages from page %d\n",
			l.TotalClusters, report.Bytes(uint64(l.ClusterSize)), l.MDClusters, l.MDLen, l.MDStart)
	} else {
		b.WriteString("  store     super block unusable: md region not scanned\n")
	}
	fmt.Fprintf(&b, "  next load spdk_tgt %s\n", loadWords[l.Loads])
	if v.Buffered {
		b.WriteString("  note      O_DIRECT refused: read buffered\n")
	}
	writeTree(&b, v)
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	s := report.Summary{
		Command:      "scan",
		Version:      version,
		Target:       v.Device,
		Findings:     v.Findings,
		ScannedBytes: int64(v.Stats.BytesRead),
		ScanDuration: v.Stats.Duration,
		Exit:         code,
	}
	if l.Name != "" || l.UUID != "" {
		n := 0
		for _, bl := range v.Blobs {
			if bl.IsLvol {
				n++
			}
		}
		s.Lvstores = []report.LvstoreSummary{{Name: l.Name, UUID: l.UUID, Lvols: n, Source: "disk"}}
	}
	if v.Buffered {
		s.Notes = append(s.Notes, "O_DIRECT refused by the file system: read buffered")
	}
	return report.WriteText(w, s, report.TextOptions{Color: color})
}

// writeTree lists the lvols, each snapshot with its clones beneath.
func writeTree(b *strings.Builder, v *scanner.View) {
	byID := map[uint64]scanner.BlobInfo{}
	var lvols []scanner.BlobInfo
	for _, bl := range v.Blobs {
		byID[bl.ID] = bl
		if bl.IsLvol {
			lvols = append(lvols, bl)
		}
	}
	if len(lvols) == 0 {
		b.WriteString("\nno lvols\n")
		return
	}
	var alloc uint64
	for _, bl := range v.Blobs {
		alloc += bl.AllocatedClusters
	}
	fmt.Fprintf(b, "\nlvols (%d, %s allocated)\n", len(lvols), report.Bytes(alloc*uint64(v.Lvstore.ClusterSize)))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "  NAME\tSIZE\tALLOCATED\tKIND\tBLOB\tUUID\tNEXT LOAD")
	// roots: lvols whose parent is not a listed lvol
	isChild := map[uint64]bool{}
	for _, bl := range lvols {
		if p, ok := byID[bl.Parent]; ok && bl.Parent != 0 && p.IsLvol {
			isChild[bl.ID] = true
		}
	}
	children := func(id uint64) []scanner.BlobInfo {
		var out []scanner.BlobInfo
		for _, bl := range lvols {
			if bl.Parent == id && isChild[bl.ID] {
				out = append(out, bl)
			}
		}
		return out
	}
	sortLvols := func(s []scanner.BlobInfo) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].LvolName != s[j].LvolName {
				return s[i].LvolName < s[j].LvolName
			}
			return s[i].ID < s[j].ID
		})
	}
	var walk func(bl scanner.BlobInfo, prefix, branch string, depth int)
	walk = func(bl scanner.BlobInfo, prefix, branch string, depth int) {
		fmt.Fprintf(tw, "  %s%s\n", prefix+branch, lvolLine(bl, v.Lvstore.ClusterSize))
		kids := children(bl.ID)
		sortLvols(kids)
		if depth > 64 {
			return // bounded: a parent cycle is a finding, not a tree
		}
		next := prefix
		switch branch {
		case "├─ ":
			next += "│  "
		case "└─ ":
			next += "   "
		}
		for i, k := range kids {
			br := "├─ "
			if i == len(kids)-1 {
				br = "└─ "
			}
			walk(k, next, br, depth+1)
		}
	}
	var roots []scanner.BlobInfo
	for _, bl := range lvols {
		if !isChild[bl.ID] {
			roots = append(roots, bl)
		}
	}
	sortLvols(roots)
	for _, r := range roots {
		walk(r, "", "", 0)
	}
}

func lvolLine(bl scanner.BlobInfo, clusterSize uint32) string {
	var tags []string
	if bl.Thin {
		tags = append(tags, "thin")
	} else {
		tags = append(tags, "thick")
	}
	if bl.ReadOnly {
		tags = append(tags, "ro")
	}
	if bl.IsSnapshot {
		tags = append(tags, "snapshot")
	}
	if bl.Parent != 0 {
		tags = append(tags, "clone")
	}
	if bl.ExternalSnapshot != "" {
		tags = append(tags, "esnap-clone of "+printable(bl.ExternalSnapshot))
	}
	uuid := printable(bl.LvolUUID)
	if uuid == "" {
		uuid = "-"
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%#x\t%s\t%s",
		printable(bl.LvolName), report.Bytes(bl.SizeBytes), report.Bytes(bl.AllocatedClusters*uint64(clusterSize)),
		strings.Join(tags, " "), bl.ID, uuid, loadWords[bl.Loads])
}

// progressBar draws md pages done on a terminal, at most ten times a second.
type progressBar struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
	on   bool
}

func newProgressBar(w io.Writer) *progressBar {
	if !isTerminal(w) {
		return nil
	}
	return &progressBar{w: w}
}

func (p *progressBar) update(done, total uint64) {
	if total < progressMinPages {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.on = now, true
	const width = 30
	fill := int(done * width / total)
	fmt.Fprintf(p.w, "\rscanning md region [%s%s] %3d%% %d/%d pages", strings.Repeat("#", fill), strings.Repeat(" ", width-fill), done*100/total, done, total)
}

func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
