package sim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
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
	require.Equal(t, Event{Type: EventBdevUnregister, Ctx: "aio0", ID: next + 2}, evs[len(evs)-1], "vol and bystander, then aio0")
	v := r.disk()
	require.True(t, v.Clean, "the unload wrote clean = 1")
	require.Empty(t, v.Problems)

	r.ok("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096}, nil)
	back, ok := r.lvol("snap")
	require.True(t, ok)
	require.Equal(t, snapUUID, back.UUID)
	r.ok("notify_get_notifications", map[string]any{"id": next + 3}, &evs)
	require.Equal(t, []Event{{Type: EventBdevRegister, Ctx: volUUID, ID: next + 3}, {Type: EventBdevRegister, Ctx: snapUUID, ID: next + 4},
		{Type: EventBdevRegister, Ctx: r.lvolUUID("bystander"), ID: next + 5}, {Type: EventBdevRegister, Ctx: "aio0", ID: next + 6}}, evs)
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
	r := newRig(t, Config{OpDuration: time.Second})
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
	var lvs []spdk.Lvstore
	r.ok("bdev_lvol_get_lvstores", nil, &lvs)
	require.Empty(t, lvs)
	var bdevs []bdevJSON
	r.ok("bdev_get_bdevs", nil, &bdevs)
	require.Empty(t, bdevs, "aio0 is gone from bdev_get_bdevs too")
	_, e = r.bdev("aio0")
	require.Equal(t, errNoDev, e)
	_, e = r.call("bdev_get_iostat", map[string]any{"name": "aio0"})
	require.Equal(t, errNoDev, e)
	_, e = r.call("bdev_aio_delete", map[string]any{"name": "aio0"})
	require.Equal(t, errNoDev, e, "a removing bdev cannot be opened (bdev_open: -ENODEV)")
	require.Empty(t, *r.subsystems()[1].Namespaces, "the namespace went with the lvol bdev")

	_, e = r.call("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096})
	require.Equal(t, errnoErr(eEXIST), e)
	require.Contains(t, r.log.String(), "bdev_name_add: *ERROR*: Bdev name aio0 already exists")

	// The copy runs on and reports its end once, then is forgotten.
	var st spdk.ShallowCopyStatus
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
	v := r.disk()
	require.False(t, v.Clean, "nothing was written")

	// The next start recovers and the lvols are back.
	r.restart(false)
	_, ok = r.lvol("snap")
	require.True(t, ok)
}

// TestReloadViewsAsCaptured replays fixtures/reload (run 1) on the sim and
// compares every view after each step with the real target's, value for
// value once uuids and times are replaced by names: bdev order, claims,
// base snapshots, allocated clusters, lvstore counts.
func TestReloadViewsAsCaptured(t *testing.T) {
	r := newRig(t, Config{Size: 128 << 20, OpDuration: time.Second})
	r.ok("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs-r", "cluster_sz": 1 << 20}, nil)
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "vol", "size_in_mib": 112, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	r.ok("sim_lvol_write", map[string]any{"name": "lvs-r/vol", "offset": 0, "length": 96 << 20}, nil)
	r.ok("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-r/vol", "snapshot_name": "snap-x"}, nil)
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap-x"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap-x"})
	require.Equal(t, internalErr(eBUSY), e)
	require.Nil(t, <-done)
	r.requireViews("reload.after-delete")
	r.ok("bdev_aio_delete", map[string]any{"name": "aio0"}, nil)
	r.requireViews("reload.after-aio-delete")
	r.ok("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096}, nil)
	r.requireViews("reload.after-aio-recreate")
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap-x"}, nil)
	r.requireViews("reload.after-real-delete")
}

// requireViews compares the three views with the captured ones of prefix.
func (r *rig) requireViews(prefix string) {
	r.t.Helper()
	for _, m := range []string{"bdev_lvol_get_lvstores", "bdev_lvol_get_lvols", "bdev_get_bdevs"} {
		var want, got []json.RawMessage
		readJSON(r.t, fixtures+prefix+"."+m+".json", &want)
		r.ok(m, nil, &got)
		require.Equal(r.t, normalizeIDs(r.t, want), normalizeIDs(r.t, got), "%s %s", prefix, m)
	}
}

// normalizeIDs renders each element with every uuid replaced by what it
// names (an lvol's alias, an lvstore's name, a base bdev's name), every
// time by "T" and an AIO file name by "F".
func normalizeIDs(t *testing.T, list []json.RawMessage) []string {
	t.Helper()
	names := map[string]string{}
	for _, e := range list {
		var v struct {
			Name    string   `json:"name"`
			UUID    string   `json:"uuid"`
			Alias   string   `json:"alias"`
			Aliases []string `json:"aliases"`
			Lvs     *struct {
				Name string `json:"name"`
				UUID string `json:"uuid"`
			} `json:"lvs"`
			DS struct {
				Lvol *struct {
					Store string `json:"lvol_store_uuid"`
				} `json:"lvol"`
			} `json:"driver_specific"`
		}
		require.NoError(t, json.Unmarshal(e, &v))
		switch {
		case v.Alias != "": // an lvol
			names[v.UUID] = v.Alias
			names[v.Lvs.UUID] = "lvs:" + v.Lvs.Name
		case len(v.Aliases) == 1 && v.DS.Lvol != nil: // an lvol bdev
			names[v.UUID] = v.Aliases[0]
			names[v.DS.Lvol.Store] = "lvs:" + strings.SplitN(v.Aliases[0], "/", 2)[0]
		case len(v.Aliases) == 1: // a base bdev
			names[v.UUID] = v.Name
		case v.UUID != "": // an lvstore
			names[v.UUID] = "lvs:" + v.Name
		}
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		var v map[string]any
		require.NoError(t, json.Unmarshal(e, &v))
		if _, ok := v["creation_time"]; ok {
			v["creation_time"] = "T"
		}
		if ds, ok := v["driver_specific"].(map[string]any); ok {
			if aio, ok := ds["aio"].(map[string]any); ok {
				aio["filename"] = "F" // the image's path
			}
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		s := string(b)
		for id, n := range names {
			s = strings.ReplaceAll(s, id, n)
		}
		out = append(out, s)
	}
	return out
}

// TestReloadExportedViewsAsCaptured replays run 3 of fixtures/reload (vol
// exported over NVMe-oF) and compares the views the transcript recorded
// after each step: the exported lvol claimed exclusive_write, unclaimed
// after the reload, claimed again once re-added.
func TestReloadExportedViewsAsCaptured(t *testing.T) {
	views := transcriptViews(t, "reload.transcript.json", "view:run3-B-")
	r := newRig(t, Config{Size: 128 << 20, OpDuration: time.Second})
	r.ok("nvmf_create_transport", map[string]any{"trtype": "TCP"}, nil)
	r.ok("nvmf_create_subsystem", map[string]any{"nqn": testNQN, "allow_any_host": true}, nil)
	r.ok("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs-r", "cluster_sz": 1 << 20}, nil)
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "vol", "size_in_mib": 112, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	r.ok("sim_lvol_write", map[string]any{"name": "lvs-r/vol", "offset": 0, "length": 96 << 20}, nil)
	addNS := map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs-r/vol"}}
	r.ok("nvmf_subsystem_add_ns", addNS, nil)
	r.ok("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-r/vol", "snapshot_name": "snap-x"}, nil)
	r.requireTranscriptViews(views, "after-snapshot")
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap-x"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap-x"})
	require.Equal(t, internalErr(eBUSY), e)
	r.requireTranscriptViews(views, "after-busy-delete")
	require.Nil(t, <-done)
	r.requireTranscriptViews(views, "after-forced-removal")
	r.ok("bdev_aio_delete", map[string]any{"name": "aio0"}, nil)
	r.requireTranscriptViews(views, "after-aio-delete")
	r.ok("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096}, nil)
	r.requireTranscriptViews(views, "after-aio-recreate")
	r.ok("nvmf_subsystem_add_ns", addNS, nil)
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap-x"}, nil)
	r.requireTranscriptViews(views, "after-real-delete")
}

// transcriptViews returns, per step, the results of the view methods the
// transcript recorded under notes prefix+step.
func transcriptViews(t *testing.T, file, prefix string) map[string]map[string][]json.RawMessage {
	t.Helper()
	var tr []struct {
		Note    *string `json:"note"`
		Request struct {
			Method string `json:"method"`
		} `json:"request"`
		Response struct {
			Result json.RawMessage `json:"result"`
		} `json:"response"`
	}
	readJSON(t, fixtures+file, &tr)
	out := map[string]map[string][]json.RawMessage{}
	for _, e := range tr {
		if e.Note == nil || !strings.HasPrefix(*e.Note, prefix) {
			continue
		}
		step := strings.TrimPrefix(*e.Note, prefix)
		if out[step] == nil {
			out[step] = map[string][]json.RawMessage{}
		}
		var list []json.RawMessage
		require.NoError(t, json.Unmarshal(e.Response.Result, &list))
		out[step][e.Request.Method] = list
	}
	return out
}

func (r *rig) requireTranscriptViews(views map[string]map[string][]json.RawMessage, step string) {
	r.t.Helper()
	require.Len(r.t, views[step], 3, step)
	for m, want := range views[step] {
		var got []json.RawMessage
		r.ok(m, nil, &got)
		require.Equal(r.t, normalizeIDs(r.t, want), normalizeIDs(r.t, got), "%s %s", step, m)
	}
}
