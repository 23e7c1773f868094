package sim

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// capture is one entry of a *.transcript.json.
type capture struct {
	T       float64 `json:"t"`
	Request struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	} `json:"request"`
	Response struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	} `json:"response"`
}

// TestFixedBusyReplay replays fixtures/fixed-busy.transcript.json (a real
// target built with Longhorn's fix) on the sim with --delete-semantics
// fixed and compares every answer: the busy delete, the views that hide
// the lvol while its clone still names it, the notify ring, the retries
// answering "Invalid argument", the SIGINT that answers true and never
// finishes, and, after a kill and a restart, the lvol back and deletable.
func TestFixedBusyReplay(t *testing.T) {
	var tr []capture
	readJSON(t, fixtures+"fixed-busy.transcript.json", &tr)
	dir := t.TempDir()
	img := filepath.Join(dir, "fixed-busy.img")
	require.NoError(t, os.WriteFile(img, nil, 0o644))
	require.NoError(t, os.Truncate(img, 4<<30))
	log := &syncBuf{b: &bytes.Buffer{}}
	cfg := Config{DeleteSemantics: DeleteFixed, OpDuration: 300 * time.Millisecond, Log: log}
	tgt, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tgt.Crash() })
	r := &rig{t: t, tgt: tgt, image: img, log: log, cfg: cfg}

	x := &transcriptReplay{t: t, ids: map[string]string{}, img: img}
	params, compare := x.params, x.compare
	ids := x.ids

	for i := 0; i < len(tr); i++ {
		c := tr[i]
		switch m := c.Request.Method; {
		case m == "rpc_get_methods":
			// The sim offers a subset of the 241 methods (sim/doc.go).
			continue
		case i+1 < len(tr) && tr[i+1].T < c.T:
			// Sent after the next entry, which answered later: the
			// checksum, then the delete 10 ms into it.
			next := tr[i+1]
			done := r.async(next.Request.Method, params(next))
			got, e := r.call(m, params(c))
			compare(i, c, got, e)
			e = <-done
			compare(i+1, next, json.RawMessage("true"), e)
			i++
		case m == "spdk_kill_instance" && i+1 < len(tr):
			got, e := r.call(m, params(c))
			compare(i, c, got, e)
			// It answered true and never exited: the unload is refused.
			select {
			case <-r.tgt.Done():
				t.Fatal("the target stopped with a hidden lvol")
			case <-time.After(300 * time.Millisecond):
			}
			killWedged(r, ids["b225c016-64d6-4bbd-8f44-f5d0f7918f45"])
		case m == "spdk_kill_instance":
			got, e := r.call(m, params(c))
			compare(i, c, got, e)
			shut := make(chan error, 1)
			go func() { shut <- r.tgt.Shutdown() }() // waits for the first one's unload
			select {
			case err := <-shut:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("clean shutdown after the real delete did not finish")
			}
		default:
			got, e := r.call(m, params(c))
			compare(i, c, got, e)
		}
	}
	require.Contains(t, log.String(), "lvol_delete_blob_cb: *ERROR*: Error -16 deleting lvol backup-1")
	require.Contains(t, log.String(), "Performing recovery on blobstore")
	require.True(t, r.disk().Clean)
}

// transcriptReplay compares the sim's answers with a real transcript's,
// mapping the real target's uuids to the sim's as they appear.
type transcriptReplay struct {
	t   *testing.T
	ids map[string]string // the real target's uuid → the sim's
	img string
}

func (x *transcriptReplay) subst(raw json.RawMessage) json.RawMessage {
	s := string(raw)
	for real, mine := range x.ids {
		s = strings.ReplaceAll(s, real, mine)
	}
	s = strings.ReplaceAll(s, "/var/lib/spdk/disks/fixed-busy.img", x.img)
	return json.RawMessage(s)
}

func (x *transcriptReplay) params(c capture) any {
	if len(c.Request.Params) == 0 {
		return nil
	}
	return x.subst(c.Request.Params)
}

// compare checks the sim's answer to transcript entry i.
func (x *transcriptReplay) compare(i int, c capture, got json.RawMessage, gotErr *RPCError) {
	t, m := x.t, c.Request.Method
	if c.Response.Error != nil {
		require.Equal(t, c.Response.Error, gotErr, "#%d %s", i, m)
		return
	}
	require.Nil(t, gotErr, "#%d %s", i, m)
	var want any
	require.NoError(t, json.Unmarshal(c.Response.Result, &want))
	switch w := want.(type) {
	case []any:
		var wl, gl []json.RawMessage
		require.NoError(t, json.Unmarshal(c.Response.Result, &wl))
		require.NoError(t, json.Unmarshal(got, &gl))
		if m == "notify_get_notifications" {
			require.Equal(t, compact(t, x.subst(c.Response.Result)), compact(t, got), "#%d %s", i, m)
			return
		}
		require.Equal(t, normalizeIDs(t, wl), normalizeIDs(t, gl), "#%d %s", i, m)
	case string:
		var g string
		require.NoError(t, json.Unmarshal(got, &g))
		if isUUID(w) {
			if prev, ok := x.ids[w]; ok {
				require.Equal(t, prev, g, "#%d %s", i, m)
			}
			require.True(t, isUUID(g), "#%d %s: %q", i, m, g)
			x.ids[w] = g
			return
		}
		require.Equal(t, w, g, "#%d %s", i, m)
	default:
		require.JSONEq(t, string(c.Response.Result), string(got), "#%d %s", i, m)
	}
}

// killWedged checks the hung shutdown's log (the lvol bdev stuck names
// the hidden lvol's clone), kills the target and starts it again.
func killWedged(r *rig, stuck string) {
	t := r.t
	r.ok("spdk_get_version", nil, nil) // the RPC server still answers
	require.Contains(t, r.log.String(), "spdk_lvs_unload: *ERROR*: Cannot unload lvol store - operations on lvols pending")
	require.Contains(t, r.log.String(), "Unable to unregister bdev '"+stuck+"' during spdk_bdev_finish()")
	r.tgt.Crash() // SIGKILL
	require.False(t, r.disk().Clean, "killed: the image stays dirty")
	tgt, err := New(r.cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tgt.Crash() })
	r.tgt = tgt
}

func compact(t *testing.T, raw json.RawMessage) string {
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, raw))
	return b.String()
}

func isUUID(s string) bool {
	return len(s) == 36 && strings.Count(s, "-") == 4
}

// TestFixedHiddenLvol: after the busy delete the snapshot is hidden but
// still in the lvstore's list: its name stays taken, retries answer
// "Invalid argument" also once the checksum is over, its clone names it.
func TestFixedHiddenLvol(t *testing.T) {
	r := newRig(t, Config{DeleteSemantics: DeleteFixed})
	_, _, snapUUID := r.setup()
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	require.Nil(t, <-done, "the checksum still answers")
	_, ok := r.lvol("snap")
	require.False(t, ok, "hidden from bdev_lvol_get_lvols")
	_, e = r.bdev(snapUUID)
	require.Equal(t, errNoDev, e, "its bdev is gone")
	vol, e := r.bdev("lvs-r/vol")
	require.Nil(t, e)
	require.Equal(t, "snap", *vol.DriverSpecific.Lvol.BaseSnapshot, "the clone still names it")
	for _, name := range []string{"lvs-r/snap", snapUUID} {
		_, e = r.call("bdev_lvol_delete", map[string]any{"name": name})
		require.Equal(t, internalErr(eINVAL), e, name)
	}
	_, e = r.call("bdev_lvol_create", map[string]any{"lvol_name": "snap", "size_in_mib": 4, "lvs_name": "lvs-r"})
	require.NotNil(t, e, "the hidden lvol's name is still taken")
	_, ok = r.disk().lvol("snap")
	require.True(t, ok, "its blob is on disk")

	// A crash (the only way down) and a restart bring it back; then it deletes.
	r.restart(false)
	back, ok := r.lvol("snap")
	require.True(t, ok)
	require.Equal(t, snapUUID, back.UUID)
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"}, nil)
	r.restart(true)
	_, ok = r.lvol("snap")
	require.False(t, ok)
}

// TestFixedReloadWedges: bdev_aio_delete with a hidden lvol never answers
// and takes the lvstore and every bdev on it out of the views
// (fixed-busy.reload-wedge.spdk_tgt.log); a shutdown then hangs until a kill.
func TestFixedReloadWedges(t *testing.T) {
	r := newRig(t, Config{DeleteSemantics: DeleteFixed})
	r.setup()
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	require.Nil(t, <-done)
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
	var lvs []json.RawMessage
	r.ok("bdev_lvol_get_lvstores", nil, &lvs)
	require.Empty(t, lvs)
	var bdevs []json.RawMessage
	r.ok("bdev_get_bdevs", nil, &bdevs)
	require.Empty(t, bdevs)
	require.Contains(t, r.log.String(), "vbdev_lvs_hotremove_cb: *NOTICE*: bdev aio0 being removed: closing lvstore lvs-r")
	require.Contains(t, r.log.String(), "Cannot unload lvol store - operations on lvols pending")

	shut := make(chan error, 1)
	go func() { shut <- r.tgt.Shutdown() }()
	select {
	case err := <-shut:
		t.Fatalf("shutdown finished while wedged: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.tgt.Crash()
	require.ErrorIs(t, <-shut, ErrWedged)
	require.False(t, r.disk().Clean)
	r.restart(false)
	_, ok = r.lvol("snap")
	require.True(t, ok, "back after the restart")
}

// TestFixedHiddenAfterCopy: the busy window from a shallow copy
// (fixtures/fixed-shallow): the snapshot is hidden, and retries answer
// "Invalid argument" also once the copy has completed.
func TestFixedHiddenAfterCopy(t *testing.T) {
	r := newRig(t, Config{DeleteSemantics: DeleteFixed})
	_, _, snapUUID := r.setup()
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "dst", "size_in_mib": 32, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	var id struct {
		OperationID uint32 `json:"operation_id"`
	}
	r.ok("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs-r/snap", "dst_bdev_name": "lvs-r/dst"}, &id)
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	_, ok := r.lvol("snap")
	require.False(t, ok)
	var st struct {
		State string `json:"state"`
	}
	require.Eventually(t, func() bool {
		r.ok("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID}, &st)
		return st.State == "complete"
	}, 5*time.Second, 20*time.Millisecond)
	_, e = r.call("bdev_lvol_delete", map[string]any{"name": snapUUID})
	require.Equal(t, internalErr(eINVAL), e, "still held by its lvstore after the copy")
}
