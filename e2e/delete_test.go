package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
)

// run is one run of the real binary.
type run struct {
	code           int
	stdout, stderr string
}

func (r run) String() string { return "exit " + strconv.Itoa(r.code) + "\n" + r.stdout + r.stderr }

// lvfsck runs the binary with a deadline: a hang fails the test, it does
// not stall the package.
func lvfsck(t *testing.T, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lvfsckBin, append([]string{"--log-level", "error"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "lvfsck %v hung:\n%s%s", args, out.String(), errb.String())
	r := run{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

// deleteOut is the part of `lvfsck delete --json` the tests read.
type deleteOut struct {
	Finished []deleteResult `json:"finished_intents"`
	Results  []deleteResult `json:"results"`
	Exit     int            `json:"exit"`
}

type deleteResult struct {
	Ref       string   `json:"ref"`
	LvolUUID  string   `json:"lvol_uuid"`
	Outcome   string   `json:"outcome"`
	Semantics string   `json:"semantics"`
	Attempts  int      `json:"attempts"`
	Summary   string   `json:"summary"`
	Messages  []string `json:"messages"`
	Error     string   `json:"error"`
}

func (tg *target) delete(t *testing.T, state string, args ...string) (run, deleteOut) {
	t.Helper()
	r := lvfsck(t, append([]string{"delete", "--json", "--socket", tg.sock, "--state-dir", state}, args...)...)
	var d deleteOut
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d), "%s", r)
	return r, d
}

// checksum starts bdev_lvol_register_snapshot_checksum on name and returns
// a wait for its end, whatever it answers (lvfsck may stop it).
func checksum(t *testing.T, tg *target, name string) func() {
	t.Helper()
	return startChecksum(t, tg, name, false).wait
}

// startChecksum starts the checksum on a connection of its own (it answers
// when done) and waits tg.lag() for the request to reach the target; strict:
// the checksum must succeed.
func startChecksum(t *testing.T, tg *target, name string, strict bool) held {
	t.Helper()
	hc := tg.dial()
	done := make(chan error, 1)
	go func() { done <- hc.RegisterSnapshotChecksum(context.Background(), name) }()
	time.Sleep(tg.lag())
	var ended bool
	return held{
		wait: func() {
			if ended {
				return
			}
			select {
			case err := <-done:
				ended = true
				if strict {
					require.NoError(t, err, "checksum")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("checksum never ended")
			}
		},
		running: func() bool {
			select {
			case err := <-done:
				ended = true
				if strict {
					require.NoError(t, err, "checksum")
				}
				return false
			default:
				return true
			}
		},
	}
}

// Keep-listed semantics (hypothetical: a target that keeps a busy lvol
// listed): the delete is refused busy while the checksum runs; lvfsck
// retries with backoff, deletes once it ends, verifies on disk. After a
// restart nothing comes back.
func TestDeleteKeepListedWaitsForChecksum(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "keep-listed")
	snap := setup(t, tg)
	wait := checksum(t, tg, "lvs-r/backup-1")
	r, d := tg.delete(t, state, "--wait", "20s", "lvs-r/backup-1")
	wait()
	require.Equal(t, 0, r.code, "%s", r)
	require.Len(t, d.Results, 1)
	res := d.Results[0]
	require.Equal(t, "deleted-verified", res.Outcome, "%s", r)
	require.Equal(t, "keep-listed", res.Semantics)
	require.Greater(t, res.Attempts, 1, "retried while busy")
	require.Equal(t, snap, res.LvolUUID)
	_, listed := tg.lvol("backup-1")
	require.False(t, listed)

	tg.stop("SIGINT")
	tg2 := startSim(t, image, "--delete-semantics", "keep-listed")
	_, listed = tg2.lvol("backup-1")
	require.False(t, listed, "nothing comes back after a restart")
	c := tg2.check(t, state)
	require.Equal(t, 0, c.code, "%s", c)
}

// Forced semantics: the delete reports the forced removal (exit 4) and
// check shows the pending resurrection; repair without a restart says to
// restart; after the restart `repair --yes` deletes it for good, and after
// a further restart check is clean and history tells the whole story.
func TestDeleteForcedThenRestartAndRepair(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{})
		snap := setup(t, tg)
		wait := checksum(t, tg, "lvs-r/backup-1")
		r, d := tg.delete(t, state, "lvs-r/backup-1")
		wait()
		require.Equal(t, 4, r.code, "%s", r)
		require.Equal(t, "forced-removal", d.Results[0].Outcome)
		require.Equal(t, "forced", d.Results[0].Semantics)
		require.Contains(t, d.Results[0].Summary, "the target dropped it from memory only; it comes back at the next restart or lvstore reload; run `lvfsck repair` after the restart")

		c := tg.check(t, state)
		require.Equal(t, 4, c.code, "%s", c)
		require.Len(t, c.of("pending-resurrection"), 1, "%s", c)

		rp := lvfsck(t, "repair", "--socket", tg.sock, "--state-dir", state)
		require.Equal(t, 4, rp.code, "%s", rp)
		require.Contains(t, rp.stdout, "restart the target (the lvols load again), then run `lvfsck repair --yes`")

		tg2 := tg.restart("SIGINT")
		_, back := tg2.lvol("backup-1")
		require.True(t, back, "resurrected by the restart")
		rp = lvfsck(t, "repair", "--yes", "--socket", tg2.sock, "--state-dir", state)
		require.Equal(t, 1, rp.code, "corrected, nothing left: %s", rp)
		require.Contains(t, rp.stdout, "deleted-verified")
		_, listed := tg2.lvol("backup-1")
		require.False(t, listed)

		tg3 := tg2.restart("SIGINT")
		c = tg3.check(t, state)
		require.Equal(t, 0, c.code, "%s", c)
		_, listed = tg3.lvol("backup-1")
		require.False(t, listed, "deleted for good")
		h := lvfsck(t, "history", "--state-dir", state, snap)
		require.Equal(t, 0, h.code, "%s", h)
		storyInOrder(t, h.stdout, "delete-intent", "forced-removal", "resurrected", "delete-outcome", "repaired")
	})
}

// An idle lvol is deleted and verified on disk; it stays gone after a
// restart and check is clean.
func TestDeleteIdle(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{hold: holdCopy})
		setup(t, tg)
		by, ok := tg.lvol("bystander")
		require.True(t, ok)
		r, d := tg.delete(t, state, "lvs-r/bystander")
		require.Equal(t, 0, r.code, "%s", r)
		require.Len(t, d.Results, 1)
		require.Equal(t, "deleted-verified", d.Results[0].Outcome, "%s", r)
		require.Equal(t, by.UUID, d.Results[0].LvolUUID)
		require.Equal(t, 1, d.Results[0].Attempts)
		_, ok = tg.lvol("bystander")
		require.False(t, ok)

		tg2 := tg.restart("SIGINT")
		_, ok = tg2.lvol("bystander")
		require.False(t, ok, "a real delete does not come back")
		c := tg2.check(t, state)
		require.Equal(t, 0, c.code, "%s", c)
	})
}

// storyInOrder: each word appears after the previous one.
func storyInOrder(t *testing.T, text string, words ...string) {
	t.Helper()
	rest := text
	for _, w := range words {
		i := strings.Index(rest, w)
		require.GreaterOrEqual(t, i, 0, "%q missing (in order) from history:\n%s", w, text)
		rest = rest[i+len(w):]
	}
}

// On a target with Longhorn's stop method the checksum is stopped first
// and the snapshot deleted for real; v24.09 (no stop method) gets the
// forced removal.
// Sim only: the real build here has no bdev_lvol_stop_snapshot_checksum.
func TestDeleteStopsChecksumWhereOffered(t *testing.T) {
	for _, tc := range []struct {
		flavor, outcome string
		code            int
	}{
		{"longhorn", "deleted-verified", 0},
		{"longhorn-v24.09", "forced-removal", 4},
	} {
		t.Run(tc.flavor, func(t *testing.T) {
			image, state := diskAndState(t)
			tg := startSim(t, image, "--flavor", tc.flavor, "--delete-semantics", "forced")
			setup(t, tg)
			wait := checksum(t, tg, "lvs-r/backup-1")
			r, d := tg.delete(t, state, "lvs-r/backup-1")
			wait()
			require.Equal(t, tc.code, r.code, "%s", r)
			require.Equal(t, tc.outcome, d.Results[0].Outcome, "%s", r)
			if tc.flavor == "longhorn" {
				require.Contains(t, strings.Join(d.Results[0].Messages, "\n"), "stopped a running checksum")
				require.Equal(t, 1, d.Results[0].Attempts, "no busy answer, no forced removal")
			}
		})
	}
}

// An exported lvol and a snapshot with two clones are refused; nothing
// changes, not a byte of the image.
func TestDeleteRefusals(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{hold: holdCopy})
		setup(t, tg)
		ctx := ctxT(t)
		_, err := tg.c.Clone(ctx, "lvs-r/backup-1", "clone-2")
		require.NoError(t, err)
		by, ok := tg.lvol("bystander")
		require.True(t, ok)
		tg.export("nqn.2016-06.io.spdk:test", by.UUID)
		before := sum(t, image)

		r, d := tg.delete(t, state, "lvs-r/bystander", "lvs-r/backup-1")
		require.Equal(t, 4, r.code, "%s", r)
		require.Len(t, d.Results, 2)
		require.Equal(t, "refused", d.Results[0].Outcome)
		require.Contains(t, d.Results[0].Error, "nqn.2016-06.io.spdk:test nsid 1")
		require.Equal(t, "refused", d.Results[1].Outcome)
		require.Contains(t, d.Results[1].Error, "more-than-one-clone")
		for _, name := range []string{"bystander", "backup-1"} {
			_, ok := tg.lvol(name)
			require.True(t, ok, name)
		}
		require.Equal(t, before, sum(t, image), "not a byte changed")
	})
}

// A delete killed mid-way (in its backoff, after the intent was recorded)
// is verified and recorded by the next run, which then does its own job;
// while it ran, a second write command failed fast on the journal lock.
// Sim only: it needs the sim's keep-listed semantics (busy answers while nothing changes).
func TestDeleteInterruptedFinishedByNextRun(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "keep-listed", "--op-duration", "5s")
	setup(t, tg)
	wait := checksum(t, tg, "lvs-r/backup-1")

	cmd := exec.Command(lvfsckBin, "--log-level", "error", "delete", "--wait", "20s", "--socket", tg.sock, "--state-dir", state, "lvs-r/backup-1")
	require.NoError(t, cmd.Start())
	// The checksum runs 5 s: the kill below lands while the delete is still
	// retrying, even on a loaded machine.
	time.Sleep(400 * time.Millisecond) // busy, retrying

	// One repair at a time: a second write command on the same journal
	// fails at once and says why.
	start := time.Now()
	second := lvfsck(t, "repair", "--yes", "--socket", tg.sock, "--state-dir", state)
	require.Equal(t, 8, second.code, "%s", second)
	require.Contains(t, second.stderr, state)
	require.Contains(t, second.stderr, fmt.Sprintf("locked by pid %d (lvfsck delete)", cmd.Process.Pid), "names the holder")
	require.Less(t, time.Since(start), 2*time.Second)

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	// The killed run left its intent open.
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	open, err := j.OpenIntents()
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.NoError(t, j.Close())

	r, d := tg.delete(t, state, "--wait", "20s", "lvs-r/backup-1")
	wait()
	require.Equal(t, 0, r.code, "%s", r)
	require.Len(t, d.Finished, 1, "%s", r)
	require.Equal(t, "still-present-not-deleted", d.Finished[0].Outcome, "the killed run had not deleted it")
	require.Equal(t, "deleted-verified", d.Results[0].Outcome)

	j, err = journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	open, err = j.OpenIntents()
	require.NoError(t, err)
	require.Empty(t, open, "nothing left open")
}
