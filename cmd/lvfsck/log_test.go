package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

const tgtFixtureDir = "../../testdata/fixtures/"

var tgtLogFixtures = []string{
	tgtFixtureDir + "notify.spdk_tgt.log",
	tgtFixtureDir + "reload-unsafe.spdk_tgt.log",
	tgtFixtureDir + "reload.spdk_tgt.log",
	tgtFixtureDir + "resurrection.spdk_tgt.log",
	tgtFixtureDir + "shallow-copy.spdk_tgt.log",
	tgtFixtureDir + "tags-dirty.recovery.spdk_tgt.log",
}

// maskStateDir replaces the temporary state directory in output.
func maskStateDir(s, dir string) string { return strings.ReplaceAll(s, dir, "STATE") }

func TestLogImportGolden(t *testing.T) {
	dir := t.TempDir()
	first := runLvfsck(t, nil, append([]string{"log", "import", "--state-dir", dir}, tgtLogFixtures...)...)
	require.Equal(t, 0, first.code, first.errText)
	golden(t, "log-import.txt.golden", maskStateDir(first.out, dir))

	// The same logs again, one of them through stdin: nothing new.
	f, err := os.Open(tgtLogFixtures[0])
	require.NoError(t, err)
	defer f.Close()
	args := append([]string{"log", "import", "--state-dir", dir, "--json", "-"}, tgtLogFixtures[1:]...)
	again := runLvfsck(t, f, args...)
	require.Equal(t, 0, again.code, again.errText)
	golden(t, "log-import-again.json.golden", maskStateDir(again.out, dir))
	var doc report.LogImportDoc
	require.NoError(t, json.Unmarshal([]byte(again.out), &doc))
	require.Equal(t, report.LogImportSchema, doc.Schema)
	require.Zero(t, doc.New)
	require.Equal(t, 47, doc.Known)

	j, err := journal.Open(dir, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	ev, err := j.Evidence("877aaf96-4cfd-4d02-85f9-f345a1de9362")
	require.NoError(t, err)
	var kinds []string
	for _, e := range ev {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"cannot-remove-open-snapshot", "forced-removal", "lvol-loaded"}, kinds)
	require.Equal(t, tgtFixtureDir+"resurrection.spdk_tgt.log", ev[1].Source)
	require.Equal(t, 21, ev[1].Line)
	require.Equal(t, "Could not remove blob on lvol gracefully - forced removal", ev[1].Text)
	require.Equal(t, "2026-11-24T22:14:54.864107Z", ev[1].At.Format("2006-01-02T15:04:05.999999Z07:00"))
	// Lines that name only a bare name are found by it.
	byName, err := j.Evidence("replica-a")
	require.NoError(t, err)
	require.Len(t, byName, 1)
	require.Equal(t, "lost-parent-name", byName[0].Kind)
}

// TestLogImportGzipAndStdin: a gzip log (named anything), and stdin, give
// the same records as the plain file.
func TestLogImportGzipAndStdin(t *testing.T) {
	raw, err := os.ReadFile(tgtFixtureDir + "resurrection.spdk_tgt.log")
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	gzPath := filepath.Join(t.TempDir(), "spdk_tgt.log.1")
	require.NoError(t, os.WriteFile(gzPath, gz.Bytes(), 0o644))

	for _, tc := range []struct {
		name  string
		stdin io.Reader
		arg   string
	}{
		{"gzip file", nil, gzPath},
		{"stdin", bytes.NewReader(raw), "-"},
		{"gzip stdin", bytes.NewReader(gz.Bytes()), "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := runLvfsck(t, tc.stdin, "log", "import", "--json", "--state-dir", dir, tc.arg)
			require.Equal(t, 0, r.code, r.errText)
			var doc report.LogImportDoc
			require.NoError(t, json.Unmarshal([]byte(r.out), &doc))
			require.Equal(t, 8, doc.New)
			require.Equal(t, 40, doc.Files[0].Stats.Lines)
			require.Equal(t, 11, doc.Files[0].NoLvol)
			j, err := journal.Open(dir, journal.Options{})
			require.NoError(t, err)
			defer j.Close()
			ev, err := j.Evidence("877aaf96-4cfd-4d02-85f9-f345a1de9362")
			require.NoError(t, err)
			require.Len(t, ev, 3)
			want := gzPath
			if tc.arg == "-" {
				want = "stdin"
			}
			require.Equal(t, want, ev[0].Source)
		})
	}
}

// TestLogImportExitCodes: usage (16), unreadable input (8, after importing
// the readable ones), a locked journal (8, naming the directory).
func TestLogImportExitCodes(t *testing.T) {
	dir := t.TempDir()
	r := runLvfsck(t, nil, "log", "import", "--state-dir", dir)
	require.Equal(t, 16, r.code)

	r = runLvfsck(t, nil, "log", "import", "--state-dir", dir, "--tz", "Mars/Olympus", tgtLogFixtures[0])
	require.Equal(t, 16, r.code)
	require.Contains(t, r.errText, "--tz")

	r = runLvfsck(t, nil, "log", "import", "--state-dir", dir, "-", "-")
	require.Equal(t, 16, r.code)

	r = runLvfsck(t, nil, "log", "imprt", tgtLogFixtures[0])
	require.Equal(t, 16, r.code)
	require.Contains(t, r.errText, `unknown command "imprt"`)
	r = runLvfsck(t, nil, "log")
	require.Equal(t, 16, r.code)

	r = runLvfsck(t, nil, "log", "import", "--state-dir", dir, filepath.Join(dir, "missing.log"), tgtLogFixtures[0])
	require.Equal(t, 8, r.code)
	require.Contains(t, r.out, "missing.log: 0 lines")
	require.Contains(t, r.out, "no such file or directory")
	require.Contains(t, r.out, "6 new, 0 already known")

	corrupt := filepath.Join(dir, "corrupt.gz")
	require.NoError(t, os.WriteFile(corrupt, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3}, 0o644))
	r = runLvfsck(t, nil, "log", "import", "--state-dir", dir, corrupt)
	require.Equal(t, 8, r.code)
	require.Contains(t, r.out, "error: read "+corrupt)

	j, err := journal.Open(dir, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	r = runLvfsck(t, nil, "log", "import", "--state-dir", dir, tgtLogFixtures[0])
	require.Equal(t, 8, r.code)
	require.Contains(t, r.errText, "journal in "+dir+" is locked by pid "+strconv.Itoa(os.Getpid()))
	require.Contains(t, r.errText, "--wait-lock")
}

// TestStateDirEnv: $LVFSCK_STATE_DIR is the default, --state-dir wins.
func TestStateDirEnv(t *testing.T) {
	env, flagDir := t.TempDir(), t.TempDir()
	t.Setenv(run.StateDirEnv, env)
	r := runLvfsck(t, nil, "log", "import", tgtLogFixtures[0])
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "(journal "+env+")")
	r = runLvfsck(t, nil, "log", "import", "--state-dir", flagDir, tgtLogFixtures[0])
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "6 new, 0 already known (journal "+flagDir+")")

	t.Setenv(run.StateDirEnv, "")
	require.Equal(t, journal.DefaultDir, run.DefaultStateDir())
}

// TestLogImportSkipsBinary: a file that is no log imports nothing, and
// says how many lines it skipped.
func TestLogImportSkipsBinary(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "image.bin")
	data := bytes.Repeat([]byte{0, 1, 2, 0xff, '\n'}, 100)
	data = append(data, bytes.Repeat([]byte("x"), 64<<10)...)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	r := runLvfsck(t, nil, "log", "import", "--state-dir", dir, p)
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "skipped 101 lines: 1 too long, 100 not text")
	require.Contains(t, r.out, "0 new, 0 already known")
}

// TestLogImportTZ: --tz says which zone the log's wall times were in.
func TestLogImportTZ(t *testing.T) {
	dir := t.TempDir()
	r := runLvfsck(t, nil, "log", "import", "--json", "--tz", "Europe/Berlin", "--state-dir", dir, tgtFixtureDir+"resurrection.spdk_tgt.log")
	require.Equal(t, 0, r.code, r.errText)
	var doc report.LogImportDoc
	require.NoError(t, json.Unmarshal([]byte(r.out), &doc))
	// 22:14:54 in Berlin (CET, UTC+1 in November) is 21:14:54 UTC.
	require.Equal(t, "2026-11-24T21:14:54.864107Z", doc.Files[0].Notable[0].At.UTC().Format("2006-01-02T15:04:05.999999Z07:00"))
}

// TestLogImportNotableBounded: a log full of forced removals lists the
// first report.MaxNotable and counts the rest.
func TestLogImportNotableBounded(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < report.MaxNotable+5; i++ {
		fmt.Fprintf(&b, "[2026-11-26 08:57:%02d.%06d] lvol.c:1059:lvol_close_blob_cb: *INFO*: Lvol 877aaf96-4cfd-4d02-85f9-%012d closed\n", i/100, i, i)
		fmt.Fprintf(&b, "[2026-11-26 08:57:%02d.%06d] lvol.c:1084:lvol_delete_blob_cb: *ERROR*: Could not remove blob on lvol gracefully - forced removal\n", i/100, i)
	}
	r := runLvfsck(t, strings.NewReader(b.String()), "log", "import", "--state-dir", dir, "-")
	require.Equal(t, 0, r.code, r.errText)
	require.Equal(t, report.MaxNotable, strings.Count(r.out, "forced-removal"))
	require.Contains(t, r.out, "... and 5 more")
	require.Contains(t, r.out, "105 new, 0 already known")
}

// TestLogShow: the offline listing, text (golden) and JSON lines; no
// journal is touched.
func TestLogShow(t *testing.T) {
	t.Setenv(run.StateDirEnv, filepath.Join(t.TempDir(), "must-not-exist"))
	r := runLvfsck(t, nil, "log", "show", tgtFixtureDir+"resurrection.spdk_tgt.log", tgtFixtureDir+"reload-unsafe.spdk_tgt.log")
	require.Equal(t, 0, r.code, r.errText)
	golden(t, "log-show.txt.golden", r.out)
	require.NoDirExists(t, os.Getenv(run.StateDirEnv))

	r = runLvfsck(t, nil, "log", "show", "--json", "--context", tgtFixtureDir+"notify.spdk_tgt.log")
	require.Equal(t, 0, r.code, r.errText)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	require.Len(t, lines, 15) // 9 records, 5 "Lvol ... closed", 1 "Failed to remove blob"
	var rec struct {
		File     string
		Kind     string
		LvolUUID string `json:"lvol_uuid"`
		Via      string
	}
	for _, l := range lines {
		require.NoError(t, json.Unmarshal([]byte(l), &rec))
		require.Equal(t, tgtFixtureDir+"notify.spdk_tgt.log", rec.File)
		if rec.Kind == "forced-removal" {
			require.Equal(t, "5ae2d848-da40-4d18-8f6c-64cb6802a968", rec.LvolUUID)
		}
	}

	r = runLvfsck(t, nil, "log", "show", filepath.Join(t.TempDir(), "missing"))
	require.Equal(t, 8, r.code)
	r = runLvfsck(t, nil, "log", "show")
	require.Equal(t, 16, r.code)
}

// TestLogImportLongPath: a path longer than the journal takes is stored by
// its end, not refused.
func TestLogImportLongPath(t *testing.T) {
	base := t.TempDir()
	p := base
	for len(p) < 700 {
		p = filepath.Join(p, strings.Repeat("d", 60))
	}
	require.NoError(t, os.MkdirAll(p, 0o755))
	raw, err := os.ReadFile(tgtFixtureDir + "notify.spdk_tgt.log")
	require.NoError(t, err)
	p = filepath.Join(p, "spdk_tgt.log")
	require.NoError(t, os.WriteFile(p, raw, 0o644))
	dir := t.TempDir()
	r := runLvfsck(t, nil, "log", "import", "--state-dir", dir, p)
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "6 new, 0 already known")
}
