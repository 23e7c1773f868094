package adapt

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/spdk"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

const fixtures = "../../testdata/fixtures"

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	return json.RawMessage(b)
}

// newTarget serves the captured answers of the resurrection scenario
// (before the delete) and the exported-namespace capture of reload.
func newTarget(t *testing.T) (*Target, *rpctest.Server) {
	t.Helper()
	s := rpctest.Start(t)
	s.HandleResult("bdev_lvol_get_lvstores", fixture(t, "resurrection.before-delete.bdev_lvol_get_lvstores.json"))
	s.HandleResult("bdev_lvol_get_lvols", fixture(t, "resurrection.before-delete.bdev_lvol_get_lvols.json"))
	s.HandleResult("bdev_get_bdevs", fixture(t, "resurrection.before-delete.bdev_get_bdevs.json"))
	s.HandleResult("nvmf_get_subsystems", fixture(t, "reload.exported.nvmf_get_subsystems.json"))
	var io map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(fixture(t, "iostat.bdev_get_iostat.json"), &io))
	s.HandleResult("bdev_get_iostat", io["bdev_get_iostat"])
	var methods []string
	require.NoError(t, json.Unmarshal(fixture(t, "notify.rpc_get_methods.json"), &methods))
	s.HandleResult("rpc_get_methods", methods)
	c, err := spdk.Dial(context.Background(), s.Path, spdk.WithTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return NewTarget(c), s
}

func TestTargetViewsFromCapturedAnswers(t *testing.T) {
	tg, _ := newTarget(t)
	ctx := context.Background()

	lvs, err := tg.Lvstores(ctx)
	require.NoError(t, err)
	require.Equal(t, []repair.Lvstore{{UUID: "6c2f21f7-0843-4fbe-8e23-40fee4c0120a", Name: "lvs-r", BaseBdev: "aio0"}}, lvs)

	lvols, err := tg.Lvols(ctx)
	require.NoError(t, err)
	by := map[string]repair.Lvol{}
	for _, l := range lvols {
		by[l.Name] = l
	}
	require.Len(t, by, 3)
	// Merged from bdev_get_bdevs: get_lvols of v24.09 has neither.
	require.Equal(t, "backup-1", by["replica-a"].BaseSnapshot)
	require.True(t, by["replica-a"].Clone)
	require.Equal(t, []string{"replica-a"}, by["backup-1"].Clones)
	require.True(t, by["backup-1"].Snapshot)
	require.Equal(t, "lvs-r/backup-1", by["backup-1"].Alias)
	require.Equal(t, "877aaf96-4cfd-4d02-85f9-f345a1de9362", by["backup-1"].UUID)
	require.Equal(t, "lvs-r", by["bystander"].LvstoreName)

	bdevs, err := tg.Bdevs(ctx)
	require.NoError(t, err)
	require.Equal(t, "aio0", bdevs[0].Name)
	require.Equal(t, "/var/lib/spdk/disks/resurrection.img", bdevs[0].AioFilename)
	require.Equal(t, uint32(4096), bdevs[0].BlockSize)
	require.True(t, bdevs[0].Claimed)

	nss, err := tg.Namespaces(ctx)
	require.NoError(t, err)
	require.Equal(t, []repair.Namespace{{NQN: "nqn.2016-06.io.spdk:test", NSID: 1, BdevName: "c76b8c0d-fb78-41cd-bf19-81c310158929"}}, nss,
		"the discovery subsystem has no namespaces; the lvol's is flattened")

	st, err := tg.IOStats(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, st)
	require.Equal(t, uint64(40960), st[0].BytesRead)
	require.Equal(t, uint64(40960+100663296), st[0].Bytes())

	has, err := tg.HasMethod(ctx, repair.MethodStopSnapshotChecksum)
	require.NoError(t, err)
	require.False(t, has, "v24.09 has no stop method")
	has, err = tg.HasMethod(ctx, "bdev_lvol_register_snapshot_checksum")
	require.NoError(t, err)
	require.True(t, has)
}

// The target's error answers, in the forms the captures show, reach the
// executor as repair's sentinels.
func TestTargetErrorsClassified(t *testing.T) {
	tg, s := newTarget(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		code    int
		message string
		want    error
		client  error
	}{
		{"busy as completion callbacks send it", -32603, "Device or resource busy", repair.ErrBusy, spdk.ErrBusy},
		{"busy as an errno", -16, "Device or resource busy", repair.ErrBusy, spdk.ErrBusy},
		{"no such device", -19, "No such device", repair.ErrNotFound, spdk.ErrNotFound},
		{"method not found", -32601, "Method not found", repair.ErrMethodNotFound, spdk.ErrMethodNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.HandleError("bdev_lvol_delete", tc.code, tc.message)
			s.HandleError(repair.MethodStopSnapshotChecksum, tc.code, tc.message)
			s.HandleError("nvmf_get_subsystems", tc.code, tc.message)
			err := tg.DeleteLvol(ctx, "lvs-r/backup-1")
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, tc.client, "the client's sentinel stays in the chain")
			require.Equal(t, 1, strings.Count(err.Error(), "bdev_lvol_delete"), "the method named once: %v", err)
			_, err = tg.Namespaces(ctx)
			require.Equal(t, 1, strings.Count(err.Error(), "nvmf_get_subsystems"), "the method named once: %v", err)
			require.ErrorIs(t, tg.StopSnapshotChecksum(ctx, "lvs-r/backup-1"), tc.want)
			_, err = tg.Namespaces(ctx)
			require.ErrorIs(t, err, tc.want)
		})
	}
	// Any other answer is passed through unclassified.
	s.HandleError("bdev_lvol_delete", -32603, "Input/output error")
	err := tg.DeleteLvol(ctx, "x")
	require.Error(t, err)
	for _, e := range []error{repair.ErrBusy, repair.ErrNotFound, repair.ErrMethodNotFound} {
		require.NotErrorIs(t, err, e)
	}
}

// A wedged unload never answers: AioDelete must come back when ctx is done.
func TestAioDeleteHonoursDeadline(t *testing.T) {
	tg, s := newTarget(t)
	s.SetFault("bdev_aio_delete", rpctest.Fault{Kind: rpctest.FaultNoAnswer})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := tg.AioDelete(ctx, "aio0")
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second)
	require.Equal(t, 1, s.Calls("bdev_aio_delete"))
}

func TestAioCreateSendsFileNameAndBlockSize(t *testing.T) {
	tg, s := newTarget(t)
	got := make(chan map[string]any, 1)
	s.Handle("bdev_aio_create", func(_ context.Context, p json.RawMessage) (any, error) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(p, &m))
		got <- m
		return "aio0", nil
	})
	require.NoError(t, tg.AioCreate(context.Background(), "/d/disk.img", "aio0", 4096))
	require.Equal(t, map[string]any{"name": "aio0", "filename": "/d/disk.img", "block_size": float64(4096)}, <-got)
}
