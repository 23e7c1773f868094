package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk"
)

// checkResult is one run of the real `lvfsck check --json`.
type checkResult struct {
	code   int
	doc    report.JSONReport
	stderr string
}

// of returns the findings with that code.
func (r checkResult) of(code finding.Code) []finding.Finding {
	var out []finding.Finding
	for _, f := range r.doc.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

// codes lists "code lvol" of every finding of warning severity or worse,
// sorted: what two runs must agree on to give "the same findings".
func (r checkResult) codes() []string {
	var out []string
	for _, f := range r.doc.Findings {
		if f.Severity >= finding.Warning {
			out = append(out, string(f.Code)+" "+f.LvolName)
		}
	}
	sort.Strings(out)
	return out
}

func (r checkResult) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "exit %d\n", r.code)
	for _, f := range r.doc.Findings {
		fmt.Fprintln(&b, f.String())
	}
	b.WriteString(r.stderr)
	return b.String()
}

// runCheck runs the real binary against the target's socket with a journal
// in state.
func runCheck(t *testing.T, args ...string) checkResult {
	t.Helper()
	cmd := exec.Command(lvfsckBin, append([]string{"--log-level", "error", "check", "--json"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := checkResult{stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res.doc), "stdout %q\nstderr %s", out.String(), errb.String())
	requireVerdictAgrees(t, res.doc)
	return res
}

func (tg *target) check(t *testing.T, state string) checkResult {
	t.Helper()
	return runCheck(t, "--socket", tg.sock, "--state-dir", state)
}

// The first scenario, through a checksum and a shallow copy: a
// forced removal is one pending resurrection; after a clean restart it is
// resurrected, and the finding names what the journal saw (listed, then
// gone in the earlier target run) and the imported log's forced-removal
// line. Both holds, and both backends, give the same findings.
func TestCheckForcedRemovalThenRestart(t *testing.T) {
	pending := map[string][]string{}
	back := map[string][]string{}
	onBothHolds(t, func(t *testing.T, b backend, h hold) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{hold: h})
		snapUUID := setup(t, tg)
		r := tg.check(t, state)
		require.Equal(t, 0, r.code, "before the delete: %s", r)
		inc1 := r.doc.Incarnation
		require.NotEmpty(t, inc1, "incarnation from SO_PEERCRED")

		delErr, hd := holdAndDelete(t, tg)
		require.ErrorIs(t, delErr, spdk.ErrBusy)
		hd.wait()
		r = tg.check(t, state)
		require.Equal(t, 4, r.code, "%s", r)
		p := r.of("pending-resurrection")
		require.Len(t, p, 1, "%s", r)
		require.Equal(t, snapUUID, p[0].LvolUUID)
		require.Equal(t, "backup-1", p[0].LvolName)
		require.Contains(t, p[0].Evidence["journal"], "earlier run in this target incarnation")
		require.Contains(t, p[0].Evidence["notify"], "bdev_unregister")
		require.Empty(t, r.of("resurrected"))
		require.NotNil(t, r.doc.DeleteSemantics)
		require.Equal(t, "forced", r.doc.DeleteSemantics.Semantics, "the clone names no base snapshot: %+v", r.doc.DeleteSemantics)
		pending[b.name+"/"+h.String()] = r.codes()

		out, err := exec.Command(lvfsckBin, "--log-level", "error", "log", "import", "--state-dir", state, tg.logf).CombinedOutput()
		require.NoError(t, err, "%s", out)

		tg2 := tg.restart("SIGINT")
		r = tg2.check(t, state)
		require.Equal(t, 4, r.code, "%s", r)
		require.NotEqual(t, inc1, r.doc.Incarnation, "a restart is a new incarnation")
		res := r.of("resurrected")
		require.Len(t, res, 1, "%s", r)
		require.Equal(t, snapUUID, res[0].LvolUUID)
		require.Contains(t, res[0].Evidence["journal"], "then gone (incarnation "+inc1+")")
		require.Contains(t, res[0].Evidence["log"], "forced removal")
		require.Empty(t, r.of("pending-resurrection"))
		require.NotNil(t, r.doc.DeleteSemantics)
		require.Equal(t, "forced", r.doc.DeleteSemantics.Semantics, "the drop recorded before the restart: %+v", r.doc.DeleteSemantics)
		require.Contains(t, r.doc.DeleteSemantics.From, "before the restart")
		back[b.name+"/"+h.String()] = r.codes()

		// The history tells the story of that lvol.
		hist, err := exec.Command(lvfsckBin, "--log-level", "error", "history", "--state-dir", state, snapUUID).CombinedOutput()
		require.NoError(t, err, "%s", hist)
		for _, want := range []string{"seen", "gone", "resurrected"} {
			require.Contains(t, string(hist), want)
		}
	})
	if t.Failed() {
		return
	}
	ran := slices.Sorted(maps.Keys(pending)) // those -run picked
	for _, key := range ran[1:] {
		require.Equal(t, pending[ran[0]], pending[key], "same findings before the restart: %s and %s", ran[0], key)
		require.Equal(t, back[ran[0]], back[key], "same findings after it: %s and %s", ran[0], key)
	}
}

// With keep-listed semantics (hypothetical) the same script leaves nothing
// to find.
func TestCheckKeepListedSemantics(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "keep-listed")
	setup(t, tg)
	require.Equal(t, 0, tg.check(t, state).code)
	delErr, hd := holdAndDelete(t, tg)
	require.Error(t, delErr)
	hd.wait()
	r := tg.check(t, state)
	require.Equal(t, 0, r.code, "busy refused, nothing changed: %s", r)
	require.NoError(t, tg.c.DeleteLvol(ctxT(t), "lvs-r/backup-1"), "a real delete once the checksum is done")
	r = tg.check(t, state)
	require.Equal(t, 0, r.code, "a real delete zeroes the blob: %s", r)
	tg.stop("SIGINT")
	tg2 := startSim(t, image, "--delete-semantics", "keep-listed")
	r = tg2.check(t, state)
	require.Equal(t, 0, r.code, "%s", r)
	require.Empty(t, r.of("resurrected"))
}

// An lvol persisted but never given a bdev in this target run (the sim's
// --fail-open, as SPDK #2608) is "not opened at load", not a forced removal.
// Sim only: fault injection (--fail-open); a real target cannot be told to fail one open.
func TestCheckNotOpenedAtLoad(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image)
	setup(t, tg)
	by, ok := tg.lvol("bystander")
	require.True(t, ok)
	require.Equal(t, 0, tg.check(t, state).code)
	tg.stop("SIGINT")

	tg2 := startSim(t, image, "--fail-open", by.UUID)
	_, listed := tg2.lvol("bystander")
	require.False(t, listed)
	r := tg2.check(t, state)
	no := r.of("not-opened-at-load")
	require.Len(t, no, 1, "%s", r)
	require.Equal(t, by.UUID, no[0].LvolUUID)
	require.Empty(t, r.of("pending-resurrection"), "%s", r)
	require.Empty(t, r.of("resurrected"), "%s", r)
}

// A forced removal followed by a new lvol under the same name: a name
// collision before the restart (naming both), and after it the lvol that
// lost the name, invisible with its clusters.
func TestCheckNameCollision(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "forced")
	oldUUID := setup(t, tg)
	require.Equal(t, 0, tg.check(t, state).code)
	delErr, hd := holdAndDelete(t, tg)
	require.Error(t, delErr)
	hd.wait()
	newUUID, err := tg.c.CreateLvol(ctxT(t), "lvs-r", "backup-1", 4, true)
	require.NoError(t, err, "the target accepts the name of a force-removed lvol")

	r := tg.check(t, state)
	require.Equal(t, 4, r.code, "%s", r)
	nc := r.of("name-collision")
	require.Len(t, nc, 1, "%s", r)
	require.Equal(t, oldUUID, nc[0].LvolUUID)
	require.Contains(t, nc[0].Message+nc[0].Evidence["live"], newUUID, "names the other lvol")
	// The newer, lighter lvol wins the name at the next load, so the old
	// blob will not come back visibly: the collision says it all.
	require.Empty(t, r.of("pending-resurrection"), "%s", r)

	tg.stop("SIGINT")
	tg2 := startSim(t, image, "--delete-semantics", "forced")
	l, ok := tg2.lvol("backup-1")
	require.True(t, ok)
	// The real v24.09 target gave the name to the newer lvol (three
	// restarts of three): its open (one page) completes before the old
	// snapshot's (chain and extent page).
	require.Equal(t, newUUID, l.UUID, "the newer lvol keeps the name")
	loser := oldUUID
	r = tg2.check(t, state)
	require.Equal(t, 4, r.code, "%s", r)
	nc = r.of("name-collision")
	require.Len(t, nc, 1, "%s", r)
	require.Equal(t, loser, nc[0].LvolUUID, "the invisible one")
	require.Contains(t, nc[0].Evidence["disk"], "clusters", "with its clusters")
	require.Empty(t, r.of("pending-resurrection"), "%s", r)
}

// Offline, the real binary on the captured pending-live images reports
// exactly the manifest's persisted_not_live lvol as pending resurrection.
func TestCheckOfflineCaptures(t *testing.T) {
	const fx = "../testdata/fixtures/"
	for _, tc := range []struct{ image, views, manifest, notify string }{
		{"notify-pending-live.img.gz", "notify.after-delete", "notify-pending-live.manifest.json", "notify.after-delete.notify_get_notifications.json"},
		{"resurrection-pending-live.img.gz", "resurrection.after-delete", "resurrection-pending-live.manifest.json", ""},
	} {
		t.Run(tc.image, func(t *testing.T) {
			m := testfix.ReadManifest(t, fx+tc.manifest)
			require.Len(t, m.PersistedNotLive, 1)
			args := []string{"--image", fx + tc.image,
				"--lvstores-json", fx + tc.views + ".bdev_lvol_get_lvstores.json",
				"--lvols-json", fx + tc.views + ".bdev_lvol_get_lvols.json",
				"--bdevs-json", fx + tc.views + ".bdev_get_bdevs.json"}
			if tc.notify != "" {
				args = append(args, "--notify-json", fx+tc.notify)
			}
			r := runCheck(t, args...)
			require.Equal(t, 4, r.code, "%s", r)
			p := r.of("pending-resurrection")
			require.Len(t, p, 1, "%s", r)
			require.Equal(t, m.PersistedNotLive[0].UUID, p[0].LvolUUID)
			require.Equal(t, m.PersistedNotLive[0].Name, p[0].LvolName)
		})
	}
}

// SIGKILL `lvfsck check` at random points, many times: the journal still
// opens, holds every run that had finished, and the next check works.
func TestCheckKilledJournalSurvives(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "forced")
	setup(t, tg)
	// A few more lvols, so that each run writes something.
	for i := range 20 {
		_, err := tg.c.CreateLvol(ctxT(t), "lvs-r", fmt.Sprintf("v%02d", i), 4, true)
		require.NoError(t, err)
	}
	// How long one undisturbed run takes sets the range of kill points.
	t0 := time.Now()
	require.Equal(t, 0, tg.check(t, state).code)
	span := time.Since(t0) + 20*time.Millisecond
	rng := rand.New(rand.NewPCG(4, uint64(time.Now().UnixNano())))
	finished, killed := 1, 0
	for i := range 40 {
		if i%8 == 7 { // change the view now and then, so observations differ
			_, err := tg.c.CreateLvol(ctxT(t), "lvs-r", fmt.Sprintf("w%02d", i), 4, true)
			require.NoError(t, err)
		}
		cmd := exec.Command(lvfsckBin, "--log-level", "error", "check", "--socket", tg.sock, "--state-dir", state)
		cmd.Stdout, cmd.Stderr = nil, nil
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "run %d ended on its own", i)
			finished++
		case <-time.After(time.Duration(rng.Int64N(int64(span)))):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			var ee *exec.ExitError
			if errors.As(err, &ee) && !ee.Exited() {
				killed++
			} else {
				require.NoError(t, err)
				finished++ // it finished just before the signal
			}
		}
	}
	t.Logf("%d runs killed, %d finished", killed, finished)
	require.Greater(t, killed, 5, "the kills must land inside runs")

	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err, "the journal opens after %d kills", killed)
	runs, err := j.Runs()
	require.NoError(t, err)
	done := 0
	for _, r := range runs {
		if !r.Unfinished() {
			done++
			require.Equal(t, 0, r.ExitCode)
		}
	}
	require.GreaterOrEqual(t, done, finished, "every finished run is there")
	require.LessOrEqual(t, len(runs), 41)
	require.NoError(t, j.Close())

	r := tg.check(t, state)
	require.Equal(t, 0, r.code, "%s", r)
	out, err := exec.Command(lvfsckBin, "history", "--json", "--state-dir", state).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// A target started with a relative image path names a relative AIO file:
// check finds it through the target's working directory, not its own.
func TestCheckRelativeDevice(t *testing.T) {
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "e2esock")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "spdk.sock")
	cmd := exec.Command(simBin, "serve", "--socket", sock, "--image", "disk.img", "--size", "64M")
	cmd.Dir = dir
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ctx := ctxT(t)
	c, err := spdk.DialWait(ctx, sock, 20*time.Millisecond)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.CreateLvstore(ctx, "aio0", "lvs-rel", 1<<20)
	require.NoError(t, err)
	_, err = c.CreateLvol(ctx, "lvs-rel", "v", 4, true)
	require.NoError(t, err)

	r := runCheck(t, "--socket", sock, "--no-journal")
	require.Equal(t, 0, r.code, "%s", r)
	require.Len(t, r.doc.Lvstores, 1)
	require.Equal(t, "disk+live", r.doc.Lvstores[0].Source, "the relative device was read")
	require.Positive(t, r.doc.ScannedBytes)
}
