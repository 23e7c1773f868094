package repair

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newReloader(w *world) *Reloader {
	return &Reloader{Target: w.target, Clock: w.clk, SampleFor: 3 * time.Second, SampleEvery: 500 * time.Millisecond,
		UnloadTimeout: 10 * time.Second, ReappearTimeout: 5 * time.Second}
}

// forceRemove reproduces the notify capture: a checksum of snap-x, a delete
// 20 ms later that answers busy and drops it; the checksum ends at 44 ms.
func forceRemove(t *testing.T, w *world) {
	t.Helper()
	w.checksum(uuidSnapX, 44*time.Millisecond)
	w.clk.Advance(20 * time.Millisecond)
	require.ErrorIs(t, w.target.DeleteLvol(ctx, uuidSnapX), ErrBusy)
	require.False(t, w.listed(uuidSnapX))
	require.True(t, w.disk.has(uuidSnapX))
}

func TestReloadBringsTheDroppedLvolBack(t *testing.T) {
	w := newWorld(t, SemanticsForced, false)
	forceRemove(t, w)
	w.clk.Advance(time.Second) // the checksum is over

	res, err := newReloader(w).Reload(ctx, uuidLvs, []string{uuidSnapX})
	require.NoError(t, err)
	require.True(t, res.Unloaded)
	require.Empty(t, res.Missing)
	require.Len(t, res.Reappeared, 1)
	require.Equal(t, "lvs-r/snap-x", res.Reappeared[0].Alias)
	require.True(t, w.listed(uuidSnapX))
	require.Equal(t, "aio0", res.BaseBdev)
	require.Equal(t, "/var/lib/spdk/disks/mn-disk.img", res.Filename)
	require.Equal(t, uint32(4096), res.BlockSize)
	require.Equal(t, 1, w.target.called("bdev_aio_create /var/lib/spdk/disks/mn-disk.img aio0 4096"), "same file, name and block size")
	text := strings.Join(res.Messages, "\n")
	require.Contains(t, text, "not a proof that nothing holds a blob")
	require.GreaterOrEqual(t, w.target.called("bdev_get_iostat"), 7, "sampled over SampleFor every SampleEvery")
}

func TestReloadRefusals(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*world)
		reason Reason
		names  string
	}{
		{"exported lvol", func(w *world) {
			w.target.namespaces = []Namespace{{NQN: "nqn.2016-06.io.spdk:test", NSID: 1, BdevName: uuidVol}}
			w.target.claims[uuidVol] = "exclusive_write"
		}, ReasonExported, "lvs-r/vol: nqn.2016-06.io.spdk:test nsid 1"},
		{"claimed lvol", func(w *world) { w.target.claims[uuidVolA] = "exclusive_write" }, ReasonClaimed, "lvs-r/vol-a: " + uuidVolA + " claimed exclusive_write"},
		{"checksum still reading: base I/O no lvol explains", func(w *world) {
			w.checksum(uuidSnapX, time.Hour)
			w.clk.Advance(20 * time.Millisecond)
			require.ErrorIs(t, w.target.DeleteLvol(ctx, uuidSnapX), ErrBusy)
		}, ReasonBaseIO, "aio0: "},
		{"an lvol in use", func(w *world) { w.target.lvolRate = map[string]uint64{uuidVolA: 1 << 20} }, ReasonLvolIO, "lvs-r/vol-a: "},
		{"base not AIO", func(w *world) { w.target.base.AioFilename = "" }, ReasonNotAIO, "aio0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, SemanticsForced, false)
			tc.setup(w)
			before := w.snapshotState()
			res, err := newReloader(w).Reload(ctx, uuidLvs, []string{uuidSnapX})
			var re *RefusedError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.reason, re.Reason)
			require.Contains(t, strings.Join(re.Names, "; "), tc.names, "names what tripped the guard")
			require.False(t, res.Unloaded)
			require.Zero(t, w.target.called("bdev_aio_delete"))
			require.Zero(t, w.target.called("bdev_aio_create"))
			require.Equal(t, before, w.snapshotState(), "nothing changed")
		})
	}
	t.Run("unknown lvstore", func(t *testing.T) {
		w := newWorld(t, SemanticsForced, false)
		_, err := newReloader(w).Reload(ctx, "00000000-0000-0000-0000-000000000000", nil)
		require.ErrorIs(t, err, ErrRefused)
	})
}

func TestReloadWedgedUnloadIsAClearErrorNotAHang(t *testing.T) {
	w := newWorld(t, SemanticsForced, false)
	forceRemove(t, w)
	w.clk.Advance(time.Second)
	w.target.wedge = true // a shallow copy stalled on a slow destination: no I/O, blob held

	done := make(chan struct{})
	var res ReloadResult
	var err error
	go func() {
		defer close(done)
		res, err = newReloader(w).Reload(ctx, uuidLvs, []string{uuidSnapX})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a real-time guard only; the test itself never sleeps
		t.Fatal("Reload hung on a wedged bdev_aio_delete")
	}
	require.ErrorIs(t, err, ErrReloadWedged)
	require.False(t, res.Unloaded)
	text := strings.Join(res.Messages, "\n")
	require.Contains(t, text, "did not answer within 10s")
	require.Contains(t, text, "holds one of its blobs open")
	require.Contains(t, text, "restart spdk_tgt")
	require.Contains(t, text, "`lvfsck repair --yes` finishes it")
	require.Zero(t, w.target.called("bdev_aio_create"), "never re-create over a wedged unload")
}

func TestReloadAfterUnloadFailures(t *testing.T) {
	t.Run("dropped lvol does not reappear", func(t *testing.T) {
		w := newWorld(t, SemanticsForced, false)
		forceRemove(t, w)
		w.clk.Advance(time.Second)
		// As a name collision does on a real target: the old blob gets no bdev.
		w.disk.remove(uuidSnapX)
		res, err := newReloader(w).Reload(ctx, uuidLvs, []string{uuidSnapX})
		require.ErrorContains(t, err, "did not reappear")
		require.True(t, res.Unloaded)
		require.Equal(t, []string{uuidSnapX}, res.Missing)
		require.Equal(t, 5*time.Second, w.clk.Now().Sub(t0.Add(20*time.Millisecond+time.Second+3*time.Second)), "waited ReappearTimeout, not forever")
		require.Contains(t, strings.Join(res.Messages, "\n"), "did not reappear")
	})
	t.Run("base bdev cannot be re-created", func(t *testing.T) {
		w := newWorld(t, SemanticsForced, false)
		rl := newReloader(w)
		rl.Target = &noCreate{fakeTarget: w.target}
		res, err := rl.Reload(ctx, uuidLvs, nil)
		require.ErrorContains(t, err, "bdev_aio_create aio0")
		require.True(t, res.Unloaded)
		require.Contains(t, strings.Join(res.Messages, "\n"), "bdev_aio_create /var/lib/spdk/disks/mn-disk.img aio0 4096", "tells the exact command")
	})
}

type noCreate struct{ *fakeTarget }

func (n *noCreate) AioCreate(context.Context, string, string, uint32) error {
	return errRPC(errors.New("nomem"), -12, "Cannot allocate memory")
}
