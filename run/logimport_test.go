package run

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/tgtlog"
)

const fixture = "../testdata/fixtures/notify.spdk_tgt.log"

// memJournal stands in for the journal: it dedups as the journal does (by
// source and line) and can fail on demand.
type memJournal struct {
	seen   map[string]bool
	writes int
	err    error
}

func (m *memJournal) RecordEvidence(evs ...journal.Evidence) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	m.writes++
	n := 0
	for _, e := range evs {
		k := fmt.Sprint(e.Source, "\x00", e.Line, e.Kind)
		if !m.seen[k] {
			m.seen[k] = true
			n++
		}
	}
	return n, nil
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestImport(t *testing.T) {
	raw, err := os.ReadFile(fixture)
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"plain", raw},
		{"gzip", gz(t, raw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &memJournal{}
			f, err := Import(bytes.NewReader(tc.input), "-", j, time.UTC)
			require.NoError(t, err)
			require.Equal(t, 6, f.New, "the fixture's lvol evidence")
			require.Zero(t, f.Known)
			require.Positive(t, f.NoLvol)
			require.NotEmpty(t, f.Notable)
			again, err := Import(bytes.NewReader(tc.input), "-", j, time.UTC)
			require.NoError(t, err)
			require.Equal(t, 0, again.New)
			require.Equal(t, 6, again.Known, "importing again adds nothing")
		})
	}
}

func TestImportErrors(t *testing.T) {
	_, err := Import(nil, "/nonexistent/spdk_tgt.log", &memJournal{}, time.UTC)
	require.ErrorContains(t, err, "open log")

	boom := errors.New("disk full")
	raw, err := os.ReadFile(fixture)
	require.NoError(t, err)
	_, err = Import(bytes.NewReader(raw), "-", &memJournal{err: boom}, time.UTC)
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "record evidence from stdin")

	// A truncated gzip stream: what was read is kept, the error says so.
	z := gz(t, raw)
	_, err = Import(bytes.NewReader(z[:len(z)/2]), "-", &memJournal{}, time.UTC)
	require.Error(t, err)
}

// A log with more lvol evidence than one batch is written in several.
func TestImportBatches(t *testing.T) {
	var b strings.Builder
	for i := 0; i < batchSize+3; i++ {
		b.WriteString("[2026-11-26 08:57:00.000001] lvol.c:1059:lvol_close_blob_cb: *INFO*: Lvol 877aaf96-4cfd-4d02-85f9-")
		b.WriteString(strings.Repeat("0", 8))
		b.WriteString(string(rune('a'+i%6)) + string(rune('a'+i/6%6)) + string(rune('a'+i/36%6)) + string(rune('a'+i/216%6)))
		b.WriteString(" closed\n")
		b.WriteString("[2026-11-26 08:57:00.000002] lvol.c:1084:lvol_delete_blob_cb: *ERROR*: Could not remove blob on lvol gracefully - forced removal\n")
	}
	j := &memJournal{}
	f, err := Import(strings.NewReader(b.String()), "-", j, time.UTC)
	require.NoError(t, err)
	require.Equal(t, 2, j.writes)
	require.Equal(t, report.MaxNotable, len(f.Notable))
	require.Equal(t, batchSize+3-report.MaxNotable, f.NotableOmitted)
}

func TestEvidenceOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rec      tgtlog.Record
		ok       bool
		wantName string
	}{
		{"uuid only", tgtlog.Record{LvolUUID: "u"}, true, ""},
		{"alias wins over name", tgtlog.Record{Alias: "lvs/a", LvolName: "a"}, true, "lvs/a"},
		{"bare name", tgtlog.Record{LvolName: "a"}, true, "a"},
		{"about the lvstore only", tgtlog.Record{Lvstore: "lvs"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := evidenceOf(tc.rec, "src")
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.wantName, ev.LvolName)
				require.Equal(t, "src", ev.Source)
			}
		})
	}
}

func TestMaybeGunzip(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		bad            bool
	}{
		{"empty", "", "", false},
		{"one byte", "x", "x", false},
		{"plain", "hello\n", "hello\n", false},
		{"gzip", string(gz(t, []byte("hello\n"))), "hello\n", false},
		{"gzip magic, no header", "\x1f\x8b", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := maybeGunzip(strings.NewReader(tc.in))
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			got, err := io.ReadAll(r)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
		})
	}
}

func TestSourceName(t *testing.T) {
	require.Equal(t, "a.log", SourceName("a.log"))
	long := strings.Repeat("é", MaxSource) // 2 bytes a rune: cut mid-rune
	s := SourceName(long)
	require.True(t, strings.HasPrefix(s, "..."))
	require.LessOrEqual(t, len(s), MaxSource+3)
	require.True(t, strings.HasSuffix(long, s[3:]))
	require.NotContains(t, s, "\ufffd")

	// A path longer than the journal takes is stored by its end.
	p := "/tmp"
	for len(p) < 700 {
		p = filepath.Join(p, strings.Repeat("d", 60))
	}
	p = filepath.Join(p, "spdk_tgt.log")
	require.Equal(t, "...", SourceName(p)[:3])
	require.True(t, strings.HasSuffix(SourceName(p), "/spdk_tgt.log"))
	require.LessOrEqual(t, len(SourceName(p)), MaxSource+3)
}

// FuzzImport: any input, plain or gzip, is read without a panic and
// never yields more evidence than lines.
func FuzzImport(f *testing.F) {
	raw, err := os.ReadFile(fixture)
	require.NoError(f, err)
	f.Add(raw)
	f.Add(gz(f, raw))
	f.Add([]byte("\x1f\x8b"))
	f.Fuzz(func(t *testing.T, in []byte) {
		res, _ := Import(bytes.NewReader(in), "-", &memJournal{}, time.UTC)
		require.LessOrEqual(t, res.New+res.Known+res.NoLvol, res.Stats.Lines+1)
		require.LessOrEqual(t, len(res.Notable), report.MaxNotable)
		var b bytes.Buffer
		require.NoError(t, report.WriteLogImport(&b, report.LogImportDoc{Files: []report.LogImportFile{res}}, false))
	})
}

func TestImportAll(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.log")
	doc := ImportAll(nil, []string{fixture, missing, fixture}, &memJournal{}, time.UTC, zerolog.Nop())
	require.Len(t, doc.Files, 3)
	require.Equal(t, 1, doc.Failed())
	require.Contains(t, doc.Files[1].Error, "open log")
	require.Equal(t, 6, doc.New)
	require.Equal(t, 6, doc.Known, "the second import of the same file adds nothing")
}

func TestShow(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.log")
	for _, asJSON := range []bool{false, true} {
		var out strings.Builder
		var failed []string
		err := Show(&out, nil, []string{missing, fixture}, tgtlog.Options{Location: time.UTC}, asJSON,
			func(name string, err error) { failed = append(failed, name) })
		require.NoError(t, err)
		require.Equal(t, []string{missing}, failed, "a failed input does not stop the others")
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		require.Len(t, lines, 9, "the fixture's records, without context lines")
		if asJSON {
			require.True(t, strings.HasPrefix(lines[0], `{"file":"`+fixture+`"`), lines[0])
		} else {
			require.True(t, strings.HasPrefix(lines[0], fixture+":"), lines[0])
		}
	}
}
