package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

// journalWithEvents leaves a closed journal in dir holding n events.
func journalWithEvents(t *testing.T, dir string, n int) {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{})
	require.NoError(t, err)
	for i := range n {
		_, err := j.RecordEvent(journal.Event{Kind: "seen", LvolUUID: fmt.Sprintf("lvol-%02d", i), LvolName: fmt.Sprintf("lvs/v%d", i)})
		require.NoError(t, err)
	}
	require.NoError(t, j.Close())
}

// damageTables writes random-looking bytes into the middle of every table.
func damageTables(t *testing.T, dir string) {
	t.Helper()
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	require.NoError(t, err)
	require.NotEmpty(t, ssts)
	for _, p := range ssts {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for i := range 48 {
			b[len(b)/3+i] = byte(i*37 + 11)
		}
		require.NoError(t, os.WriteFile(p, b, 0o600))
	}
}

func promValue(t *testing.T, path, metric string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), metric+" "); ok {
			return v
		}
	}
	t.Fatalf("%s: no %s in\n%s", path, metric, b)
	return ""
}

// TestDamagedJournal: random bytes in a table of a real journal. No
// command reads it as a (shorter) history: history and check exit 8 and
// say how to go on; verify lists the damage; reset sets it aside.
func TestDamagedJournal(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	journalWithEvents(t, state, 30)
	r := runLvfsck(t, nil, "history", "--state-dir", state)
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "lvs/v29")
	damageTables(t, state)

	r = runLvfsck(t, nil, "history", "--state-dir", state)
	require.Equal(t, report.ExitOperational, r.code, r.out)
	require.NotContains(t, r.out, "no events")
	require.Contains(t, r.errText, "damaged")
	require.Contains(t, r.errText, "lvfsck journal reset --state-dir "+state)

	prom := filepath.Join(t.TempDir(), "lvfsck.prom")
	out, errText, code := checkCLI(t, append([]string{"check", "--state-dir", state, "--prom", prom}, offlineArgs("", "basic-1m", true, false)...)...)
	require.Equal(t, report.ExitOperational, code, out)
	require.NotContains(t, out, "clean")
	require.Contains(t, errText, "damaged")
	require.Equal(t, "0", promValue(t, prom, "lvfsck_last_run_success"))
	require.Equal(t, "8", promValue(t, prom, "lvfsck_exit_code"))

	out, _, code = checkCLI(t, append([]string{"check", "--json", "--state-dir", state}, offlineArgs("", "basic-1m", true, false)...)...)
	require.Equal(t, report.ExitOperational, code)
	doc := jsonDoc[report.JSONReport](t, out)
	require.Equal(t, "incomplete", doc.Status, "machines see the failure")

	r = runLvfsck(t, nil, "journal", "verify", "--state-dir", state)
	require.Equal(t, report.ExitOperational, r.code)
	require.Contains(t, r.out, "is DAMAGED:\n  000")
	require.Contains(t, r.out, ".sst: ")

	r = runLvfsck(t, nil, "journal", "reset", "--state-dir", state)
	require.Equal(t, 0, r.code, r.errText)
	asides, err := filepath.Glob(state + ".damaged-*")
	require.NoError(t, err)
	require.Len(t, asides, 1)
	require.Contains(t, r.out, asides[0])

	r = runLvfsck(t, nil, "history", "--state-dir", state)
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "no events")
	r = runLvfsck(t, nil, "journal", "reset", "--state-dir", state)
	require.Equal(t, report.ExitOperational, r.code)
	require.Contains(t, r.errText, "verifies whole: nothing done")
	r = runLvfsck(t, nil, "journal", "verify", "--state-dir", state)
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "reads whole")
}

// TestCheckPromOnFailure: a run that fails rewrites the textfile, so
// monitoring sees the failure; the last success it had reported is kept.
func TestCheckPromOnFailure(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	prom := filepath.Join(dir, "lvfsck.prom")
	ok := append([]string{"check", "--state-dir", state, "--prom", prom}, offlineArgs("", "basic-1m", true, false)...)
	_, errText, code := checkCLI(t, ok...)
	require.Equal(t, 0, code, errText)
	require.Equal(t, "1", promValue(t, prom, "lvfsck_last_run_success"))
	lastOK := promValue(t, prom, "lvfsck_last_success_timestamp_seconds")
	require.NotEqual(t, "0", lastOK)

	j, err := journal.Open(state, journal.Options{Command: "check"})
	require.NoError(t, err)
	for name, args := range map[string][]string{
		"journal locked": ok,
		"socket gone":    {"check", "--no-journal", "--prom", prom, "--socket", filepath.Join(dir, "gone.sock")},
		"bad flags":      {"check", "--no-journal", "--prom", prom, "--mode", "sideways"},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(prom, []byte("lvfsck_last_success_timestamp_seconds "+lastOK+"\nlvfsck_exit_code 0\n"), 0o644))
			before := time.Now()
			_, errText, code := checkCLI(t, args...)
			require.NotZero(t, code, errText)
			require.Equal(t, "0", promValue(t, prom, "lvfsck_last_run_success"))
			require.Equal(t, strconv.Itoa(code), promValue(t, prom, "lvfsck_exit_code"))
			require.Equal(t, lastOK, promValue(t, prom, "lvfsck_last_success_timestamp_seconds"), "the last success is kept")
			ran, err := strconv.ParseFloat(promValue(t, prom, "lvfsck_last_run_timestamp_seconds"), 64)
			require.NoError(t, err)
			require.GreaterOrEqual(t, ran, float64(before.Unix()), "the failed run's time")
		})
	}
	require.NoError(t, j.Close())
}

// TestHistoryWaitsForWriter: while a run holds the journal, history waits
// for it rather than fail.
func TestHistoryWaitsForWriter(t *testing.T) {
	state := t.TempDir()
	journalWithEvents(t, state, 3)
	j, err := journal.Open(state, journal.Options{Command: "check"})
	require.NoError(t, err)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = j.Close()
	}()
	r := runLvfsck(t, nil, "history", "--state-dir", state)
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "lvs/v2")
}

// TestJournalFromBundle: a journal copied off a live system (its WAL not
// yet a table, no lock file) is read by history and an offline check
// --no-record, and left exactly as it was.
func TestJournalFromBundle(t *testing.T) {
	live := t.TempDir()
	j, err := journal.Open(live, journal.Options{})
	require.NoError(t, err)
	_, err = j.RecordEvent(journal.Event{Kind: "seen", LvolUUID: "lvol-x", LvolName: "lvs/backup-1"})
	require.NoError(t, err)
	bundle := filepath.Join(t.TempDir(), "bundle", "lvfsck")
	require.NoError(t, os.MkdirAll(bundle, 0o755))
	ents, err := os.ReadDir(live)
	require.NoError(t, err)
	for _, e := range ents {
		if e.Name() == "lvfsck.lock" || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(live, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(bundle, e.Name()), b, 0o444))
	}
	require.NoError(t, j.Close())
	require.NoError(t, os.Chmod(bundle, 0o555))
	t.Cleanup(func() { _ = os.Chmod(bundle, 0o755) })
	before := listing(t, bundle)

	r := runLvfsck(t, nil, "history", "--state-dir", bundle)
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "lvs/backup-1")
	_, errText, code := checkCLI(t, append([]string{"check", "--state-dir", bundle, "--no-record"}, offlineArgs("", "basic-1m", true, false)...)...)
	require.Equal(t, 0, code, errText)
	require.Equal(t, before, listing(t, bundle), "the bundle is not written")
	_, _, code = checkCLI(t, "check", "--no-record", "--state-dir", bundle)
	require.Equal(t, report.ExitUsage, code, "beside a live target a check records")
}

func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		fi, err := e.Info()
		require.NoError(t, err)
		out[e.Name()] = fmt.Sprintf("%x %s", b, fi.ModTime())
	}
	return out
}

// TestStateDirNotWritable: as an operator without root sees it.
func TestStateDirNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere; TestJournalAdvice covers the message")
	}
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o555))
	r := runLvfsck(t, nil, "log", "import", "--state-dir", filepath.Join(parent, "state"), "-")
	require.Equal(t, report.ExitOperational, r.code)
	require.Contains(t, r.errText, "--state-dir DIR (or set "+run.StateDirEnv)
}
