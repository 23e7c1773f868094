package sim

import (
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/stretchr/testify/require"
)

func TestScanCleanAndAfterKill(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	require.NoError(t, r.tgt.Shutdown())
	v := r.disk()
	require.Empty(t, v.Problems)
	require.True(t, v.Clean)
	require.Len(t, v.ld.Blobs, 4)

	r.restart(false) // the previous one is stopped: restart from its image
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "late", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	r.tgt.Crash()
	v = r.disk()
	require.Empty(t, v.Problems)
	require.False(t, v.Clean)
	_, ok := v.lvol("late")
	require.True(t, ok)
}

func TestForcedRemovalAndResurrection(t *testing.T) {
	r := newRig(t, Config{DeleteSemantics: DeleteForced})
	_, volUUID, snapUUID := r.setup()
	before := r.disk()
	snapBlob, ok := before.lvol("snap")
	require.True(t, ok)

	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, &RPCError{Code: -32603, Message: "Device or resource busy"}, e)

	_, ok = r.lvol("snap")
	require.False(t, ok, "a forced removal drops the lvol from the live view")
	vol, ok := r.lvol("vol")
	require.True(t, ok)
	require.True(t, vol.IsClone, "the clone still says clone, with no base snapshot")
	var bdevs []bdevJSON
	r.ok("bdev_get_bdevs", map[string]any{"name": volUUID}, &bdevs)
	require.Nil(t, bdevs[0].DriverSpecific.Lvol.BaseSnapshot)
	require.True(t, bdevs[0].DriverSpecific.Lvol.Clone)

	for _, name := range []string{"lvs-r/snap", snapUUID} {
		_, e = r.call("bdev_lvol_delete", map[string]any{"name": name})
		require.Equal(t, errNoDev, e, name)
	}
	var evs []Event
	r.ok("notify_get_notifications", nil, &evs)
	require.Equal(t, Event{Type: EventBdevUnregister, Ctx: snapUUID, ID: evs[len(evs)-1].ID}, evs[len(evs)-1])

	require.Nil(t, <-done, "the checksum completes")
	log := r.log.String()
	require.Contains(t, log, "bs_is_blob_deletable: *ERROR*: Cannot remove snapshot because it is open")
	require.Contains(t, log, "lvol_delete_blob_cb: *ERROR*: Could not remove blob on lvol gracefully - forced removal")

	// The blob stays on disk untouched (pages and clusters), so a restart
	// brings the snapshot back with the same uuid and clusters.
	mid := r.disk()
	still, ok := mid.lvol("snap")
	require.True(t, ok)
	require.Equal(t, snapBlob.Chain, still.Chain)
	require.Equal(t, snapBlob.Clusters, still.Clusters)

	r.restart(true)
	back, ok := r.lvol("snap")
	require.True(t, ok, "resurrected")
	require.Equal(t, snapUUID, back.UUID)
	r.ok("bdev_get_bdevs", map[string]any{"name": volUUID}, &bdevs)
	require.Equal(t, "snap", *bdevs[0].DriverSpecific.Lvol.BaseSnapshot)
	var sum struct{ Checksum uint64 }
	r.ok("bdev_lvol_get_snapshot_checksum", map[string]any{"name": "lvs-r/snap"}, &sum)
	require.NotZero(t, sum.Checksum, "the checksum xattr was written on the force-removed blob")
	after := r.disk()
	require.Empty(t, after.Problems)
	again, _ := after.lvol("snap")
	require.Equal(t, snapBlob.Clusters, again.Clusters)
}

// TestKeepListedSemanticsKeepsTheSnapshot: the hypothetical target that
// keeps a busy lvol listed (no captured target does).
func TestKeepListedSemanticsKeepsTheSnapshot(t *testing.T) {
	r := newRig(t, Config{DeleteSemantics: DeleteKeepListed})
	r.setup()
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	_, ok := r.lvol("snap")
	require.True(t, ok)
	require.Nil(t, <-done)
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"}, nil)
	_, ok = r.lvol("snap")
	require.False(t, ok)
	// A real delete zeroes the md pages and hands the clusters to the clone.
	v := r.disk()
	_, ok = v.lvol("snap")
	require.False(t, ok)
	vol, _ := v.lvol("vol")
	require.Equal(t, uint64(24), (&blob{BlobState: vol}).allocated())
	require.Zero(t, vol.Parent)
	r.restart(true)
	_, ok = r.lvol("snap")
	require.False(t, ok, "a real delete stays deleted")
	require.Empty(t, r.disk().Problems)
}

func TestRefusalsAndErrors(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	r.ok("bdev_lvol_clone", map[string]any{"snapshot_name": "lvs-r/snap", "clone_name": "c2"}, nil)
	tests := []struct {
		method string
		params any
		want   *RPCError
	}{
		{"bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"}, &RPCError{-32603, "Operation not permitted"}},
		{"bdev_lvol_delete", map[string]any{"name": "lvs-r/nope"}, &RPCError{-19, "No such device"}},
		{"bdev_lvol_delete", map[string]any{}, &RPCError{-32603, "spdk_json_decode_object failed"}},
		{"bdev_lvol_create", map[string]any{"lvol_name": "vol", "size_in_mib": 1, "lvs_name": "lvs-r"}, &RPCError{-17, "File exists"}},
		{"bdev_lvol_create", map[string]any{"lvol_name": "x", "size_in_mib": 1, "lvs_name": "nope"}, &RPCError{-19, "No such device"}},
		{"bdev_lvol_create", map[string]any{"lvol_name": "x", "size_in_mib": 1000, "lvs_name": "lvs-r"}, &RPCError{-32602, "No space left on device"}},
		{"bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-r/vol", "snapshot_name": "c2"}, &RPCError{-32602, "File exists"}},
		{"bdev_lvol_get_snapshot_checksum", map[string]any{"name": "lvs-r/snap"}, &RPCError{-19, "No such device"}},
		{"bdev_lvol_stop_snapshot_checksum", map[string]any{"name": "lvs-r/snap"}, &RPCError{-32601, "Method not found"}},
		{"bdev_lvol_check_shallow_copy", map[string]any{"operation_id": 999}, &RPCError{-19, "No such device"}},
		{"bdev_get_bdevs", map[string]any{"name": "nope"}, &RPCError{-19, "No such device"}},
		{"bdev_lvol_get_xattr", map[string]any{"name": "lvs-r/vol", "xattr_name": "nope"}, &RPCError{-32603, "No such file or directory"}},
		{"bdev_lvol_set_xattr", map[string]any{"name": "lvs-r/snap", "xattr_name": "a", "xattr_value": "b"}, &RPCError{-32602, "Operation not permitted"}},
		{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "again"}, &RPCError{-1, "Operation not permitted"}},
		{"bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-r/snap", "snapshot_name": "snap2"}, &RPCError{-32602, "Invalid argument"}},
		{"bdev_lvol_rename", map[string]any{"old_name": "lvs-r/vol", "new_name": "vol"}, &RPCError{-32602, "File exists"}},
		{"bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/vol"}, &RPCError{-32603, "Operation not permitted"}},
		{"no_such_method", nil, &RPCError{-32601, "Method not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			_, e := r.call(tc.method, tc.params)
			require.Equal(t, tc.want, e)
		})
	}
}

func TestXattrRenameResize(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	r.ok("bdev_lvol_set_xattr", map[string]any{"name": "lvs-r/bystander", "xattr_name": "longhorn.io/owner", "xattr_value": "replica-a"}, nil)
	var v string
	r.ok("bdev_lvol_get_xattr", map[string]any{"name": "lvs-r/bystander", "xattr_name": "longhorn.io/owner"}, &v)
	require.Equal(t, "replica-a", v)
	r.ok("bdev_lvol_resize", map[string]any{"name": "lvs-r/bystander", "size_in_mib": 12}, nil)
	r.ok("bdev_lvol_rename", map[string]any{"old_name": "lvs-r/bystander", "new_name": "renamed"}, nil)
	var lvs []spdk.Lvstore
	r.ok("bdev_lvol_get_lvstores", nil, &lvs)
	require.Equal(t, uint64(63), lvs[0].TotalDataClusters)
	require.Equal(t, uint64(63-12-24), lvs[0].FreeClusters)
	r.restart(false)
	_, ok := r.lvol("renamed")
	require.True(t, ok)
	r.ok("bdev_lvol_get_xattr", map[string]any{"name": "lvs-r/renamed", "xattr_name": "longhorn.io/owner"}, &v)
	require.Equal(t, "replica-a", v)
	var bd []bdevJSON
	r.ok("bdev_get_bdevs", map[string]any{"name": "lvs-r/renamed"}, &bd)
	require.Equal(t, uint64(3072), bd[0].NumBlocks)
	require.Equal(t, uint64(12), bd[0].DriverSpecific.Lvol.NumAllocatedClusters)
	r.ok("bdev_lvol_get_lvstores", nil, &lvs)
	require.Equal(t, uint64(63-12-24), lvs[0].FreeClusters, "recovery rebuilt the cluster mask")
}

func TestShallowCopyPollsAndFreeing(t *testing.T) {
	r := newRig(t, Config{Flavor: FlavorUpstream})
	r.setup()
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "dst", "size_in_mib": 32, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	var id struct {
		OperationID uint32 `json:"operation_id"`
	}
	r.ok("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs-r/snap", "dst_bdev_name": "lvs-r/dst"}, &id)
	require.Equal(t, uint32(1), id.OperationID)
	var st spdk.ShallowCopyStatus
	r.ok("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": 1}, &st)
	require.Equal(t, "in progress", st.State)
	require.Equal(t, uint64(24), st.TotalClusters)
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	require.Eventually(t, func() bool {
		r.ok("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": 1}, &st)
		return st.State == "complete"
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, st.TotalClusters, st.CopiedClusters)
	_, e = r.call("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": 1})
	require.Equal(t, errNoDev, e, "a completed copy is freed once read")

	// Too small a destination fails at the first check, and is freed too.
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "small", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	_, e = r.call("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs-r/vol", "dst_bdev_name": "lvs-r/small"})
	require.Equal(t, &RPCError{-32602, "Operation not permitted"}, e, "the source must be read-only")
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "src2", "size_in_mib": 8, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	r.ok("bdev_lvol_set_read_only", map[string]any{"name": "lvs-r/src2"}, nil)
	r.ok("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs-r/src2", "dst_bdev_name": "lvs-r/small"}, &id)
	r.ok("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID}, &st)
	require.Equal(t, spdk.ShallowCopyStatus{State: "error", Error: "Invalid argument"}, st)
	_, e = r.call("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID})
	require.Equal(t, errNoDev, e)
	// upstream has none of Longhorn's methods
	_, e = r.call("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, errMethod, e)
}

func TestStopChecksumFlavorLonghorn(t *testing.T) {
	r := newRig(t, Config{Flavor: FlavorLonghorn, OpDuration: 5 * time.Second})
	r.setup()
	_, e := r.call("bdev_lvol_stop_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, errNoDev, e, "nothing to stop")
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	require.Eventually(t, func() bool {
		_, e := r.call("bdev_lvol_stop_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
		return e == nil
	}, time.Second, 5*time.Millisecond)
	require.Equal(t, internalErr(eCANCELED), <-done)
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"}, nil)
}

func TestNotifyRing(t *testing.T) {
	var rg ring
	for i := 0; i < NotifyRingSize+10; i++ {
		rg.add(EventBdevRegister, "x")
	}
	all := rg.since(0, 0)
	require.Len(t, all, NotifyRingSize)
	require.Equal(t, uint64(10), all[0].ID)
	require.Len(t, rg.since(NotifyRingSize+5, 0), 5)
	require.Len(t, rg.since(0, 3), 3)
	require.Empty(t, rg.since(1<<40, 0))
}

func TestNotifyAcrossRestart(t *testing.T) {
	r := newRig(t, Config{})
	_, volUUID, snapUUID := r.setup()
	var evs []Event
	r.ok("notify_get_notifications", nil, &evs)
	require.Equal(t, Event{Type: EventBdevRegister, Ctx: "aio0", ID: 0}, evs[0])
	r.restart(true)
	r.ok("notify_get_notifications", map[string]any{"id": 0}, &evs)
	// At start the lvol bdevs come before their base bdev, the clone first
	// (its open completes last); ids from 0.
	require.Len(t, evs, 4)
	require.Equal(t, Event{Type: EventBdevRegister, Ctx: volUUID, ID: 0}, evs[0])
	require.Equal(t, Event{Type: EventBdevRegister, Ctx: snapUUID, ID: 1}, evs[1])
	require.Equal(t, Event{Type: EventBdevRegister, Ctx: "aio0", ID: 3}, evs[3])
}

func TestFailOpen(t *testing.T) {
	r := newRig(t, Config{})
	_, volUUID, _ := r.setup()
	r.cfg.FailOpen = []string{volUUID}
	r.restart(true)
	_, ok := r.lvol("vol")
	require.False(t, ok)
	var evs []Event
	r.ok("notify_get_notifications", nil, &evs)
	for _, e := range evs {
		require.NotEqual(t, volUUID, e.Ctx)
	}
	require.Contains(t, r.log.String(), "Error opening lvol "+volUUID)
	_, ok = r.disk().lvol("vol")
	require.True(t, ok, "still persisted")
}

// TestNameCollisionAtLoad: a new lvol under the name of a force-removed
// one; at the restart the newer keeps the name (as on the real target,
// three restarts of three) and the older has no bdev and no view, its blob
// and clusters still persisted.
func TestNameCollisionAtLoad(t *testing.T) {
	r := newRig(t, Config{})
	_, _, oldUUID := r.setup()
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	require.Nil(t, <-done)
	var newUUID string
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "snap", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs-r"}, &newUUID)
	for i := 0; i < 3; i++ {
		r.restart(true)
		l, ok := r.lvol("snap")
		require.True(t, ok)
		require.Equal(t, newUUID, l.UUID, "restart %d", i)
		// The loser's bdev registered under its uuid before the alias
		// failed: a register, then an unregister (as the real target).
		var evs []Event
		r.ok("notify_get_notifications", nil, &evs)
		var old []string
		for _, e := range evs {
			if e.Ctx == oldUUID {
				old = append(old, e.Type)
			}
		}
		require.Equal(t, []string{EventBdevRegister, EventBdevUnregister}, old)
	}
	require.Contains(t, r.log.String(), "Bdev name lvs-r/snap already exists")
	require.Contains(t, r.log.String(), "Cannot create bdev for lvol "+oldUUID)
	v := r.disk()
	var persisted int
	for _, l := range v.ld.Lvols {
		if l.Name == "snap" {
			persisted++
		}
	}
	require.Equal(t, 2, persisted, "both blobs stay on disk")
	// Once the newer one is deleted, the older comes back under the name.
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"}, nil)
	r.restart(true)
	l, ok := r.lvol("snap")
	require.True(t, ok)
	require.Equal(t, oldUUID, l.UUID)
}

func TestKillInstance(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	_, e := r.call("spdk_kill_instance", map[string]any{"sig_name": "SIGUSR9"})
	require.Equal(t, &RPCError{-32602, "Invalid parameters"}, e)
	var ok bool
	r.ok("spdk_kill_instance", map[string]any{"sig_name": "SIGTERM"}, &ok)
	require.True(t, ok)
	select {
	case <-r.tgt.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not stop the target")
	}
	require.NoError(t, r.tgt.Shutdown(), "waits for the unload")
	require.True(t, r.disk().Clean)

	// SIGKILL: no answer, nothing more written.
	killed := false
	r.cfg.OnKill = func() { killed = true }
	r.restart(true)
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "late", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	res, e := r.tgt.call(&request{Method: "spdk_kill_instance", ID: []byte("1"), Params: []byte(`{"sig_name":"SIGKILL"}`)})
	require.Nil(t, e)
	require.Equal(t, noAnswer{}, res)
	require.True(t, killed)
	v := r.disk()
	require.False(t, v.Clean)
	_, ok = v.lvol("late")
	require.True(t, ok, "md written before the kill is on disk")
	require.Empty(t, v.Problems)
}

func TestSizeBounds(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	for _, mib := range []uint64{1 << 62, MaxLvolClusters + 1, 1<<64 - 1} {
		_, e := r.call("bdev_lvol_create", map[string]any{"lvol_name": "huge", "size_in_mib": mib, "thin_provision": true, "lvs_name": "lvs-r"})
		require.Equal(t, invalidParamsErr(eINVAL), e, "%d MiB", mib)
		_, e = r.call("bdev_lvol_resize", map[string]any{"name": "lvs-r/vol", "size_in_mib": mib})
		require.Equal(t, invalidParamsErr(eINVAL), e, "%d MiB", mib)
	}
	// A large thin lvol within the bound is fine.
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "big", "size_in_mib": 1 << 20, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	_, e := r.call("sim_lvol_write", map[string]any{"name": "lvs-r/big", "offset": uint64(1<<64 - 10), "length": 20})
	require.Equal(t, invalidParamsErr(eINVAL), e, "offset overflow")
}
