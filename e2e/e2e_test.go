package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
	"github.com/lvfsck/lvfsck/spdk"
)

// lvfsckBin and simBin are the binaries built once for every test: lvfsck,
// and the stand-in target (cmd/spdk-sim).
var lvfsckBin, simBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvfsck-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lvfsckBin, simBin = filepath.Join(dir, "lvfsck"), filepath.Join(dir, "spdk-sim")
	for bin, pkg := range map[string]string{lvfsckBin: "../cmd/lvfsck", simBin: "../cmd/spdk-sim"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg+":", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	t0 := time.Now()
	code := m.Run()
	if n, wait := realtgt.Stats(); n > 0 {
		// shown with -v or on failure: what the real tier cost this run.
		fmt.Printf("e2e: %d real spdk_tgt runs; %s in all, of which %s waiting for other processes' real targets\n",
			n, time.Since(t0).Round(time.Second), wait.Round(time.Second))
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// opDuration is the sim's busy window: short so the tests stay fast, long
// enough that a delete sent startLag after the operation began (a child
// process on a loaded CI machine, under -race) still lands inside it.
// (A story that sends its delete through a child `lvfsck delete` needs
// the process start, the dial and the pre-checks to fit in it: 1.5 s was
// too short once under -race at a load of 8.)
const opDuration = 3 * time.Second

// startLag is how long a test waits after starting a checksum before it
// deletes: the capture's 20 ms into the checksum, with room for the
// checksum's own request to reach the target first.
const startLag = 150 * time.Millisecond

// target is one running target: a `spdk-sim serve` child process or a
// real spdk_tgt (rt).
type target struct {
	t     *testing.T
	b     backend
	o     opts
	image string
	c     *spdk.Client
	sock  string
	logf  string
	// the sim's process
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	err    error         // its Wait error, once exited is closed
	// the real target
	rt *realtgt.Target
	// dataClusters is what setup gave the snapshot backup-1.
	dataClusters uint64
	nvmfTCP      bool // the TCP transport exists
}

// diskAndState names a fresh image and state directory for one test.
func diskAndState(t *testing.T) (image, state string) {
	dir := t.TempDir()
	return filepath.Join(dir, "disk.img"), filepath.Join(dir, "state")
}

// startSim runs the sim on image (created at 128 MiB when absent) and
// dials it. Every child is killed at test end and its socket removed.
func startSim(t *testing.T, image string, flags ...string) *target {
	t.Helper()
	dir, err := os.MkdirTemp("", "e2esock") // short: unix socket paths are limited
	require.NoError(t, err)
	tg := &target{t: t, b: simBackend, image: image, sock: filepath.Join(dir, "spdk.sock"), logf: image + ".log", exited: make(chan struct{})}
	args := append([]string{"serve", "--socket", tg.sock, "--image", image, "--size", "128M",
		"--op-duration", opDuration.String(), "--log-file", tg.logf}, flags...)
	tg.cmd = exec.Command(simBin, args...)
	// The child's own (zerolog) stderr goes to a file, read on failure.
	errPath := image + ".stderr"
	errFile, err := os.Create(errPath)
	require.NoError(t, err)
	defer errFile.Close()
	tg.cmd.Stderr = errFile
	require.NoError(t, tg.cmd.Start())
	go func() { tg.err = tg.cmd.Wait(); close(tg.exited) }()
	t.Cleanup(func() {
		if tg.c != nil {
			tg.c.Close()
		}
		select {
		case <-tg.exited:
		default:
			_ = tg.cmd.Process.Kill()
			<-tg.exited
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tg.c, err = spdk.DialWait(ctx, tg.sock, 20*time.Millisecond)
	if err != nil {
		msg, _ := os.ReadFile(errPath)
		t.Fatalf("sim did not come up: %v\n%s", err, msg)
	}
	return tg
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stop ends the target with spdk_kill_instance and waits for the process
// (the real target: SIGKILL, or a clean SIGINT shutdown for any other sig).
func (tg *target) stop(sig string) {
	tg.t.Helper()
	if tg.rt != nil {
		if sig == "SIGKILL" {
			tg.rt.Kill()
		} else {
			require.True(tg.t, tg.rt.Stop(20*time.Second), "clean shutdown on %s", sig)
			require.NoError(tg.t, tg.rt.ExitErr(), "clean exit")
		}
		tg.c = nil
		return
	}
	ctx := ctxT(tg.t)
	err := tg.c.KillInstance(ctx, sig)
	if sig == "SIGKILL" {
		require.Error(tg.t, err, "a SIGKILLed target never answers")
	} else {
		require.NoError(tg.t, err)
	}
	select {
	case <-tg.exited:
		err := tg.err
		if sig == "SIGKILL" {
			var ee *exec.ExitError
			require.True(tg.t, errors.As(err, &ee), "killed: %v", err)
		} else {
			require.NoError(tg.t, err, "clean exit")
		}
	case <-time.After(10 * time.Second):
		tg.t.Fatalf("target did not stop on %s", sig)
	}
	tg.c.Close()
	tg.c = nil
}

func (tg *target) lvol(name string) (spdk.Lvol, bool) {
	tg.t.Helper()
	lvols, err := tg.c.GetLvols(ctxT(tg.t), spdk.LvolQuery{})
	require.NoError(tg.t, err)
	for _, l := range lvols {
		if l.Name == name {
			return l, true
		}
	}
	return spdk.Lvol{}, false
}

func (tg *target) lvolDriver(name string) *spdk.LvolDriver {
	tg.t.Helper()
	b, err := tg.c.GetBdevs(ctxT(tg.t), name)
	require.NoError(tg.t, err)
	require.Len(tg.t, b, 1)
	require.NotNil(tg.t, b[0].DriverSpecific)
	return b[0].DriverSpecific.Lvol
}

// scanOK runs `lvfsck scan` on the image: a blobstore with no findings.
func scanOK(t *testing.T, image string) {
	t.Helper()
	out, err := exec.Command(lvfsckBin, "--log-level", "error", "scan", "--json", image).CombinedOutput()
	require.NoError(t, err, "lvfsck scan %s:\n%s", image, out)
	var v struct {
		Findings []json.RawMessage `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(out, &v), "%s", out)
	require.Empty(t, v.Findings)
}

// setup builds the resurrection scenario's lvstore: a replica with data,
// a thick bystander, and a snapshot of the replica, backup-1. On the sim the
// replica is thin with 24 MiB written (sim_lvol_write, a sim-only method);
// the real target has no write RPC, so its replica is thick: big enough for
// a checksum to stay busy (realBusyMiB), or 24 MiB for a shallow copy, whose
// slow destination makes the window.
func setup(t *testing.T, tg *target) (snapUUID string) {
	ctx := ctxT(t)
	c := tg.c
	tg.createLvstore("lvs-r")
	if tg.rt == nil {
		_, err := c.CreateLvol(ctx, "lvs-r", "replica-a", 32, true)
		require.NoError(t, err)
		require.NoError(t, c.Call(ctx, "sim_lvol_write", map[string]any{"name": "lvs-r/replica-a", "offset": 0, "length": 24 << 20}, nil))
		tg.dataClusters = 24
	} else {
		tg.dataClusters = 24
		if tg.o.hold == holdChecksum {
			tg.dataClusters = realBusyMiB
		}
		_, err := c.CreateLvol(ctx, "lvs-r", "replica-a", tg.dataClusters, false)
		require.NoError(t, err)
	}
	_, err := c.CreateLvol(ctx, "lvs-r", "bystander", 8, false)
	require.NoError(t, err)
	snapUUID, err = c.Snapshot(ctx, "lvs-r/replica-a", "backup-1")
	require.NoError(t, err)
	require.Equal(t, tg.dataClusters, tg.lvolDriver("lvs-r/backup-1").NumAllocatedClusters)
	return snapUUID
}

// held is an operation that holds a snapshot open.
type held struct {
	wait    func()      // until it has ended (a copy is let finish first)
	running func() bool // it still holds the snapshot
}

// holdAndDelete starts what holds the snapshot open (tg.o.hold: a checksum
// on a connection of its own, or a shallow copy to copyDest), deletes the
// snapshot meanwhile and returns the delete's error and the hold.
func holdAndDelete(t *testing.T, tg *target) (error, held) {
	ctx := ctxT(t)
	c := tg.c
	if tg.o.hold == holdCopy {
		dst := tg.copyDest()
		op, err := c.StartShallowCopy(ctx, "lvs-r/backup-1", dst)
		require.NoError(t, err)
		delErr := c.DeleteLvol(ctx, "lvs-r/backup-1")
		return delErr, held{wait: func() { tg.copyDone(c, op) }, running: func() bool {
			st, err := c.CheckShallowCopy(ctx, op)
			require.NoError(t, err)
			return st.State == "in progress"
		}}
	}
	h := startChecksum(t, tg, "lvs-r/backup-1", true)
	return c.DeleteLvol(ctx, "lvs-r/backup-1"), h
}

// The scenario through a checksum and a shallow copy: a busy
// delete is a forced removal (gone from the views, the clone without its
// base, retries "not found", one bdev_unregister); after a SIGKILL the image
// is consistent (recovery) and the restart brings the snapshot back.
func TestResurrectionForced(t *testing.T) {
	onBothHolds(t, func(t *testing.T, b backend, h hold) {
		image := tempImage(t)
		tg := b.start(t, image, opts{hold: h})
		snapUUID := setup(t, tg)

		delErr, hd := holdAndDelete(t, tg)
		require.ErrorIs(t, delErr, spdk.ErrBusy)
		_, listed := tg.lvol("backup-1")
		require.False(t, listed, "forced removal: gone from the live view")
		replica, ok := tg.lvol("replica-a")
		require.True(t, ok)
		require.True(t, replica.IsClone, "the clone still says clone")
		require.Empty(t, tg.lvolDriver("lvs-r/replica-a").BaseSnapshot, "with no base snapshot")
		require.ErrorIs(t, tg.c.DeleteLvol(ctxT(t), "lvs-r/backup-1"), spdk.ErrNotFound, "retry by name")
		require.ErrorIs(t, tg.c.DeleteLvol(ctxT(t), snapUUID), spdk.ErrNotFound, "retry by uuid")
		evs, err := tg.c.NotifyGetNotifications(ctxT(t), 0, 0)
		require.NoError(t, err)
		last := evs[len(evs)-1]
		require.Equal(t, "bdev_unregister", last.Type)
		require.Equal(t, snapUUID, last.Ctx)
		hd.wait()

		tg.stop("SIGKILL")
		scanOK(t, image) // dirty: recovery mode
		log, err := os.ReadFile(tg.logf)
		require.NoError(t, err)
		require.Contains(t, string(log), "Could not remove blob on lvol gracefully - forced removal")

		tg2 := tg.again()
		back, ok := tg2.lvol("backup-1")
		require.True(t, ok, "resurrected after the restart")
		require.Equal(t, snapUUID, back.UUID)
		require.Equal(t, tg.dataClusters, tg2.lvolDriver("lvs-r/backup-1").NumAllocatedClusters, "with its data clusters")
		require.Equal(t, "backup-1", tg2.lvolDriver("lvs-r/replica-a").BaseSnapshot)
		tg2.stop("SIGINT")
		scanOK(t, image) // clean
	})
}

// TestKeepListedThenDeletes: the hypothetical target that keeps a busy lvol
// listed (no captured target does; see TestFixedStory for the real fixed one).
func TestKeepListedThenDeletes(t *testing.T) {
	image := filepath.Join(t.TempDir(), "disk.img")
	tg := startSim(t, image, "--delete-semantics", "keep-listed")
	snapUUID := setup(t, tg)
	delErr, hd := holdAndDelete(t, tg)
	require.ErrorIs(t, delErr, spdk.ErrBusy)
	l, ok := tg.lvol("backup-1")
	require.True(t, ok, "keep-listed: nothing changes on busy")
	require.Equal(t, snapUUID, l.UUID)
	hd.wait()
	require.NoError(t, tg.c.DeleteLvol(ctxT(t), "lvs-r/backup-1"), "deleted once the checksum is done")
	_, ok = tg.lvol("backup-1")
	require.False(t, ok)
	tg.stop("SIGKILL")
	scanOK(t, image)

	tg2 := startSim(t, image, "--delete-semantics", "keep-listed")
	_, ok = tg2.lvol("backup-1")
	require.False(t, ok, "a real delete does not come back")
	require.Equal(t, uint64(24), tg2.lvolDriver("lvs-r/replica-a").NumAllocatedClusters, "the clone got the snapshot's clusters")
	tg2.stop("SIGTERM")
	scanOK(t, image)
}
