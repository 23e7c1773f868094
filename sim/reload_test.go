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
// never finishes (fixtures/reload-unsafe.*).
func TestReloadWhileHeldWedges(t *testing.T) {
	r := newRig(t, Config{OpDuration: 5 * time.Second})
	r.setup()
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "dst", "size_in_mib": 32, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	var id struct {
		OperationID uint32 `json:"operation_id"`
	}
	r.ok("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs-r/snap", "dst_bdev_name": "lvs-r/dst"}, &id)
	res, e := r.tgt.call(&request{Method: "bdev_aio_delete", Params: []byte(`{"name":"aio0"}`)})
	require.Nil(t, e)
	d, ok := res.(deferred)
	require.True(t, ok, "the delete does not answer")
	answered := make(chan struct{})
	go func() { _, _ = d(); close(answered) }()
	select {
	case <-answered:
		t.Fatal("answered while wedged")
	case <-time.After(50 * time.Millisecond):
	}
	require.Empty(t, r.lvols())
	var lvs []lvstoreJSON
	r.ok("bdev_lvol_get_lvstores", nil, &lvs)
	require.Empty(t, lvs)
	_, e = r.call("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096})
	require.Equal(t, errnoErr(eEXIST), e)
	_, e = r.call("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID})
	require.Equal(t, errNoDev, e)
	require.NoError(t, r.tgt.Shutdown())
	<-answered
	require.Contains(t, r.log.String(), "Blobstore still has open blobs")
	require.Contains(t, r.log.String(), "Unable to unregister bdev 'aio0' during spdk_bdev_finish()")
	require.False(t, r.scan().Lvstore.Clean, "nothing was written")
}
