package e2e

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/spdk"
)

const simNQN = "nqn.2016-06.io.spdk:test"

// simExport exports lvol name over NVMe-oF as the reload capture did.
func simExport(t *testing.T, tg *target, name string) {
	t.Helper()
	ctx := ctxT(t)
	require.NoError(t, tg.c.Call(ctx, "nvmf_create_transport", map[string]any{"trtype": "TCP"}, nil))
	require.NoError(t, tg.c.Call(ctx, "nvmf_create_subsystem", map[string]any{"nqn": simNQN, "allow_any_host": true}, nil))
	var nsid uint32
	require.NoError(t, tg.c.Call(ctx, "nvmf_subsystem_add_ns", map[string]any{"nqn": simNQN,
		"namespace": map[string]any{"bdev_name": name}}, &nsid))
	require.Equal(t, uint32(1), nsid)
}

func simNamespaces(t *testing.T, tg *target) []spdk.NvmfNamespace {
	t.Helper()
	subs, err := tg.c.GetNvmfSubsystems(ctxT(t))
	require.NoError(t, err)
	require.Len(t, subs, 2, "discovery and %s", simNQN)
	require.Equal(t, "Discovery", subs[0].Subtype)
	return subs[1].Namespaces
}

// TestSimReloadExported: on the binary, the capture's reload with an
// exported clone: the forced removal, bdev_aio_delete (namespaces dropped
// silently, clean unload), bdev_aio_create (the snapshot is back with its
// uuid, the clone has its base snapshot again, the namespace does not come
// back), then a real delete that holds across a restart.
func TestSimReloadExported(t *testing.T) {
	image := filepath.Join(t.TempDir(), "disk.img")
	tg := startSim(t, image)
	snapUUID := setup(t, tg)
	simExport(t, tg, "lvs-r/replica-a")
	b, err := tg.c.GetBdevs(ctxT(t), "lvs-r/replica-a")
	require.NoError(t, err)
	require.True(t, b[0].Claimed)
	require.Equal(t, "exclusive_write", b[0].ClaimType)
	ns := simNamespaces(t, tg)
	require.Len(t, ns, 1)
	require.Equal(t, b[0].UUID, ns[0].BdevName)

	delErr, hd := holdAndDelete(t, tg)
	require.ErrorIs(t, delErr, spdk.ErrBusy)
	hd.wait()
	_, ok := tg.lvol("backup-1")
	require.False(t, ok)

	require.NoError(t, tg.c.AioDelete(ctxT(t), "aio0"))
	require.Empty(t, simNamespaces(t, tg), "the aio delete dropped the namespace")
	lvols, err := tg.c.GetLvols(ctxT(t), spdk.LvolQuery{})
	require.NoError(t, err)
	require.Empty(t, lvols)
	scanOK(t, image) // unloaded cleanly: no findings, and clean

	name, err := tg.c.AioCreate(ctxT(t), "aio0", image, 4096)
	require.NoError(t, err)
	require.Equal(t, "aio0", name)
	back, ok := tg.lvol("backup-1")
	require.True(t, ok, "the reload brought the snapshot back")
	require.Equal(t, snapUUID, back.UUID)
	require.Equal(t, "backup-1", tg.lvolDriver("lvs-r/replica-a").BaseSnapshot)
	require.Empty(t, simNamespaces(t, tg), "the reload does not re-export")

	require.NoError(t, tg.c.DeleteLvol(ctxT(t), "lvs-r/backup-1"))
	tg.stop("SIGINT")
	scanOK(t, image)
	tg2 := startSim(t, image)
	_, ok = tg2.lvol("backup-1")
	require.False(t, ok, "deleted for good")
	tg2.stop("SIGINT")
}

// TestSimWedgeNeedsKill: on the binary, a stalled shallow copy holds the
// snapshot with the base bdev's iostat flat; bdev_aio_delete meanwhile
// never answers (a caller's deadline is all that ends the call), aio0 can
// no longer be re-created, SIGINT does not end the process (it still
// answers), only a kill does, and the next start recovers every lvol.
func TestSimWedgeNeedsKill(t *testing.T) {
	image := filepath.Join(t.TempDir(), "disk.img")
	tg := startSim(t, image, "--flavor", "upstream", "--op-duration", "2s", "--stall-copy")
	snapUUID := setup(t, tg)
	ctx := ctxT(t)
	_, err := tg.c.CreateLvol(ctx, "lvs-r", "dst", 32, true)
	require.NoError(t, err)
	_, err = tg.c.StartShallowCopy(ctx, "lvs-r/backup-1", "lvs-r/dst")
	require.NoError(t, err)
	a, err := tg.c.GetIostat(ctx, "aio0")
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	b, err := tg.c.GetIostat(ctx, "aio0")
	require.NoError(t, err)
	require.Equal(t, a.Bdevs[0].BytesRead, b.Bdevs[0].BytesRead, "stalled: quiet base bdev while the copy holds the snapshot")

	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = tg.c.AioDelete(dctx, "aio0")
	require.ErrorIs(t, err, context.DeadlineExceeded, "no answer")
	require.Less(t, time.Since(start), 5*time.Second)
	_, err = tg.c.AioCreate(ctx, "aio0", image, 4096)
	require.ErrorIs(t, err, spdk.ErrExists)
	bdevs, err := tg.c.GetBdevs(ctx, "")
	require.NoError(t, err)
	require.Empty(t, bdevs)

	require.NoError(t, tg.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-tg.exited:
		t.Fatal("a wedged target exited on SIGINT")
	case <-time.After(500 * time.Millisecond):
	}
	_, err = tg.c.GetVersion(ctx)
	require.NoError(t, err, "still answering while it cannot shut down")
	require.NoError(t, tg.cmd.Process.Kill())
	<-tg.exited
	log, err := os.ReadFile(tg.logf)
	require.NoError(t, err)
	require.Contains(t, string(log), "Unable to unregister bdev 'aio0' during spdk_bdev_finish()")
	tg.c.Close()
	tg.c = nil

	scanOK(t, image) // dirty, recovery mode
	tg2 := startSim(t, image, "--flavor", "upstream")
	back, ok := tg2.lvol("backup-1")
	require.True(t, ok)
	require.Equal(t, snapUUID, back.UUID)
	tg2.stop("SIGINT")
}
