package sim

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/stretchr/testify/require"
)

func (r *rig) iostat() map[string]spdk.BdevIostat {
	r.t.Helper()
	var st spdk.Iostat
	r.ok("bdev_get_iostat", nil, &st)
	require.Equal(r.t, uint64(TickRate), st.TickRate)
	out := map[string]spdk.BdevIostat{}
	for _, b := range st.Bdevs {
		out[b.Name] = b
	}
	return out
}

// TestIostatShape: field for field the real answer, with and without a
// name; lvol bdevs under their uuid; a force-removed lvol answers -19
// (fixtures/iostat.bdev_get_iostat.json).
func TestIostatShape(t *testing.T) {
	var captured map[string]json.RawMessage
	b, err := os.ReadFile(fixtures + "iostat.bdev_get_iostat.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &captured))

	r := newRig(t, Config{OpDuration: 100 * time.Millisecond})
	_, volUUID, _ := r.setup()
	for _, tc := range []struct {
		key    string
		params any
	}{
		{"bdev_get_iostat", nil},
		{"bdev_get_iostat {name: aio0}", map[string]any{"name": "aio0"}},
	} {
		got, e := r.call("bdev_get_iostat", tc.params)
		require.Nil(t, e)
		want, err := shape(captured[tc.key])
		require.NoError(t, err)
		have, err := shape(got)
		require.NoError(t, err)
		require.Equal(t, keys(want), keys(have), tc.key)
	}
	st := r.iostat()
	require.Contains(t, st, volUUID, "lvol bdevs under their uuid")
	one, e := r.call("bdev_get_iostat", map[string]any{"name": "lvs-r/vol"})
	require.Nil(t, e)
	var v spdk.Iostat
	require.NoError(t, json.Unmarshal(one, &v))
	require.Equal(t, volUUID, v.Bdevs[0].Name, "an alias resolves to the bdev's name")

	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	_, e = r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(eBUSY), e)
	require.Nil(t, <-done)
	var want RPCError
	require.NoError(t, json.Unmarshal(captured["bdev_get_iostat {name: lvs-r/snap-x} after its forced removal"], &want))
	_, e = r.call("bdev_get_iostat", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, &want, e)
}

// TestIostatMovement: what moves the counters and what does not, as the
// fixtures README measured it on the real target.
func TestIostatMovement(t *testing.T) {
	const mib = 1 << 20
	// 2 s: long enough that a starved test goroutine on a loaded CI machine
	// still samples the checksum mid-way.
	r := newRig(t, Config{OpDuration: 2 * time.Second})
	_, volUUID, snapUUID := r.setup()

	// Idle: nothing moves (the ticks do).
	a := r.iostat()
	time.Sleep(30 * time.Millisecond)
	require.Equal(t, a, r.iostat(), "idle lvols, flat counters")

	// lvol create, snapshot and delete: one 4 KiB read each.
	for _, step := range []struct {
		method string
		params map[string]any
	}{
		{"bdev_lvol_create", map[string]any{"lvol_name": "x", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs-r"}},
		{"bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-r/x", "snapshot_name": "x-snap"}},
		{"bdev_lvol_delete", map[string]any{"name": "lvs-r/x"}},
	} {
		before := r.iostat()["aio0"]
		r.ok(step.method, step.params, nil)
		after := r.iostat()["aio0"]
		require.Equal(t, uint64(4096), after.BytesRead-before.BytesRead, step.method)
		require.Equal(t, uint64(1), after.NumReadOps-before.NumReadOps, step.method)
		require.Greater(t, after.BytesWritten, before.BytesWritten, "%s writes md", step.method)
	}

	// A checksum reads the snapshot's 24 MiB from the base bdev over its
	// duration, in 1 MiB steps of 8 ops; the lvol bdevs do not move.
	start := r.iostat()
	done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs-r/snap"})
	var mid map[string]spdk.BdevIostat
	require.Eventually(t, func() bool {
		mid = r.iostat()
		return mid["aio0"].BytesRead > start["aio0"].BytesRead
	}, 2*time.Second, 10*time.Millisecond, "the base bdev moves while the checksum reads")
	d := mid["aio0"].BytesRead - start["aio0"].BytesRead
	require.Zero(t, d%mib, "1 MiB steps")
	require.Less(t, d, uint64(24*mib), "not all at once")
	require.Equal(t, d/mib*8, mid["aio0"].NumReadOps-start["aio0"].NumReadOps, "8 ops per MiB")
	require.Equal(t, start[snapUUID], mid[snapUUID], "the snapshot's bdev is not read through")
	require.Equal(t, start[volUUID], mid[volUUID])
	require.Nil(t, <-done)
	end := r.iostat()
	require.Equal(t, uint64(24*mib), end["aio0"].BytesRead-start["aio0"].BytesRead)
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, end["aio0"].BytesRead, r.iostat()["aio0"].BytesRead, "flat once it ended")

	// A write through the lvol moves the lvol and the base bdev alike.
	before := r.iostat()
	r.ok("sim_lvol_write", map[string]any{"name": "lvs-r/vol", "offset": 0, "length": 2 * mib}, nil)
	after := r.iostat()
	require.Equal(t, uint64(2*mib), after[volUUID].BytesWritten-before[volUUID].BytesWritten)
	require.Equal(t, uint64(16), after[volUUID].NumWriteOps-before[volUUID].NumWriteOps)
	require.GreaterOrEqual(t, after["aio0"].BytesWritten-before["aio0"].BytesWritten, uint64(2*mib))
}

// TestIostatCopyAndStall: a shallow copy reads the base bdev as it goes; a
// stalled one (StallCopy) holds the snapshot open with the base bdev flat
// — a quiet bdev is no proof that nothing holds a blob.
func TestIostatCopyAndStall(t *testing.T) {
	const mib = 1 << 20
	for _, stall := range []bool{false, true} {
		t.Run(map[bool]string{false: "running", true: "stalled"}[stall], func(t *testing.T) {
			r := newRig(t, Config{OpDuration: 2 * time.Second, StallCopy: stall})
			r.setup()
			r.ok("bdev_lvol_create", map[string]any{"lvol_name": "dst", "size_in_mib": 32, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
			dstUUID := r.lvolUUID("dst")
			var id struct {
				OperationID uint32 `json:"operation_id"`
			}
			r.ok("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs-r/snap", "dst_bdev_name": "lvs-r/dst"}, &id)
			first := r.iostat()
			time.Sleep(150 * time.Millisecond)
			second := r.iostat()
			var st spdk.ShallowCopyStatus
			r.ok("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID}, &st)
			require.Equal(t, "in progress", st.State)
			_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
			require.Equal(t, internalErr(eBUSY), e, "the snapshot is held either way")
			if stall {
				require.Equal(t, first["aio0"], second["aio0"], "stalled: the base bdev is flat")
				require.Equal(t, uint64(1), st.CopiedClusters)
			} else {
				require.Greater(t, second["aio0"].BytesRead, first["aio0"].BytesRead)
				require.Greater(t, second[dstUUID].BytesWritten, first[dstUUID].BytesWritten, "the copy writes its destination")
			}
			require.Eventually(t, func() bool {
				r.ok("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": id.OperationID}, &st)
				return st.State == "complete"
			}, 5*time.Second, 20*time.Millisecond)
			require.Equal(t, uint64(24), st.CopiedClusters)
			require.GreaterOrEqual(t, r.iostat()["aio0"].BytesRead-first["aio0"].BytesRead, uint64(23*mib))
		})
	}
}
