// Package logimport reads spdk_tgt logs (a file or stdin, gzip
// recognised) through tgtlog and files what they say about lvols in the
// journal as evidence; it also renders what an import or a show found.
package logimport

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

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/tgtlog"
)

// Schema names the JSON document of `lvfsck log import --json`.
const Schema = "lvfsck.log-import/v1"

// Recorder is the journal as Import uses it.
type Recorder interface {
	RecordEvidence(ev ...journal.Evidence) (int, error)
}

// batchSize is how many records go to the journal in one write.
const batchSize = 512

// File is what one input gave.
type File struct {
	File   string       `json:"file"`
	Stats  tgtlog.Stats `json:"stats"`
	New    int          `json:"new"`   // lvol evidence the journal did not have
	Known  int          `json:"known"` // lvol evidence already imported
	NoLvol int          `json:"not_about_an_lvol"`
	// Notable lists the records worth a look (forced removals, lvols that
	// got no bdev, unloads with open blobs...), new or not.
	Notable        []tgtlog.Record `json:"notable,omitempty"`
	NotableOmitted int             `json:"notable_omitted,omitempty"` // beyond MaxNotable
	Error          string          `json:"error,omitempty"`
}

// Doc is the Schema document of `lvfsck log import --json`.
type Doc struct {
	Schema   string `json:"schema"`
	StateDir string `json:"state_dir"`
	Files    []File `json:"files"`
	New      int    `json:"new"`
	Known    int    `json:"known"`
}

// notable kinds are listed one by one in the output.
var notable = map[tgtlog.Kind]bool{
	tgtlog.ForcedRemoval: true, tgtlog.DeleteBusyKept: true, tgtlog.ErrorOpeningLvol: true, tgtlog.CannotCreateBdev: true,
	tgtlog.UnloadOpenBlobs: true, tgtlog.UnloadLvolsPending: true, tgtlog.UnregisterFailed: true, tgtlog.RecoveryStart: true,
}

// MaxNotable bounds the notable records kept per file.
const MaxNotable = 100

// Failed counts the inputs that ended in an error.
func (d Doc) Failed() int {
	n := 0
	for _, f := range d.Files {
		if f.Error != "" {
			n++
		}
	}
	return n
}

// Import streams one input (a path, or - for stdin; gzip recognised) into
// the journal as evidence, in batches, and says what it gave. What was
// read before an error is kept.
func Import(stdin io.Reader, name string, j Recorder, loc *time.Location) (File, error) {
	res := File{File: name}
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
	src = SourceName(src)
	p := tgtlog.NewParser(r, tgtlog.Options{Location: loc})
	batch := make([]journal.Evidence, 0, batchSize)
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
			if len(res.Notable) < MaxNotable {
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
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				res.Stats = p.Stats()
				return res, err
			}
		}
	}
	res.Stats = p.Stats()
	return res, flush()
}

// MaxSource bounds the file name stored with each piece of evidence (the
// journal refuses identifiers over 512 bytes); a longer path keeps its end.
const MaxSource = 400

// SourceName is the file name stored with each piece of evidence, at most
// MaxSource bytes (plus "...").
func SourceName(p string) string {
	if len(p) <= MaxSource {
		return p
	}
	i := len(p) - MaxSource
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

// WriteText writes one paragraph per input and a total line.
func WriteText(w io.Writer, doc Doc) error {
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
			fmt.Fprintf(&b, "  ... and %d more (--json lists the first %d)\n", f.NotableOmitted, MaxNotable)
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

// ShowLine is the line `lvfsck log show` prints for a record of file name:
// tab-separated columns (for a tabwriter), the free-text subject last.
func ShowLine(name string, r tgtlog.Record) string {
	return fmt.Sprintf("%s:%d\t%s\t%s\t%s%s\n", report.Printable(name), r.Line, report.Timestamp(r.At), r.Kind,
		strings.ReplaceAll(report.Printable(recordSubject(r)), "\t", " "), showVia(r))
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

// EachRecord opens one input (a path, or - for stdin; gzip recognised)
// and calls fn for each record, in line order.
func EachRecord(stdin io.Reader, name string, o tgtlog.Options, fn func(tgtlog.Record) error) error {
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

// ImportAll imports each of files in turn (- once at most: stdin) and sums
// up; an input that fails has its Error set, and the others go on.
func ImportAll(stdin io.Reader, files []string, j Recorder, loc *time.Location, log zerolog.Logger) Doc {
	var doc Doc
	for _, f := range files {
		res, err := Import(stdin, f, j, loc)
		if err != nil {
			res.Error = err.Error()
			log.Debug().Err(err).Str("file", f).Msg("log import failed") // reported in the output
		}
		log.Info().Str("file", f).Int("lines", res.Stats.Lines).Int("new", res.New).Int("known", res.Known).Msg("log imported")
		doc.Files = append(doc.Files, res)
		doc.New += res.New
		doc.Known += res.Known
	}
	return doc
}

// Show writes every record of files to w, one a line: aligned text
// (ShowLine), or JSON objects with a "file" field. An input that fails is
// passed to failed and the others go on; the error is w's.
func Show(w io.Writer, stdin io.Reader, files []string, o tgtlog.Options, asJSON bool, failed func(name string, err error)) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	// Aligned columns; the last one is free text, so it ends the line
	// without a tab.
	out := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	for _, name := range files {
		err := EachRecord(stdin, name, o, func(r tgtlog.Record) error {
			if asJSON {
				return enc.Encode(struct {
					File string `json:"file"`
					tgtlog.Record
				}{name, r})
			}
			_, err := io.WriteString(out, ShowLine(name, r))
			return err
		})
		if err != nil {
			failed(name, err)
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}
