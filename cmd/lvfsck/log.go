package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
	// --tz must work in the minimal containers spdk_tgt runs in, which
	// often have no zoneinfo.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/tgtlog"
)

// LogImportSchema names the JSON document of `lvfsck log import --json`.
const LogImportSchema = "lvfsck.log-import/v1"

// importBatch is how many records go to the journal in one write.
const importBatch = 512

type logOpts struct {
	json     bool
	tz       string
	stateDir *string
}

func init() {
	subcommands = append(subcommands, newLogCmd)
}

func newLogCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "read spdk_tgt logs",
		Args:  cobra.ArbitraryArgs,
		// Without a known subcommand: a usage error, not help and exit 0.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for \"lvfsck log\"\n%s", args[0], cmd.UsageString())
			}
			return usageError("lvfsck log needs a subcommand\n%s", cmd.UsageString())
		},
	}
	cmd.AddCommand(newLogImportCmd(g), newLogShowCmd(g))
	return cmd
}

type logShowOpts struct {
	json    bool
	context bool
	tz      string
}

func newLogShowCmd(g *globalOpts) *cobra.Command {
	o := &logShowOpts{}
	cmd := &cobra.Command{
		Use:   "show FILE...",
		Short: "print what spdk_tgt logs say, without a journal (offline forensics)",
		Long: `show reads spdk_tgt logs (FILE, or - for stdin; gzip is recognised) and prints
every line it recognises, one a line, with the lvol it concerns and, for a
forced removal, how that lvol was found. Nothing is recorded.

Exit: 0, 8 a file could not be read, 16 usage.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogShow(cmd, g, o, args)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "one JSON object a line (tgtlog records, with a \"file\" field)")
	cmd.Flags().BoolVar(&o.context, "context", false, "also the lines used only to attribute others (lvol closed, ...)")
	cmd.Flags().StringVar(&o.tz, "tz", "UTC", "time zone the log's timestamps were written in (IANA name or Local)")
	return cmd
}

func runLogShow(cmd *cobra.Command, g *globalOpts, o *logShowOpts, files []string) error {
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return usageError("--tz %q: %v", o.tz, err)
	}
	bw := bufio.NewWriter(cmd.OutOrStdout())
	enc := json.NewEncoder(bw)
	// Aligned columns; the last one is free text, so it ends the line
	// without a tab.
	out := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	var failed int
	for _, name := range files {
		err := eachRecord(cmd.InOrStdin(), name, tgtlog.Options{Location: loc, Context: o.context}, func(r tgtlog.Record) error {
			if o.json {
				return enc.Encode(struct {
					File string `json:"file"`
					tgtlog.Record
				}{name, r})
			}
			_, err := fmt.Fprintf(out, "%s:%d\t%s\t%s\t%s%s\n", report.Printable(name), r.Line, report.Timestamp(r.At), r.Kind,
				strings.ReplaceAll(report.Printable(recordSubject(r)), "\t", " "), showVia(r))
			return err
		})
		if err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "lvfsck: %s: %v\n", report.Printable(name), err)
			g.log.Debug().Err(err).Str("file", name).Msg("log show failed")
		}
	}
	err = out.Flush()
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("write output: %w", err))
	}
	if failed > 0 {
		return exitCode(report.ExitOperational, fmt.Errorf("log show: %d of %d inputs failed", failed, len(files)))
	}
	return nil
}

// showVia adds how a record's lvol was found, or the forced removal it
// came back from.
func showVia(r tgtlog.Record) string {
	if s := afterForced(r); s != "" {
		return s
	}
	if r.Via != "" && r.Kind == tgtlog.ForcedRemoval {
		return "  (" + r.Via + ")"
	}
	return ""
}

// eachRecord opens one input (a path, or - for stdin; gzip recognised)
// and calls fn for each record, in line order.
func eachRecord(stdin io.Reader, name string, o tgtlog.Options, fn func(tgtlog.Record) error) error {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		defer f.Close()
		r = f
	}
	r, err := maybeGunzip(r)
	if err != nil {
		return err
	}
	p := tgtlog.NewParser(r, o)
	for {
		rec, err := p.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func newLogImportCmd(g *globalOpts) *cobra.Command {
	o := &logOpts{}
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "record what spdk_tgt logs say about lvols as evidence in the journal",
		Long: `import reads spdk_tgt logs (FILE, or - for stdin; gzip is recognised) and
records in the journal every line that is evidence about an lvol: forced
removals ("Could not remove blob on lvol gracefully - forced removal", with
the lvol taken from the "Lvol <uuid> closed" line the delete logged just
before), refused deletes, lvols that got no bdev at load ("Error opening
lvol", "Cannot create bdev for lvol", "Bdev name ... already exists"), clones
that lost their parent's name, lvols loaded and deleted. check uses them as
evidence; history shows them.

Importing the same lines again adds nothing. Lines about lvstores or the
target only (unloads, recovery, a target that could not stop) are counted,
not stored: the journal keeps evidence per lvol.

spdk_tgt writes its local time without a zone; --tz says which zone that was
(default UTC).

Exit: 0 imported, 8 a file or the journal could not be read or written, 16 usage.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogImport(cmd, g, o, args)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "write the "+LogImportSchema+" JSON document")
	cmd.Flags().StringVar(&o.tz, "tz", "UTC", "time zone the log's timestamps were written in (IANA name or Local)")
	o.stateDir = addStateDirFlag(cmd)
	return cmd
}

// importFile is what one input gave.
type importFile struct {
	File   string       `json:"file"`
	Stats  tgtlog.Stats `json:"stats"`
	New    int          `json:"new"`   // lvol evidence the journal did not have
	Known  int          `json:"known"` // lvol evidence already imported
	NoLvol int          `json:"not_about_an_lvol"`
	// Notable lists the records worth a look (forced removals, lvols that
	// got no bdev, unloads with open blobs...), new or not.
	Notable        []tgtlog.Record `json:"notable,omitempty"`
	NotableOmitted int             `json:"notable_omitted,omitempty"` // beyond maxNotable
	Error          string          `json:"error,omitempty"`
}

type importDoc struct {
	Schema   string       `json:"schema"`
	StateDir string       `json:"state_dir"`
	Files    []importFile `json:"files"`
	New      int          `json:"new"`
	Known    int          `json:"known"`
}

// notable kinds are listed one by one in the output.
var notable = map[tgtlog.Kind]bool{
	tgtlog.ForcedRemoval: true, tgtlog.ErrorOpeningLvol: true, tgtlog.CannotCreateBdev: true,
	tgtlog.UnloadOpenBlobs: true, tgtlog.UnregisterFailed: true, tgtlog.RecoveryStart: true,
}

// maxNotable bounds the notable records kept per file.
const maxNotable = 100

func runLogImport(cmd *cobra.Command, g *globalOpts, o *logOpts, files []string) error {
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return usageError("--tz %q: %v", o.tz, err)
	}
	stdin := 0
	for _, f := range files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return usageError("- (stdin) given %d times", stdin)
	}
	j, err := openJournal(g, *o.stateDir)
	if err != nil {
		return err
	}
	defer func() {
		if err := j.Close(); err != nil {
			g.log.Error().Err(err).Msg("close journal")
		}
	}()
	doc := importDoc{Schema: LogImportSchema, StateDir: j.Dir()}
	var failed error
	for _, f := range files {
		res, err := importOne(cmd.InOrStdin(), f, j, loc)
		if err != nil {
			res.Error = err.Error()
			failed = errors.Join(failed, err)
			g.log.Debug().Err(err).Str("file", f).Msg("log import failed") // reported in the output
		}
		g.log.Info().Str("file", f).Int("lines", res.Stats.Lines).Int("new", res.New).Int("known", res.Known).Msg("log imported")
		doc.Files = append(doc.Files, res)
		doc.New += res.New
		doc.Known += res.Known
	}
	out := cmd.OutOrStdout()
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(doc)
	} else {
		err = writeImportText(out, doc)
	}
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("write output: %w", err))
	}
	if failed != nil {
		// Each error is in the output already; the exit code says so.
		return exitCode(report.ExitOperational, fmt.Errorf("log import: %d of %d inputs failed", countErrs(doc.Files), len(files)))
	}
	return nil
}

func countErrs(fs []importFile) int {
	n := 0
	for _, f := range fs {
		if f.Error != "" {
			n++
		}
	}
	return n
}

// importOne streams one input into the journal, in batches.
func importOne(stdin io.Reader, name string, j *journal.Journal, loc *time.Location) (importFile, error) {
	res := importFile{File: name}
	src := name
	var r io.Reader
	if name == "-" {
		src, r = "stdin", stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return res, fmt.Errorf("open log: %w", err)
		}
		defer f.Close()
		r = f
	}
	r, err := maybeGunzip(r)
	if err != nil {
		return res, fmt.Errorf("read %s: %w", src, err)
	}
	src = sourceName(src)
	p := tgtlog.NewParser(r, tgtlog.Options{Location: loc})
	batch := make([]journal.Evidence, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		added, err := j.RecordEvidence(batch...)
		if err != nil {
			return fmt.Errorf("record evidence from %s: %w", src, err)
		}
		res.New += added
		res.Known += len(batch) - added
		batch = batch[:0]
		return nil
	}
	for {
		rec, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.Stats = p.Stats()
			// Keep what was read before the error.
			return res, errors.Join(fmt.Errorf("read %s: %w", src, err), flush())
		}
		if notable[rec.Kind] || rec.ForcedLine > 0 {
			if len(res.Notable) < maxNotable {
				res.Notable = append(res.Notable, rec)
			} else {
				res.NotableOmitted++
			}
		}
		ev, ok := evidenceOf(rec, src)
		if !ok {
			res.NoLvol++
			continue
		}
		batch = append(batch, ev)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				res.Stats = p.Stats()
				return res, err
			}
		}
	}
	res.Stats = p.Stats()
	return res, flush()
}

// maxSource bounds the file name stored with each piece of evidence (the
// journal refuses identifiers over 512 bytes); a longer path keeps its end.
const maxSource = 400

func sourceName(p string) string {
	if len(p) <= maxSource {
		return p
	}
	i := len(p) - maxSource
	for i < len(p) && !utf8.RuneStart(p[i]) {
		i++
	}
	return "..." + p[i:]
}

// evidenceOf converts a record into journal evidence; ok is false when it
// names no lvol the journal can index (by uuid, alias or name).
func evidenceOf(r tgtlog.Record, src string) (journal.Evidence, bool) {
	name := r.Alias
	if name == "" {
		name = r.LvolName
	}
	if r.LvolUUID == "" && name == "" {
		return journal.Evidence{}, false
	}
	return journal.Evidence{
		At: r.At, Source: src, Line: r.Line, Kind: string(r.Kind),
		LvolUUID: r.LvolUUID, LvolName: name, Text: r.Text,
	}, true
}

// maybeGunzip returns r, decompressed when it starts with gzip's magic.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

func writeImportText(w io.Writer, doc importDoc) error {
	var b strings.Builder
	for _, f := range doc.Files {
		st := f.Stats
		fmt.Fprintf(&b, "%s: %d lines, %d records: %d new, %d already known", report.Printable(f.File), st.Lines, st.Records, f.New, f.Known)
		if f.NoLvol > 0 {
			fmt.Fprintf(&b, "; %d about lvstores or the target (not stored)", f.NoLvol)
		}
		b.WriteString("\n")
		if n := st.Overlong + st.Binary; n > 0 {
			fmt.Fprintf(&b, "  skipped %d lines: %d too long, %d not text\n", n, st.Overlong, st.Binary)
		}
		if st.Unattributed > 0 {
			fmt.Fprintf(&b, "  %d forced removals name no lvol that the log can tell (not stored)\n", st.Unattributed)
		}
		for _, r := range f.Notable {
			fmt.Fprintf(&b, "  line %-6d %s  %-27s  %s%s\n", r.Line, report.Timestamp(r.At), r.Kind, report.Printable(recordSubject(r)), afterForced(r))
		}
		if f.NotableOmitted > 0 {
			fmt.Fprintf(&b, "  ... and %d more (--json lists the first %d)\n", f.NotableOmitted, maxNotable)
		}
		if f.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", f.Error)
		}
	}
	fmt.Fprintf(&b, "%d new, %d already known (journal %s)\n", doc.New, doc.Known, report.Printable(doc.StateDir))
	_, err := io.WriteString(w, b.String())
	return err
}

// afterForced notes an lvol that a forced removal had dropped, seen again.
func afterForced(r tgtlog.Record) string {
	switch {
	case r.ForcedLine == 0:
		return ""
	case r.Kind == tgtlog.LvolLoaded:
		return fmt.Sprintf("  back from disk after its forced removal on line %d", r.ForcedLine)
	case r.Kind == tgtlog.LvolDeleted:
		return fmt.Sprintf("  deleted for real after its forced removal on line %d", r.ForcedLine)
	}
	return ""
}

// recordSubject names what a record is about, for one line of output.
func recordSubject(r tgtlog.Record) string {
	var parts []string
	if r.Alias != "" {
		parts = append(parts, r.Alias)
	} else if r.LvolName != "" {
		parts = append(parts, r.LvolName)
	}
	if r.LvolUUID != "" {
		parts = append(parts, r.LvolUUID)
	}
	if len(r.Candidates) > 0 {
		parts = append(parts, "one of "+strings.Join(r.Candidates, ", "))
	}
	if r.Lvstore != "" && r.Alias == "" {
		parts = append(parts, "lvstore "+r.Lvstore)
	}
	if r.Bdev != "" {
		parts = append(parts, "bdev "+r.Bdev)
	}
	if len(parts) == 0 {
		return r.Text
	}
	return strings.Join(parts, " ")
}
