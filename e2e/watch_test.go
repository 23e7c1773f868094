package e2e

// `lvfsck watch` beside a sim target: self-contained (its own process
// helpers), as the rest of e2e is being reshaped for two backends.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/spdk"
)

// watchSim runs `spdk-sim serve` on sock (a fixed path: the watch
// follows the target across restarts) and dials it.
func watchSim(t *testing.T, sock, image string, flags ...string) (*exec.Cmd, *spdk.Client) {
	t.Helper()
	args := append([]string{"serve", "--socket", sock, "--image", image, "--size", "128M",
		"--op-duration", opDuration.String(), "--log-file", image + ".log"}, flags...)
	cmd := exec.Command(simBin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := spdk.DialWait(ctx, sock, 20*time.Millisecond)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return cmd, c
}

// logLine is one JSON log line of the watch.
type logLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Code    string `json:"code"`
	LvolID  string `json:"lvol_uuid"`
	FoundBy string `json:"found_by"`
	Page    string `json:"page"`
}

// watchLog reads the watch's stderr file.
func watchLog(t *testing.T, path string) []logLine {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits until a line matches and returns when it was seen.
func waitLog(t *testing.T, path string, within time.Duration, what string, match func(logLine) bool) time.Time {
	t.Helper()
	end := time.Now().Add(within)
	for time.Now().Before(end) {
		for _, l := range watchLog(t, path) {
			if match(l) {
				return time.Now()
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("no %s within %s; watch log:\n%s", what, within, b)
	return time.Time{}
}

func count(lines []logLine, match func(logLine) bool) int {
	n := 0
	for _, l := range lines {
		if match(l) {
			n++
		}
	}
	return n
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestWatchForcedRemovalRestart: a forced removal of an lvol the last full
// scan knew is reported from its unregister event within 1 s; one created
// after that scan is journalled from its register event; after a SIGKILL
// and restart both are named resurrected, though no check ever listed the
// second; SIGTERM ends the watch within 1 s with the journal closed.
func TestWatchForcedRemovalRestart(t *testing.T) {
	dir, err := os.MkdirTemp("", "e2ew") // short: unix socket paths are limited
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, image, state := filepath.Join(dir, "s.sock"), filepath.Join(dir, "disk.img"), filepath.Join(dir, "state")
	// The busy window must outlast the first finding's wait (up to 3 s
	// on a loaded machine) so that the second delete still meets it.
	sim, c := watchSim(t, sock, image, "--delete-semantics", "forced", "--op-duration", "6s")
	ctx := ctxT(t)
	_, err = c.CreateLvstore(ctx, "aio0", "lvs-r", 1<<20)
	require.NoError(t, err)
	for _, name := range []string{"replica-a", "replica-b", "scratch"} {
		_, err = c.CreateLvol(ctx, "lvs-r", name, 16, true)
		require.NoError(t, err)
	}
	known, err := c.Snapshot(ctx, "lvs-r/replica-a", "backup-1")
	require.NoError(t, err)

	addr := freePort(t)
	logPath := filepath.Join(dir, "watch.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	defer logf.Close()
	w := exec.Command(lvfsckBin, "--log-level", "debug", "watch", "--socket", sock, "--state-dir", state,
		"--listen", addr, "--poll", "50ms", "--rescan-after", "1m")
	w.Stderr = logf
	require.NoError(t, w.Start())
	t.Cleanup(func() { _ = w.Process.Kill(); _, _ = w.Process.Wait() })
	waitLog(t, logPath, 10*time.Second, "first full check", func(l logLine) bool { return l.Message == "full check done" })

	// Created after the full check: never in a scan, never listed by a check.
	unseen, err := c.Snapshot(ctx, "lvs-r/replica-b", "backup-2")
	require.NoError(t, err)
	// A real delete: the page is zeroed, no finding.
	require.NoError(t, c.DeleteLvol(ctx, "lvs-r/scratch"))
	waitLog(t, logPath, 2*time.Second, "real delete", func(l logLine) bool { return l.Page == "zeroed" })

	// Both snapshots busy (checksums), both deleted meanwhile: forced removals.
	done := make(chan error, 2)
	for _, s := range []string{"lvs-r/backup-1", "lvs-r/backup-2"} {
		go func() { done <- c.RegisterSnapshotChecksum(ctx, s) }()
	}
	time.Sleep(startLag)
	require.ErrorIs(t, c.DeleteLvol(ctx, "lvs-r/backup-1"), spdk.ErrBusy)
	deleted := time.Now()
	pending := func(uuid string) func(logLine) bool {
		return func(l logLine) bool { return l.Code == "pending-resurrection" && l.LvolID == uuid }
	}
	seen := waitLog(t, logPath, 3*time.Second, "pending resurrection of backup-1", pending(known))
	latency := seen.Sub(deleted)
	// The 1 s aim is watch's BenchmarkEventToFinding; here the finding
	// must come from the event (below), within waitLog's bound.
	t.Logf("forced removal → watch finding: %s", latency)
	require.Equal(t, "bdev_unregister", func() string {
		for _, l := range watchLog(t, logPath) {
			if pending(known)(l) {
				return l.FoundBy
			}
		}
		return ""
	}(), "found from the event, not a scan")
	// Still inside the busy window; its unregister calls a full check.
	require.ErrorIs(t, c.DeleteLvol(ctx, "lvs-r/backup-2"), spdk.ErrBusy)
	waitLog(t, logPath, 5*time.Second, "pending resurrection of backup-2", pending(unseen))
	for range 2 {
		require.NoError(t, <-done)
	}
	// The watch holds the journal only while it writes: an operator's
	// history runs beside it and shows the event-made finding.
	out, err := exec.Command(lvfsckBin, "history", "--state-dir", state, "--wait-lock", "10s").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "backup-1")

	// Restart: SIGKILL (dirty), then the same socket again.
	_ = c.KillInstance(ctx, "SIGKILL")
	_, _ = sim.Process.Wait()
	c.Close()
	waitLog(t, logPath, 3*time.Second, "target down", func(l logLine) bool { return strings.HasPrefix(l.Message, "target unreachable") })
	code, _ := httpGet(t, "http://"+addr+"/healthz")
	require.Equal(t, http.StatusOK, code, "the watch is healthy while its target is down")
	_, _ = watchSim(t, sock, image)
	for _, u := range []string{known, unseen} {
		waitLog(t, logPath, 10*time.Second, "resurrected "+u, func(l logLine) bool { return l.Code == "resurrected" && l.LvolID == u })
	}
	lines := watchLog(t, logPath)
	require.Equal(t, 1, count(lines, pending(known)), "each finding told once")

	_, metrics := httpGet(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		"lvfsck_watch_target_up 1", "lvfsck_watch_target_restarts_total 1",
		`lvfsck_watch_findings{code="resurrected",lvstore="lvs-r",severity="error"} 2`,
		`lvfsck_watch_events_total{type="bdev_unregister"}`, "lvfsck_watch_probe_bytes_total",
	} {
		require.Contains(t, metrics, want)
	}

	// SIGTERM: ends within 1 s, journal closed (it opens again here).
	require.NoError(t, w.Process.Signal(syscall.SIGTERM))
	stopped := make(chan error, 1)
	go func() { stopped <- w.Wait() }()
	select {
	case err := <-stopped:
		require.NoError(t, err, "clean exit")
	case <-time.After(time.Second):
		t.Fatal("watch did not end within 1 s of SIGTERM")
	}
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	tl, err := j.Timeline(time.Time{})
	require.NoError(t, err)
	got := map[string]bool{}
	for _, e := range tl {
		if strings.HasPrefix(e.Detail, "bdev_") {
			got[fmt.Sprintf("%s %s", strings.Fields(e.Detail)[0], e.LvolUUID)] = true
		}
	}
	for _, u := range []string{known, unseen} {
		require.True(t, got["bdev_unregister "+u], "unregister of %s journalled", u)
	}
	require.True(t, got["bdev_register "+unseen], "register of the lvol no check saw")
}
