package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReloadFinishesForcedRemoval: bdev_aio_delete unloads the lvstore
// cleanly, bdev_aio_create loads it again and the force-removed snapshot is
// back (fixtures/reload.*), ready for a real delete.
func TestReloadFinishesForcedRemoval(t *testing.T) {
	r := newRig(t, Config{})
	_, volUUID, snapUUID := r.setup()
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	require.Nil(t, <-done)

	var evs []Event
	r.ok("notify_get_notifications", nil, &evs)
	next := evs[len(evs)-1].ID + 1
	r.ok("bdev_aio_delete", map[string]any{"name": "aio0"}, nil)
	require.Empty(t, r.lvols())
	r.ok("notify_get_notifications", map[string]any{"id": next}, &evs)
	require.Equal(t, Event{EventBdevUnregister, "aio0", next + 2}, evs[len(evs)-1], "vol and bystander, then aio0")
	v := r.scan()
	require.True(t, v.Lvstore.Clean, "the unload wrote clean = 1")
	require.Empty(t, v.Findings)

	r.ok("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096}, nil)
	back, ok := r.lvol("snap")
	require.True(t, ok)
	require.Equal(t, snapUUID, back.UUID)
	r.ok("notify_get_notifications", map[string]any{"id": next + 3}, &evs)
	require.Equal(t, []Event{{EventBdevRegister, volUUID, next + 3}, {EventBdevRegister, snapUUID, next + 4},
		{EventBdevRegister, r.lvolUUID("bystander"), next + 5}, {EventBdevRegister, "aio0", next + 6}}, evs)
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"}, nil)
	r.restart(true)
	_, ok = r.lvol("snap")
	require.False(t, ok)
}

func (r *rig) lvolUUID(name string) string {
	l, ok := r.lvol(name)
	require.True(r.t, ok, name)
	return l.UUID
}

// TestReloadWhileHeldWedges: with a copy still holding a blob, the unload
// never finishes (fixtures/reload-unsafe.*): no answer, the lvstore and the
// base bdev vanish from every view while the other calls still answer, the
// copy runs on (checkable until its completion is read), re-creating the
// bdev fails -17, nothing is written, and a shutdown hangs (the RPC server
// still answering) until the target is killed.
func TestReloadWhileHeldWedges(t *testing.T) {
	r := newRig(t, Config{OpDuration: 300 * time.Millisecond})
	r.setup()
	r.export("lvs-r/vol")
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "dst", "size_in_mib": 32, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	var id struct {
		OperationID uint32 `json:"operation_id"`
	}
	r.ok("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs-r/snap", "dst_bdev_name": "lvs-r/dst"}, &id)
	res, e := r.tgt.call(&request{Method: "bdev_aio_delete", Params: []byte(`{"name":"aio0"}`)})
	require.Nil(t, e)
	d, ok := res.(deferred)
	require.True(t, ok, "the delete does not answer")
	answered := make(chan any, 1)
	go func() { res, _ := d(); answered <- res }()
	select {
	case <-answered:
		t.Fatal("answered while wedged")
	case <-time.After(50 * time.Millisecond):
	}
	require.Empty(t, r.lvols())
	var lvs []lvstoreJSON
	r.ok("bdev_lvol_get_lvstores", nil, &lvs)
	require.Empty(t, lvs)
	var bdevs []bdevJSON
	r.ok("bdev_get_bdevs", nil, &bdevs)
	require.Empty(t, bdevs, "aio0 is gone from bdev_get_bdevs too")
	_, e = r.bdev("aio0")
	require.Equal(t, errNoDev, e)
	_, e = r.call("bdev_get_iostat", map[string]any{"name": "aio0"})
	require.Equal(t, errNoDev, e)
	require.Empty(t, *r.subsystems()[1].Namespaces, "the namespace went with the lvol bdev")

	_, e = r.call("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096})
	require.Equal(t, errnoErr(eEXIST), e)
	require.Contains(t, r.log.String(), "bdev_name_add: *ERROR*: Bdev name aio0 already exists")

	// The copy runs on and reports its end once, then is forgotten.
	var st copyStatusJSON
	require.Eventually(t, func() bool {
		r.ok("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID}, &st)
		return st.State == "complete"
	}, 5*time.Second, 20*time.Millisecond)
	_, e = r.call("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID})
	require.Equal(t, errNoDev, e)
	_, e = r.call("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096})
	require.Equal(t, errnoErr(eEXIST), e, "still wedged once the copy is done")

	// Shutdown cannot finish; the RPC server keeps answering until a kill.
	shut := make(chan error, 1)
	go func() { shut <- r.tgt.Shutdown() }()
	select {
	case err := <-shut:
		t.Fatalf("shutdown finished while wedged: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.ok("spdk_get_version", nil, nil)
	r.tgt.Crash()
	select {
	case err := <-shut:
		require.ErrorIs(t, err, ErrWedged)
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not end with the kill")
	}
	select {
	case res := <-answered:
		require.Equal(t, noAnswer{}, res, "the delete never answers")
	case <-time.After(5 * time.Second):
		t.Fatal("deferred delete leaked")
	}
	log := r.log.String()
	require.Contains(t, log, "spdk_bs_unload: *ERROR*: Blobstore still has open blobs")
	require.Contains(t, log, "*WARNING*: Unregistering claimed bdev 'aio0'!")
	require.Contains(t, log, "*WARNING*: Unable to unregister bdev 'aio0' during spdk_bdev_finish()")
	v := r.scan()
	require.False(t, v.Lvstore.Clean, "nothing was written")

	// The next start recovers and the lvols are back.
	r.restart(false)
	_, ok = r.lvol("snap")
	require.True(t, ok)
}
