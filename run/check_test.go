package run

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
)

const fixtures = "../testdata/fixtures/"

// captured is the offline input of one captured moment, with no image:
// the comparison of the live view and the history alone.
func captured(views string) collect.Files {
	return collect.Files{
		Lvstores: fixtures + views + ".bdev_lvol_get_lvstores.json",
		Lvols:    fixtures + views + ".bdev_lvol_get_lvols.json",
		Bdevs:    fixtures + views + ".bdev_get_bdevs.json",
		Notify:   fixtures + views + ".notify_get_notifications.json",
	}
}

func testConfig(files collect.Files) CheckConfig {
	clock := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	return CheckConfig{
		Files: files, Mode: scanner.ModeAuto, Keep: 90 * 24 * time.Hour, Version: "test",
		Now: func() time.Time { clock = clock.Add(time.Second); return clock }, Log: zerolog.Nop(),
		Progress: &strings.Builder{},
	}
}

func TestRunOffline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   collect.Files
		code    int
		source  string
		journal bool
	}{
		{"consistent", captured("basic-1m"), report.ExitOK, "captured", false},
		{"forced removal in the notification ring", captured("notify.after-delete"), report.ExitUncorrected, "captured", false},
		{"with a journal", captured("notify.after-delete"), report.ExitUncorrected, "captured", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.files.Notify); err != nil {
				tc.files.Notify = ""
			}
			cfg := testConfig(tc.files)
			if tc.journal {
				j, err := journal.Open(t.TempDir(), journal.Options{})
				require.NoError(t, err)
				t.Cleanup(func() { j.Close() })
				cfg.Journal = j
			}
			res, err := Check(context.Background(), cfg)
			require.NoError(t, err)
			s := res.Summary
			require.Equal(t, tc.code, s.Exit)
			require.Equal(t, "check", s.Command)
			require.Equal(t, "captured answers", s.Target)
			require.NotEmpty(t, s.Lvstores)
			for _, l := range s.Lvstores {
				require.Equal(t, tc.source, l.Source)
			}
			// No device read: the stores were not checked, so the run must
			// not read as clean (issue 8 item 15), whatever its exit code.
			require.NotEqual(t, "clean", s.Status())
			require.NotContains(t, report.Headline(s), "clean", report.Headline(s))
			require.Equal(t, !tc.journal, strings.Contains(strings.Join(s.Notes, "\n"), "no journal"))
			require.Equal(t, s.Finished, res.LastSuccess(), "a completed run is its own last success")
			res.Finish(s.Exit)
			if !tc.journal {
				return
			}
			runs, err := cfg.Journal.Runs()
			require.NoError(t, err)
			require.Len(t, runs, 1)
			require.False(t, runs[0].Unfinished())
			require.Equal(t, s.Status(), runs[0].Outcome)

			// A second run: known findings say since when.
			res, err = Check(context.Background(), cfg)
			require.NoError(t, err)
			require.NotEmpty(t, res.Summary.Findings)
			require.Contains(t, res.Summary.Findings[0].Evidence[reconcile.EvJournal], "reported since")
			res.Finish(res.Summary.Exit)
		})
	}
}

func TestRunFailures(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  func(*CheckConfig)
		code int
		msg  string
	}{
		{"missing capture", func(c *CheckConfig) {
			c.Files = collect.Files{Lvstores: filepath.Join(dir, "nope.json"), Lvols: filepath.Join(dir, "nope.json")}
		}, report.ExitOperational, "offline check: "},
		{"no target", func(c *CheckConfig) {
			c.Files, c.Socket, c.Timeout = collect.Files{}, filepath.Join(dir, "none.sock"), time.Second
		}, report.ExitOperational, "cannot reach spdk_tgt at " + filepath.Join(dir, "none.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(captured("basic-1m"))
			tc.cfg(&cfg)
			res, err := Check(context.Background(), cfg)
			var e *report.Failure
			require.ErrorAs(t, err, &e)
			require.Equal(t, tc.code, e.Code)
			require.ErrorContains(t, err, tc.msg)
			require.NotNil(t, res)
			require.Equal(t, "incomplete", res.Summary.Status())
			require.Equal(t, tc.code, res.Summary.Exit)
			require.Contains(t, res.Summary.Notes, err.Error())
			require.NotNil(t, res.Summary.Findings, "JSON says [] not null")
			require.True(t, res.LastSuccess().IsZero(), "no journal, no earlier success")
			res.Finish(e.Code) // no journal run: nothing to close
		})
	}
}

// A failed run's last success is the newest completed check in the journal.
func TestLastSuccessFromJournal(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	cfg := testConfig(captured("basic-1m"))
	cfg.Files.Notify = ""
	cfg.Journal = j
	ok, err := Check(context.Background(), cfg)
	require.NoError(t, err)
	ok.Finish(ok.Summary.Exit)

	cfg.Files.Lvols = filepath.Join(t.TempDir(), "gone.json")
	bad, err := Check(context.Background(), cfg)
	require.Error(t, err)
	runs, err := j.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1, "a run that fails before it reads anything is not recorded")
	require.False(t, runs[0].Finished.IsZero())
	require.Equal(t, runs[0].Finished, bad.LastSuccess(), "the completed run, as the journal closed it")
	bad.Finish(report.ExitOperational)
	require.Equal(t, runs[0].Finished, bad.LastSuccess(), "a failed run is no success")
}

func TestCompareCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cmp, err := Compare(ctx, Comparison{Log: zerolog.Nop(), Mode: scanner.ModeAuto, Now: time.Now},
		reconcile.Live{}, []string{fixtures + "basic-1m.img.gz"})
	var e *report.Failure
	require.ErrorAs(t, err, &e)
	require.Equal(t, report.ExitCancelled, e.Code)
	require.Empty(t, cmp.Findings)
}

// An unreadable device is a finding and an operational error, not a
// failed comparison.
func TestCompareUnreadableDevice(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.img")
	cmp, err := Compare(context.Background(), Comparison{Log: zerolog.Nop(), Mode: scanner.ModeAuto, Now: time.Now},
		reconcile.Live{}, []string{missing, missing})
	require.NoError(t, err)
	require.True(t, cmp.OpErr)
	require.Len(t, cmp.Scans, 1, "a device given twice is read once")
	require.Contains(t, cmp.Notes, "no journal: no history was used and nothing was recorded")
}

// What the report says (its notes, the unreadable device's finding) is not
// logged again at the default level: on a non-terminal stderr that is a raw
// JSON line beside the human report (issue 8 item 15).
func TestCompareLogsNothingTheReportSays(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	var logged strings.Builder
	log := zerolog.New(&logged).Level(zerolog.WarnLevel)
	missing := filepath.Join(t.TempDir(), "missing.img")
	live := reconcile.Live{Lvstores: []reconcile.LiveLvstore{{UUID: "u-a", Name: "a", Device: missing}}}
	runID, err := j.BeginRun(journal.Run{Command: "check", Started: time.Now()})
	require.NoError(t, err)
	cmp, err := Compare(context.Background(), Comparison{Log: log, Journal: j, RunID: runID, Observe: true, Mode: scanner.ModeAuto, Now: time.Now},
		live, []string{missing})
	require.NoError(t, err)
	require.Contains(t, strings.Join(cmp.Notes, "\n"), "no incarnation", "a note was made")
	require.NotEmpty(t, cmp.Findings, "the unreadable device is a finding")
	require.Empty(t, logged.String())
}

func TestLvstoreSummaries(t *testing.T) {
	live := reconcile.Live{
		Lvstores: []reconcile.LiveLvstore{{UUID: "u-b", Name: "b"}, {UUID: "u-a", Name: "a"}},
		Lvols:    []reconcile.LiveLvol{{UUID: "l1", LvstoreUUID: "u-a"}, {UUID: "l2", LvstoreUUID: "u-a"}, {UUID: "l3", LvstoreUUID: "u-x"}},
	}
	view := &scanner.View{Lvstore: scanner.Lvstore{UUID: "u-a", Name: "a"},
		Blobs: []scanner.BlobInfo{{IsLvol: true, LvolUUID: "l2"}, {IsLvol: true, LvolUUID: "l4"}, {ID: 9}}}
	disk := &scanner.View{Lvstore: scanner.Lvstore{UUID: "u-c", Name: "a"}}
	for _, tc := range []struct {
		name    string
		scans   []collect.Scan
		offline bool
		want    []report.LvstoreSummary
	}{
		{"live only", nil, false, []report.LvstoreSummary{
			{Name: "a", UUID: "u-a", Lvols: 2, Source: "live"}, {Name: "b", UUID: "u-b", Source: "live"}}},
		{"both views, lvols united by uuid", []collect.Scan{{View: view}, {Device: "x"}}, true, []report.LvstoreSummary{
			{Name: "a", UUID: "u-a", Lvols: 3, Source: "disk+captured"}, {Name: "b", UUID: "u-b", Source: "captured"}}},
		{"same name on disk only, by uuid", []collect.Scan{{View: disk}}, false, []report.LvstoreSummary{
			{Name: "a", UUID: "u-a", Lvols: 2, Source: "live"}, {Name: "a", UUID: "u-c", Source: "disk"}, {Name: "b", UUID: "u-b", Source: "live"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, LvstoreSummaries(live, tc.scans, tc.offline))
		})
	}
}

func TestDedupObs(t *testing.T) {
	in := []journal.LvolObservation{{UUID: "a", Name: "1"}, {UUID: "b"}, {UUID: "a", Name: "2"}}
	require.Equal(t, []journal.LvolObservation{{UUID: "a", Name: "1"}, {UUID: "b"}}, dedupObs(in))
	require.Len(t, in, 3, "the input is left alone")
}
