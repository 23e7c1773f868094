package spdk_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// recorder answers method with result and keeps the params it got.
type recorder struct {
	mu     sync.Mutex
	params map[string]json.RawMessage
}

func (r *recorder) handle(s *rpctest.Server, method string, result any) {
	s.Handle(method, func(_ context.Context, p json.RawMessage) (any, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.params[method] = append(json.RawMessage(nil), p...)
		return result, nil
	})
}

func (r *recorder) got(method string) json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.params[method]
}

// TestTypedMethods checks each method's name and parameter names (the
// ones the captured requests of the real target used) and its result.
func TestTypedMethods(t *testing.T) {
	s := rpctest.Start(t)
	c := dial(t, s)
	r := &recorder{params: map[string]json.RawMessage{}}
	ctx := func() context.Context { return short(t, 2*time.Second) }

	cases := []struct {
		method string
		result any
		params string // "" = no params member
		call   func(t *testing.T)
	}{
		{"spdk_get_version", fixtureVersion(t), "", func(t *testing.T) {
			v, err := c.GetVersion(ctx())
			require.NoError(t, err)
			require.Equal(t, "SPDK v24.09.1-pre git sha1 1975133e9", v.Version)
		}},
		{"bdev_lvol_get_lvstores", fixture(t, "resurrection.after-delete.bdev_lvol_get_lvstores.json"), `{"lvs_name":"lvs-r"}`, func(t *testing.T) {
			l, err := c.GetLvstores(ctx(), spdk.LvstoreQuery{Name: "lvs-r"})
			require.NoError(t, err)
			require.Len(t, l, 1)
			require.Equal(t, uint64(1<<20), l[0].ClusterSize)
		}},
		{"bdev_lvol_get_lvols", fixture(t, "resurrection.after-delete.bdev_lvol_get_lvols.json"), `{"lvs_uuid":"u"}`, func(t *testing.T) {
			l, err := c.GetLvols(ctx(), spdk.LvolQuery{LvsUUID: "u"})
			require.NoError(t, err)
			require.Len(t, l, 2)
		}},
		{"bdev_get_bdevs", fixture(t, "resurrection.after-delete.bdev_get_bdevs.json"), `{"name":"aio0"}`, func(t *testing.T) {
			b, err := c.GetBdevs(ctx(), "aio0")
			require.NoError(t, err)
			require.Equal(t, "aio0", b[0].Name)
		}},
		{"bdev_lvol_delete", true, `{"name":"lvs-r/backup-1"}`, func(t *testing.T) {
			require.NoError(t, c.DeleteLvol(ctx(), "lvs-r/backup-1"))
		}},
		{"bdev_lvol_get_xattr", "replica-a", `{"name":"lvs0/vol-thick","xattr_name":"longhorn.io/owner"}`, func(t *testing.T) {
			v, err := c.GetXattr(ctx(), "lvs0/vol-thick", "longhorn.io/owner")
			require.NoError(t, err)
			require.Equal(t, "replica-a", v)
		}},
		{"bdev_lvol_set_xattr", true, `{"name":"lvs0/vol-thick","xattr_name":"longhorn.io/owner","xattr_value":"replica-a"}`, func(t *testing.T) {
			require.NoError(t, c.SetXattr(ctx(), "lvs0/vol-thick", "longhorn.io/owner", "replica-a"))
		}},
		{"nvmf_get_subsystems", fixture(t, "reload.exported.nvmf_get_subsystems.json"), "", func(t *testing.T) {
			n, err := c.GetNvmfSubsystems(ctx())
			require.NoError(t, err)
			require.Len(t, n[1].Namespaces, 1)
		}},
		{"bdev_lvol_start_shallow_copy", json.RawMessage(`{"operation_id": 2}`), `{"src_lvol_name":"lvs-r/snap-x","dst_bdev_name":"dst-delay"}`, func(t *testing.T) {
			id, err := c.StartShallowCopy(ctx(), "lvs-r/snap-x", "dst-delay")
			require.NoError(t, err)
			require.Equal(t, uint32(2), id)
		}},
		{"bdev_lvol_check_shallow_copy", json.RawMessage(`{"copied_clusters": 4, "total_clusters": 96, "state": "in progress"}`), `{"operation_id":2}`, func(t *testing.T) {
			st, err := c.CheckShallowCopy(ctx(), 2)
			require.NoError(t, err)
			require.Equal(t, spdk.ShallowCopyStatus{CopiedClusters: 4, TotalClusters: 96, State: spdk.ShallowCopyInProgress}, st)
		}},
		{"notify_get_types", fixture(t, "notify.notify_get_types.json"), "", func(t *testing.T) {
			ty, err := c.NotifyGetTypes(ctx())
			require.NoError(t, err)
			require.Contains(t, ty, spdk.NotifyBdevUnregister)
		}},
		{"notify_get_notifications", fixture(t, "notify.after-delete.notify_get_notifications.json"), `{"id":5,"max":100}`, func(t *testing.T) {
			ev, err := c.NotifyGetNotifications(ctx(), 5, 100)
			require.NoError(t, err)
			require.Len(t, ev, 12)
		}},
		{"bdev_get_iostat", json.RawMessage(`{"tick_rate":1,"ticks":2,"bdevs":[{"name":"aio0","bytes_read":4096,"io_error":{}}]}`), `{"name":"aio0"}`, func(t *testing.T) {
			st, err := c.GetIostat(ctx(), "aio0")
			require.NoError(t, err)
			require.Equal(t, uint64(4096), st.Bdevs[0].BytesRead)
		}},
		{"bdev_aio_create", "aio0", `{"name":"aio0","filename":"/var/lib/spdk/disks/r.img","block_size":4096}`, func(t *testing.T) {
			n, err := c.AioCreate(ctx(), "aio0", "/var/lib/spdk/disks/r.img", 4096)
			require.NoError(t, err)
			require.Equal(t, "aio0", n)
		}},
		{"bdev_aio_delete", true, `{"name":"aio0"}`, func(t *testing.T) {
			require.NoError(t, c.AioDelete(ctx(), "aio0"))
		}},
		{"bdev_lvol_register_snapshot_checksum", true, `{"name":"lvs-r/snap-x"}`, func(t *testing.T) {
			require.NoError(t, c.RegisterSnapshotChecksum(ctx(), "lvs-r/snap-x"))
		}},
		{"bdev_lvol_get_snapshot_checksum", json.RawMessage(`{"checksum": 1308139212583237457}`), `{"name":"lvs-r/snap-x"}`, func(t *testing.T) {
			sum, err := c.GetSnapshotChecksum(ctx(), "lvs-r/snap-x")
			require.NoError(t, err)
			require.Equal(t, uint64(1308139212583237457), sum)
		}},
		{"bdev_lvol_stop_snapshot_checksum", true, `{"name":"lvs-r/snap-x"}`, func(t *testing.T) {
			require.NoError(t, c.StopSnapshotChecksum(ctx(), "lvs-r/snap-x"))
		}},
		{"bdev_lvol_create_lvstore", "6c2f21f7-0843-4fbe-8e23-40fee4c0120a", `{"bdev_name":"aio0","lvs_name":"lvs-r","cluster_sz":1048576}`, func(t *testing.T) {
			u, err := c.CreateLvstore(ctx(), "aio0", "lvs-r", 1<<20)
			require.NoError(t, err)
			require.Equal(t, "6c2f21f7-0843-4fbe-8e23-40fee4c0120a", u)
		}},
		{"bdev_lvol_create", "9729f55a-a503-4ddd-bec1-9d3e356b390f", `{"lvol_name":"replica-a","size_in_mib":32,"thin_provision":true,"lvs_name":"lvs-r"}`, func(t *testing.T) {
			u, err := c.CreateLvol(ctx(), "lvs-r", "replica-a", 32, true)
			require.NoError(t, err)
			require.NotEmpty(t, u)
		}},
		{"bdev_lvol_snapshot", "u", `{"lvol_name":"lvs0/vol-thin","snapshot_name":"snap1"}`, func(t *testing.T) {
			_, err := c.Snapshot(ctx(), "lvs0/vol-thin", "snap1")
			require.NoError(t, err)
		}},
		{"bdev_lvol_clone", "u", `{"snapshot_name":"lvs0/snap1","clone_name":"clone1"}`, func(t *testing.T) {
			_, err := c.Clone(ctx(), "lvs0/snap1", "clone1")
			require.NoError(t, err)
		}},
		{"bdev_lvol_rename", true, `{"old_name":"lvs0/vol-old-name","new_name":"vol-renamed"}`, func(t *testing.T) {
			require.NoError(t, c.RenameLvol(ctx(), "lvs0/vol-old-name", "vol-renamed"))
		}},
		{"bdev_lvol_resize", true, `{"name":"lvs0/vol-thick","size_in_mib":12}`, func(t *testing.T) {
			require.NoError(t, c.ResizeLvol(ctx(), "lvs0/vol-thick", 12))
		}},
		{"spdk_kill_instance", true, `{"sig_name":"SIGINT"}`, func(t *testing.T) {
			require.NoError(t, c.KillInstance(ctx(), "SIGINT"))
		}},
		{"nvmf_create_subsystem", true, `{"nqn":"nqn.2016-06.io.spdk:test","allow_any_host":true}`, func(t *testing.T) {
			require.NoError(t, c.NvmfCreateSubsystem(ctx(), "nqn.2016-06.io.spdk:test", true))
		}},
		{"nvmf_subsystem_add_ns", 1, `{"nqn":"nqn.2016-06.io.spdk:test","namespace":{"bdev_name":"lvs-r/vol"}}`, func(t *testing.T) {
			id, err := c.NvmfSubsystemAddNs(ctx(), "nqn.2016-06.io.spdk:test", "lvs-r/vol")
			require.NoError(t, err)
			require.Equal(t, uint32(1), id)
		}},
		{"bdev_lvol_delete_lvstore", true, `{"lvs_name":"lvs-stage"}`, func(t *testing.T) {
			require.NoError(t, c.DeleteLvstore(ctx(), spdk.LvstoreQuery{Name: "lvs-stage"}))
		}},
		{"bdev_lvol_set_read_only", true, `{"name":"store-default/a"}`, func(t *testing.T) {
			require.NoError(t, c.SetReadOnly(ctx(), "store-default/a"))
		}},
		{"framework_wait_init", true, "", func(t *testing.T) {
			require.NoError(t, c.FrameworkWaitInit(ctx()))
		}},
		{"bdev_wait_for_examine", true, "", func(t *testing.T) {
			require.NoError(t, c.WaitForExamine(ctx()))
		}},
		{"rpc_get_methods", fixture(t, "notify.rpc_get_methods.json"), "", func(t *testing.T) {
			m, err := c.RpcGetMethods(ctx())
			require.NoError(t, err)
			require.Len(t, m, 241)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			r.handle(s, tc.method, tc.result)
			tc.call(t)
			got := r.got(tc.method)
			if tc.params == "" {
				require.Nil(t, got, "no params member")
			} else {
				require.JSONEq(t, tc.params, string(got))
			}
		})
	}
}

func TestEmptyQueriesSendNoParams(t *testing.T) {
	s := rpctest.Start(t)
	c := dial(t, s)
	r := &recorder{params: map[string]json.RawMessage{}}
	r.handle(s, "bdev_lvol_get_lvols", []int{})
	r.handle(s, "bdev_lvol_get_lvstores", []int{})
	r.handle(s, "bdev_get_bdevs", []int{})
	r.handle(s, "bdev_get_iostat", json.RawMessage(`{"tick_rate":1,"ticks":1,"bdevs":[]}`))
	r.handle(s, "notify_get_notifications", []int{})
	_, err := c.GetLvols(short(t, time.Second), spdk.LvolQuery{})
	require.NoError(t, err)
	_, err = c.GetLvstores(short(t, time.Second), spdk.LvstoreQuery{})
	require.NoError(t, err)
	_, err = c.GetBdevs(short(t, time.Second), "")
	require.NoError(t, err)
	_, err = c.GetIostat(short(t, time.Second), "")
	require.NoError(t, err)
	for _, m := range []string{"bdev_lvol_get_lvols", "bdev_lvol_get_lvstores", "bdev_get_bdevs", "bdev_get_iostat"} {
		require.Nil(t, r.got(m), m)
	}
	_, err = c.NotifyGetNotifications(short(t, time.Second), 0, 0)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":0}`, string(r.got("notify_get_notifications")))
}

func TestBoolMethodAnsweringFalse(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("bdev_lvol_delete", false)
	c := dial(t, s)
	require.ErrorIs(t, c.DeleteLvol(short(t, time.Second), "x"), spdk.ErrProtocol)
}

func TestHasMethodCaches(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("rpc_get_methods", fixture(t, "notify.rpc_get_methods.json"))
	s.HandleResult("spdk_get_version", fixtureVersion(t))
	c := dial(t, s)
	ok, err := c.HasMethod(short(t, time.Second), "bdev_lvol_register_snapshot_checksum")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = c.HasMethod(short(t, time.Second), "bdev_lvol_stop_snapshot_checksum")
	require.NoError(t, err)
	require.False(t, ok, "the v24.09 fork lacks it")
	require.Equal(t, 1, s.Calls("rpc_get_methods"), "cached")

	// A restarted target may be another version: ask again.
	require.NoError(t, s.Restart())
	_, err = c.GetVersion(short(t, time.Second))
	require.NoError(t, err)
	_, err = c.HasMethod(short(t, time.Second), "bdev_lvol_delete")
	require.NoError(t, err)
	require.Equal(t, 2, s.Calls("rpc_get_methods"))

	s.HandleError("rpc_get_methods", -32603, "boom")
	require.NoError(t, s.Restart())
	_, err = c.GetVersion(short(t, time.Second))
	require.NoError(t, err)
	_, err = c.HasMethod(short(t, time.Second), "bdev_lvol_delete")
	require.Error(t, err)
}
