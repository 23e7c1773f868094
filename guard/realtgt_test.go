package guard

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

// TestRealTarget: the guard in front of a real spdk_tgt, both delete
// semantics. A checksum of a large snapshot and, 10 ms later, a delete
// through the guard: busy, the snapshot still listed with its bdev, its
// clone still names it (no zombie, no forced removal). The same with a
// shallow copy into a slow bdev_delay. With --delete-wait the delete goes
// out once the checksum ends. Then `check` is clean and the target shuts
// down cleanly, which a hidden lvol on the fixed target would prevent.
func TestRealTarget(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		t.Run(map[bool]string{false: "forced", true: "fixed"}[fixed], func(t *testing.T) {
			realStory(t, fixed)
		})
	}
}

func realStory(t *testing.T, fixed bool) {
	dir := t.TempDir()
	img, dst := filepath.Join(dir, "disk.img"), filepath.Join(dir, "dst.img")
	realtgt.Sparse(t, img, 5<<30)
	realtgt.Sparse(t, dst, 64<<20)
	start := time.Now()
	phase := func(what string) { t.Logf("%7.3fs %s", time.Since(start).Seconds(), what) }
	tg := realtgt.Start(t, realtgt.Options{Fixed: fixed}) // may wait for another test's target
	phase("target up")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := tg.Client
	require.NoError(t, tg.AIO(ctx, "aio0", img))
	_, err := c.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
	require.NoError(t, err)
	// thick: every cluster allocated, so the checksum reads 2 GiB
	for _, v := range []struct {
		name string
		mib  uint64
	}{{"big", 2048}, {"big2", 2048}, {"small", 32}} {
		_, err = c.CreateLvol(ctx, "lvs", v.name, v.mib, false)
		require.NoError(t, err)
		_, err = c.Snapshot(ctx, "lvs/"+v.name, v.name+"-snap")
		require.NoError(t, err)
	}
	require.NoError(t, tg.AIO(ctx, "dst0", dst))
	require.NoError(t, c.Call(ctx, "bdev_delay_create", map[string]any{"base_bdev_name": "dst0", "name": "slow0",
		"avg_read_latency": 0, "p99_read_latency": 0, "avg_write_latency": 20000, "p99_write_latency": 20000}, nil))

	phase("setup")
	stateDir := filepath.Join(dir, "state")
	m := &Metrics{}
	sink := NewJournalSink(stateDir, zerolog.Nop(), m)
	defer sink.Close()
	g := startGuard(t, tg.Sock, Config{Sink: sink, Metrics: m, StateFile: filepath.Join(stateDir, "guard-holds.json")})
	gc, err := spdk.Dial(ctx, g.Sock)
	require.NoError(t, err)
	defer gc.Close()

	// Through the guard, the incarnation is the target's, not the
	// guard's: a target restarted behind a running guard is a new run.
	direct, err := c.Incarnation(ctx)
	require.NoError(t, err)
	via, err := gc.Incarnation(ctx)
	require.NoError(t, err)
	require.Equal(t, direct, via)
	require.Equal(t, tg.PID(), via.PID)

	// the lvol is intact: listed, with its bdev, and its clone names it
	intact := func(snap, clone string) {
		t.Helper()
		lvols, err := c.GetLvols(ctx, spdk.LvolQuery{})
		require.NoError(t, err)
		listed := false
		for _, l := range lvols {
			listed = listed || l.Alias == "lvs/"+snap
		}
		require.True(t, listed, "%s still listed", snap)
		bs, err := c.GetBdevs(ctx, "lvs/"+snap)
		require.NoError(t, err)
		require.Len(t, bs, 1)
		bs, err = c.GetBdevs(ctx, "lvs/"+clone)
		require.NoError(t, err)
		require.Equal(t, snap, bs[0].DriverSpecific.Lvol.BaseSnapshot, "clone %s still names its snapshot", clone)
	}
	// checksum runs a checksum of snap through the guard, on a connection of its own.
	checksum := func(snap string) (done chan error, ended *atomic.Bool) {
		cc, err := spdk.Dial(ctx, g.Sock)
		require.NoError(t, err)
		done, ended = make(chan error, 1), &atomic.Bool{}
		go func() {
			defer cc.Close()
			err := cc.RegisterSnapshotChecksum(ctx, "lvs/"+snap)
			ended.Store(true)
			done <- err
		}()
		// the delete follows 10 ms after the guard has the checksum
		require.Eventually(t, func() bool { return g.P.Tracker().Len() > 0 }, 5*time.Second, time.Millisecond)
		time.Sleep(10 * time.Millisecond)
		return done, ended
	}

	// 1. checksum, delete 10 ms later: refused busy by the guard
	done, ended := checksum("big-snap")
	t0 := time.Now()
	err = gc.DeleteLvol(ctx, "lvs/big-snap")
	require.ErrorIs(t, err, spdk.ErrBusy)
	require.False(t, ended.Load(), "the checksum must still run when the delete is answered (it took %v), or the test proves nothing", time.Since(t0))
	intact("big-snap", "big")
	require.NoError(t, <-done)
	intact("big-snap", "big")
	settled := func() {
		t.Helper()
		require.Eventually(t, func() bool { return g.P.Tracker().Len() == 0 }, 10*time.Second, 10*time.Millisecond, "holds settle")
	}
	settled() // the guard keeps a hold DefaultSettle past its end: the target closes the blob after answering
	require.NoError(t, gc.DeleteLvol(ctx, "lvs/big-snap"), "the same delete, once the checksum ended")

	phase("checksum story")
	// 2. shallow copy into slow0, delete 10 ms later: busy until the copy ends
	op, err := gc.StartShallowCopy(ctx, "lvs/small-snap", "slow0")
	require.NoError(t, err)
	time.Sleep(10 * time.Millisecond)
	err = gc.DeleteLvol(ctx, "lvs/small-snap")
	require.ErrorIs(t, err, spdk.ErrBusy)
	st, err := gc.CheckShallowCopy(ctx, op)
	require.NoError(t, err)
	require.Equal(t, spdk.ShallowCopyInProgress, st.State, "the copy must still run, or the test proves nothing")
	intact("small-snap", "small")
	for st.State == spdk.ShallowCopyInProgress {
		time.Sleep(100 * time.Millisecond)
		st, err = gc.CheckShallowCopy(ctx, op)
		require.NoError(t, err)
	}
	require.Equal(t, spdk.ShallowCopyComplete, st.State)
	settled()
	require.NoError(t, gc.DeleteLvol(ctx, "lvs/small-snap"))

	phase("shallow copy story")
	// 3. --delete-wait: the delete goes out once the checksum ends
	g.Stop(t)
	g = startGuard(t, tg.Sock, Config{Sink: sink, Metrics: m, DeleteWait: 30 * time.Second, StateFile: filepath.Join(stateDir, "guard-holds.json")})
	gc2, err := spdk.Dial(ctx, g.Sock)
	require.NoError(t, err)
	defer gc2.Close()
	gc = gc2
	done, ended = checksum("big2-snap")
	require.NoError(t, gc.DeleteLvol(ctx, "lvs/big2-snap"))
	require.True(t, ended.Load(), "the delete was held until the checksum ended")
	require.NoError(t, <-done)
	lvols, err := c.GetLvols(ctx, spdk.LvolQuery{})
	require.NoError(t, err)
	for _, l := range lvols {
		require.NotEqual(t, "lvs/big2-snap", l.Alias)
	}
	require.Equal(t, int64(2), m.DeletesRefused.Load())
	require.Equal(t, int64(1), m.DeletesDelayed.Load())
	require.Zero(t, m.DeleteBusy.Load())

	phase("delete-wait story")
	// the journal says what was asked and what happened; check is clean
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	require.NoError(t, sink.Flush(fctx))
	fcancel()
	j, err := journal.Open(stateDir, journal.Options{})
	require.NoError(t, err)
	recs, err := j.GuardRecords(time.Time{})
	require.NoError(t, err)
	var acts []journal.GuardAction
	for _, r := range recs {
		acts = append(acts, r.Action)
	}
	require.Equal(t, []journal.GuardAction{journal.GuardRefused, journal.GuardAnswered, journal.GuardRefused,
		journal.GuardAnswered, journal.GuardDelayed, journal.GuardAnswered}, acts)
	res, err := run.Check(ctx, run.CheckConfig{Socket: tg.Sock, Journal: j, Mode: scanner.ModeAuto,
		Timeout: 10 * time.Second, Now: time.Now, Log: zerolog.Nop()})
	require.NoError(t, err)
	require.Equal(t, report.ExitOK, res.Summary.Exit, "check findings: %+v notes: %v", res.Summary.Findings, res.Summary.Notes)
	res.Finish(res.Summary.Exit)
	require.NoError(t, j.Close())

	phase("check")
	g.Stop(t)
	phase("guard stopped")
	require.True(t, tg.Stop(15*time.Second), "clean shutdown: nothing hidden holds the lvstore")
	phase("stopped")
}
