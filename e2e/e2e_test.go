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

	"github.com/lvfsck/lvfsck/spdk"
)

// lvfsckBin is the binary built once for every test.
var lvfsckBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvfsck-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lvfsckBin = filepath.Join(dir, "lvfsck")
	build := exec.Command("go", "build", "-o", lvfsckBin, "../cmd/lvfsck")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lvfsck:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// opDuration is the sim's busy window: short so the tests stay fast, long
// enough that a delete sent startLag after the operation began (a child
// process on a loaded CI machine, under -race) still lands inside it.
const opDuration = 1500 * time.Millisecond

// startLag is how long a test waits after starting a checksum before it
// deletes: the capture's 20 ms into the checksum, with room for the
// checksum's own request to reach the target first.
const startLag = 150 * time.Millisecond

// target is one `lvfsck sim serve` child process.
type target struct {
	t      *testing.T
	cmd    *exec.Cmd
	c      *spdk.Client
	sock   string
	logf   string
	exited chan struct{} // closed when the process has been waited for
	err    error         // its Wait error, once exited is closed
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
	tg := &target{t: t, sock: filepath.Join(dir, "spdk.sock"), logf: image + ".log", exited: make(chan struct{})}
	args := append([]string{"sim", "serve", "--socket", tg.sock, "--image", image, "--size", "128M",
		"--op-duration", opDuration.String(), "--log-file", tg.logf}, flags...)
	tg.cmd = exec.Command(lvfsckBin, args...)
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

// stop ends the target with spdk_kill_instance and waits for the process.
func (tg *target) stop(sig string) {
	tg.t.Helper()
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

// setup builds the resurrection scenario's lvstore: a thin replica with
// 24 MiB written, a thick bystander, and a snapshot of the replica.
func setup(t *testing.T, tg *target) (snapUUID string) {
	ctx := ctxT(t)
	c := tg.c
	_, err := c.CreateLvstore(ctx, "aio0", "lvs-r", 1<<20)
	require.NoError(t, err)
	_, err = c.CreateLvol(ctx, "lvs-r", "replica-a", 32, true)
	require.NoError(t, err)
	_, err = c.CreateLvol(ctx, "lvs-r", "bystander", 8, false)
	require.NoError(t, err)
	// sim-only: the clusters a 24 MiB write allocates.
	require.NoError(t, c.Call(ctx, "sim_lvol_write", map[string]any{"name": "lvs-r/replica-a", "offset": 0, "length": 24 << 20}, nil))
	snapUUID, err = c.Snapshot(ctx, "lvs-r/replica-a", "backup-1")
	require.NoError(t, err)
	require.Equal(t, uint64(24), tg.lvolDriver("lvs-r/backup-1").NumAllocatedClusters)
	return snapUUID
}

// holdAndDelete starts what holds the snapshot open (a checksum, or a
// shallow copy for upstream), deletes the snapshot meanwhile and returns
// the delete's error and a wait for the hold to end.
func holdAndDelete(t *testing.T, tg *target, upstream bool) (error, func()) {
	ctx := ctxT(t)
	c := tg.c
	if upstream {
		_, err := c.CreateLvol(ctx, "lvs-r", "dst", 32, true)
		require.NoError(t, err)
		op, err := c.StartShallowCopy(ctx, "lvs-r/backup-1", "lvs-r/dst")
		require.NoError(t, err)
		delErr := c.DeleteLvol(ctx, "lvs-r/backup-1")
		return delErr, func() {
			require.Eventually(t, func() bool {
				st, err := c.CheckShallowCopy(ctx, op)
				require.NoError(t, err)
				return st.State == "complete"
			}, 10*time.Second, 20*time.Millisecond)
		}
	}
	done := make(chan error, 1)
	go func() { done <- c.RegisterSnapshotChecksum(ctx, "lvs-r/backup-1") }()
	time.Sleep(startLag)
	delErr := c.DeleteLvol(ctx, "lvs-r/backup-1")
	return delErr, func() { require.NoError(t, <-done, "checksum") }
}

func TestResurrectionForced(t *testing.T) {
	for _, flavor := range []string{"longhorn-v24.09", "upstream"} {
		t.Run(flavor, func(t *testing.T) {
			image := filepath.Join(t.TempDir(), "disk.img")
			tg := startSim(t, image, "--flavor", flavor, "--delete-semantics", "forced")
			snapUUID := setup(t, tg)

			delErr, wait := holdAndDelete(t, tg, flavor == "upstream")
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
			wait()

			tg.stop("SIGKILL")
			scanOK(t, image) // dirty: recovery mode
			log, err := os.ReadFile(tg.logf)
			require.NoError(t, err)
			require.Contains(t, string(log), "Could not remove blob on lvol gracefully - forced removal")

			tg2 := startSim(t, image, "--flavor", flavor)
			back, ok := tg2.lvol("backup-1")
			require.True(t, ok, "resurrected after the restart")
			require.Equal(t, snapUUID, back.UUID)
			require.Equal(t, uint64(24), tg2.lvolDriver("lvs-r/backup-1").NumAllocatedClusters, "with its data clusters")
			require.Equal(t, "backup-1", tg2.lvolDriver("lvs-r/replica-a").BaseSnapshot)
			tg2.stop("SIGINT")
			scanOK(t, image) // clean
		})
	}
}

// TestKeepListedThenDeletes: the hypothetical target that keeps a busy lvol
// listed (no captured target does; see TestFixedStory for the real fixed one).
func TestKeepListedThenDeletes(t *testing.T) {
	image := filepath.Join(t.TempDir(), "disk.img")
	tg := startSim(t, image, "--delete-semantics", "keep-listed")
	snapUUID := setup(t, tg)
	delErr, wait := holdAndDelete(t, tg, false)
	require.ErrorIs(t, delErr, spdk.ErrBusy)
	l, ok := tg.lvol("backup-1")
	require.True(t, ok, "keep-listed: nothing changes on busy")
	require.Equal(t, snapUUID, l.UUID)
	wait()
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
