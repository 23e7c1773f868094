package run

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/tgtlog"
)

// Recorder is the journal as Import uses it.
type Recorder interface {
	RecordEvidence(ev ...journal.Evidence) (int, error)
}

// batchSize is how many records go to the journal in one write.
const batchSize = 512

// notable kinds are listed one by one in the output.
var notable = map[tgtlog.Kind]bool{
	tgtlog.ForcedRemoval: true, tgtlog.DeleteBusyKept: true, tgtlog.ErrorOpeningLvol: true, tgtlog.CannotCreateBdev: true,
	tgtlog.UnloadOpenBlobs: true, tgtlog.UnloadLvolsPending: true, tgtlog.UnregisterFailed: true, tgtlog.RecoveryStart: true,
}

// Import streams one input (a path, or - for stdin; gzip recognised) into
// the journal as evidence, in batches, and says what it gave. What was
// read before an error is kept.
func Import(stdin io.Reader, name string, j Recorder, loc *time.Location) (report.LogImportFile, error) {
	res := report.LogImportFile{File: name}
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
			if len(res.Notable) < report.MaxNotable {
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

// `lvfsck log import` reads spdk_tgt logs (a file or stdin, gzip
// recognised) through tgtlog and files what they say about lvols in the
// journal as evidence; `log show` prints them.
//
// ImportAll imports each of files in turn (- once at most: stdin) and sums
// up; an input that fails has its Error set, and the others go on.
func ImportAll(stdin io.Reader, files []string, j Recorder, loc *time.Location, log zerolog.Logger) report.LogImportDoc {
	var doc report.LogImportDoc
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
			_, err := io.WriteString(out, report.ShowLine(name, r))
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
