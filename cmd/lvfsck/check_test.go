package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

const checkFixtures = "../../testdata/fixtures"

// offlineArgs are the arguments of an offline check of one captured moment;
// image is a path (see inflated) or "".
func offlineArgs(image, views string, bdevs, notify bool) []string {
	fx := func(s string) string { return filepath.Join(checkFixtures, s) }
	var a []string
	if image != "" {
		a = append(a, "--image", image)
	}
	a = append(a, "--lvstores-json", fx(views+".bdev_lvol_get_lvstores.json"), "--lvols-json", fx(views+".bdev_lvol_get_lvols.json"))
	if bdevs {
		a = append(a, "--bdevs-json", fx(views+".bdev_get_bdevs.json"))
	}
	if notify {
		a = append(a, "--notify-json", fx(views+".notify_get_notifications.json"))
	}
	return a
}

var checkTimes = regexp.MustCompile(`(?m)^(run +)\S+, took \S+$|^(scanned +\S+ \S+ in )\S+$|("(?:started|finished)": )"[^"]*"|("(?:duration_seconds|scan_duration_seconds)": )[0-9.e-]+`)

// stableCheck masks what changes from run to run (times, durations).
func stableCheck(s string) string { return checkTimes.ReplaceAllString(s, "${1}${2}${3}${4}X") }

// The captured real inputs, checked offline, give what the fixtures' README
// says happened: the three forced removals are each exactly one pending
// resurrection (the manifest's persisted_not_live), the clean captures are
// consistent, and the live view alone shows the lost base snapshot.
func TestCheckOfflineGolden(t *testing.T) {
	cases := []struct {
		name          string
		image, views  string
		bdevs, notify bool
		code          int
		pending       string // uuid of the one pending resurrection, if any
	}{
		{"notify-pending-live", "notify-pending-live.img.gz", "notify.after-delete", true, true, 4, "5ae2d848-da40-4d18-8f6c-64cb6802a968"},
		{"resurrection-pending-live", "resurrection-pending-live.img.gz", "resurrection.after-delete", true, false, 4, "877aaf96-4cfd-4d02-85f9-f345a1de9362"},
		{"shallow-copy-pending-live", "shallow-copy-pending-live.img.gz", "shallow-copy.after-delete", true, false, 4, "4d8ee0bf-9fd9-4ee2-8aa0-f62ec664755a"},
		{"resurrection-after-restart", "resurrection-pending.img.gz", "resurrection.after-restart", true, false, 0, ""},
		{"notify-rpc-only", "", "notify.after-delete", true, true, 4, ""},
		{"notify-no-bdevs", "notify-pending-live.img.gz", "notify.after-delete", false, false, 0, ""},
		{"basic-1m", "basic-1m.img.gz", "basic-1m", true, false, 0, ""},
		{"default-cluster-esnap", "default-cluster-esnap.img.gz", "default-cluster-esnap", true, false, 0, ""},
		{"dirty-kill9", "dirty-kill9.img.gz", "dirty-kill9.after-recovery", true, false, 0, ""},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			image := ""
			if tc.image != "" {
				image = inflated(t, dir, tc.image)
			}
			args := append([]string{"check", "--no-color"}, offlineArgs(image, tc.views, tc.bdevs, tc.notify)...)
			text, errText, code := checkCLI(t, args...)
			require.Equal(t, tc.code, code, "%s\n%s", text, errText)
			golden(t, "check/"+tc.name+".txt.golden", stableCheck(strings.ReplaceAll(text, dir, "FIXTURES")))

			js, _, code := checkCLI(t, append(args, "--json")...)
			require.Equal(t, tc.code, code)
			golden(t, "check/"+tc.name+".json.golden", stableCheck(strings.ReplaceAll(js, dir, "FIXTURES")))
			var doc report.JSONReport
			require.NoError(t, json.Unmarshal([]byte(js), &doc))
			require.Equal(t, report.Schema, doc.Schema)
			testfix.RequireAgree(t, doc.Findings)
			var pending []string
			for _, f := range doc.Findings {
				if f.Code == "pending-resurrection" {
					pending = append(pending, f.LvolUUID)
				}
			}
			if tc.pending == "" {
				require.Empty(t, pending)
			} else {
				require.Equal(t, []string{tc.pending}, pending)
			}
		})
	}
}

// The notify-no-bdevs case above shows why: without bdev_get_bdevs and the
// ring there is no positive evidence, and check says so instead of calling
// it a forced removal.
func TestCheckOfflineNoEvidence(t *testing.T) {
	image := inflated(t, t.TempDir(), "notify-pending-live.img.gz")
	out, _, code := checkCLI(t, append([]string{"check", "--json"}, offlineArgs(image, "notify.after-delete", false, false)...)...)
	require.Equal(t, 0, code)
	require.Contains(t, out, `"code": "no-evidence"`)
	require.Contains(t, out, `"lvol_uuid": "5ae2d848-da40-4d18-8f6c-64cb6802a968"`)
}

func TestCheckUsageErrors(t *testing.T) {
	lvs := filepath.Join(checkFixtures, "basic-1m.bdev_lvol_get_lvstores.json")
	cases := map[string][]string{
		"socket with captures": {"check", "--socket", "/x.sock", "--lvstores-json", lvs, "--lvols-json", lvs},
		"lvols missing":        {"check", "--lvstores-json", lvs},
		"image without views":  {"check", "--image", "x.img"},
		"bad mode":             {"check", "--mode", "fast", "--lvstores-json", lvs, "--lvols-json", lvs},
		"bad keep":             {"check", "--keep", "forever", "--lvstores-json", lvs, "--lvols-json", lvs},
		"negative keep":        {"check", "--keep", "-1h", "--lvstores-json", lvs, "--lvols-json", lvs},
		"argument":             {"check", "extra"},
		"unknown flag":         {"check", "--frobnicate"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			_, errText, code := checkCLI(t, args...)
			require.Equal(t, report.ExitUsage, code, errText)
		})
	}
}

func TestCheckOperationalErrors(t *testing.T) {
	dir := t.TempDir()
	t.Run("no target", func(t *testing.T) {
		_, errText, code := checkCLI(t, "check", "--no-journal", "--socket", filepath.Join(dir, "none.sock"))
		require.Equal(t, report.ExitOperational, code)
		require.Contains(t, errText, "cannot reach spdk_tgt at "+filepath.Join(dir, "none.sock"))
	})
	t.Run("no target, json and prom", func(t *testing.T) {
		prom := filepath.Join(dir, "fail.prom")
		out, _, code := checkCLI(t, "check", "--no-journal", "--json", "--prom", prom, "--socket", filepath.Join(dir, "none.sock"))
		require.Equal(t, report.ExitOperational, code)
		var doc report.JSONReport
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		require.Equal(t, "incomplete", doc.Status)
		require.Equal(t, report.ExitOperational, doc.ExitCode)
		require.Contains(t, strings.Join(doc.Notes, "\n"), "cannot reach spdk_tgt")
		b, err := os.ReadFile(prom)
		require.NoError(t, err)
		require.Contains(t, string(b), "lvfsck_last_run_timestamp_seconds")
	})
	t.Run("not a target", func(t *testing.T) {
		// A socket that accepts and closes: the live view cannot be read.
		sock := filepath.Join(dir, "mute.sock")
		l, err := net.Listen("unix", sock)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		_, errText, code := checkCLI(t, "check", "--no-journal", "--socket", sock, "--timeout", "2s")
		require.Equal(t, report.ExitOperational, code)
		require.Contains(t, errText, "live view from "+sock)
	})
	t.Run("missing capture", func(t *testing.T) {
		_, errText, code := checkCLI(t, "check", "--lvstores-json", filepath.Join(dir, "nope.json"), "--lvols-json", filepath.Join(dir, "nope.json"))
		require.Equal(t, report.ExitOperational, code)
		require.Contains(t, errText, "nope.json")
	})
	t.Run("unreadable image", func(t *testing.T) {
		args := append([]string{"check", "--image", filepath.Join(dir, "missing.img")}, offlineArgs("", "basic-1m", true, false)...)
		out, _, code := checkCLI(t, args...)
		require.Equal(t, report.ExitOperational, code&report.ExitOperational, out)
		require.Contains(t, out, "could not be read")
	})
	t.Run("journal locked", func(t *testing.T) {
		state := filepath.Join(dir, "state")
		j, err := journal.Open(state, journal.Options{})
		require.NoError(t, err)
		defer j.Close()
		_, errText, code := checkCLI(t, append([]string{"check", "--state-dir", state}, offlineArgs("", "basic-1m", true, false)...)...)
		require.Equal(t, report.ExitOperational, code)
		require.Contains(t, errText, state)
		require.Contains(t, errText, "locked")
	})
}

// With a journal, an offline run is recorded (start, end, outcome), its
// findings keep their first-seen time across runs, and --prom writes the
// textfile.
func TestCheckOfflineJournalAndProm(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	prom := filepath.Join(t.TempDir(), "lvfsck.prom")
	image := inflated(t, t.TempDir(), "notify-pending-live.img.gz")
	args := append([]string{"check", "--state-dir", state, "--prom", prom}, offlineArgs(image, "notify.after-delete", true, true)...)
	for i := 0; i < 2; i++ {
		out, errText, code := checkCLI(t, args...)
		require.Equal(t, 4, code, errText)
		// The second run says since when the finding stands.
		require.Equal(t, i == 1, strings.Contains(out, "reported since "), out)
	}
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	runs, err := j.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 2)
	for _, r := range runs {
		require.False(t, r.Unfinished())
		require.Equal(t, 4, r.ExitCode)
		require.Equal(t, "errors", r.Outcome)
		require.Equal(t, 1, r.FindingCounts["pending-resurrection"])
	}
	recs, err := j.Findings()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, 2, recs[0].Count)
	require.True(t, recs[0].FirstSeen.Before(recs[0].LastSeen), "first seen kept")
	b, err := os.ReadFile(prom)
	require.NoError(t, err)
	require.Contains(t, string(b), `lvfsck_findings{`)
	require.Contains(t, string(b), `code="pending-resurrection"`)
	require.Contains(t, string(b), "lvfsck_last_success_timestamp_seconds")
}

func TestLvstoreSummariesSource(t *testing.T) {
	out, _, _ := checkCLI(t, append([]string{"check"}, offlineArgs("", "notify.after-delete", true, true)...)...)
	require.True(t, strings.Contains(out, "(captured)"), out)
}

// TestCheckWaitLock: overlapping cron runs. Without --wait-lock the second
// fails at once naming the holder; with it, it runs once the first ends.
func TestCheckWaitLock(t *testing.T) {
	state := t.TempDir()
	j, err := journal.Open(state, journal.Options{Command: "repair"})
	require.NoError(t, err)
	args := append([]string{"check", "--state-dir", state}, offlineArgs("", "basic-1m", true, false)...)
	_, errText, code := checkCLI(t, args...)
	require.Equal(t, report.ExitOperational, code)
	require.Contains(t, errText, "locked by pid "+strconv.Itoa(os.Getpid())+" (lvfsck repair)")
	require.Contains(t, errText, "--wait-lock")
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = j.Close()
	}()
	_, errText, code = checkCLI(t, append(args, "--wait-lock", "30s")...)
	require.Equal(t, 0, code, errText)
}
