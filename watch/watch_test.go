package watch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/sim"
	"github.com/lvfsck/lvfsck/spdk"
)

// fixture is an in-process sim with an lvstore and a thin replica, and a
// watcher beside it (not started).
type fixture struct {
	c       *spdk.Client
	w       *Watcher
	log     *syncBuf
	verdict chan verdict
}

type verdict struct {
	b     Blob
	v     Verdict
	found bool
	n     int64
	at    time.Time
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(tb testing.TB, op time.Duration) *fixture {
	tb.Helper()
	dir, err := os.MkdirTemp("", "lvfsck-watch") // short: unix socket paths are limited
	require.NoError(tb, err)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	tgt, err := sim.New(sim.Config{Image: filepath.Join(dir, "disk.img"), Size: 128 << 20, OpDuration: op, DeleteSemantics: sim.DeleteForced})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = tgt.Serve(ctx, sock); close(served) }()
	tb.Cleanup(func() { cancel(); <-served })
	c, err := spdk.DialWait(ctx, sock, 10*time.Millisecond)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	_, err = c.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
	require.NoError(tb, err)
	_, err = c.CreateLvol(ctx, "lvs", "replica", 16, true)
	require.NoError(tb, err)
	return watcherOn(tb, c, sock, filepath.Join(dir, "state"))
}

// watcherOn prepares a watch of the target at sock, its journal in state.
func watcherOn(tb testing.TB, c *spdk.Client, sock, state string) *fixture {
	f := &fixture{c: c, log: &syncBuf{}, verdict: make(chan verdict, 16)}
	f.w = New(Config{
		Socket: sock, Open: func(context.Context) (*journal.Journal, error) { return journal.Open(state, journal.Options{}) },
		JournalIdle: 50 * time.Millisecond, Poll: 20 * time.Millisecond, Rescan: 20 * time.Millisecond,
		Log: zerolog.New(f.log), Check: run.CheckConfig{Mode: scanner.ModeRecovery, Keep: time.Hour},
	})
	f.w.onVerdict = func(b Blob, v Verdict, found bool, n int64) {
		f.verdict <- verdict{b, v, found, n, time.Now()}
	}
	return f
}

// findings reads the journal's findings through the watch's own store
// (one writer per journal, this process included).
func (f *fixture) findings(tb testing.TB) []journal.FindingRecord {
	tb.Helper()
	var recs []journal.FindingRecord
	require.NoError(tb, f.w.st.use(context.Background(), func(j *journal.Journal) error {
		var err error
		recs, err = j.Findings()
		return err
	}))
	return recs
}

func (f *fixture) run(tb testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err)
		case <-time.After(time.Second):
			tb.Error("watch did not stop within 1 s of its context")
		}
	})
}

// known waits until the last full scan knows uuid.
func (f *fixture) known(tb testing.TB, uuid string) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		f.w.mu.Lock()
		defer f.w.mu.Unlock()
		_, ok := f.w.blobs[uuid]
		return ok
	}, 5*time.Second, 5*time.Millisecond, "blob of %s learnt", uuid)
}

// forcedRemoval snapshots the replica, lets a full check learn it, holds
// it with a checksum and deletes it; it returns the snapshot's uuid, when
// the delete returned, and a wait for the checksum.
func (f *fixture) forcedRemoval(tb testing.TB, name string) (string, time.Time, func()) {
	ctx := context.Background()
	uuid, err := f.c.Snapshot(ctx, "lvs/replica", name)
	require.NoError(tb, err)
	f.known(tb, uuid)
	done := make(chan error, 1)
	go func() { done <- f.c.RegisterSnapshotChecksum(ctx, "lvs/"+name) }()
	time.Sleep(20 * time.Millisecond)
	require.ErrorIs(tb, f.c.DeleteLvol(ctx, "lvs/"+name), spdk.ErrBusy)
	return uuid, time.Now(), func() { require.NoError(tb, <-done) }
}

func TestWatchEvents(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	scratch, err := f.c.CreateLvol(context.Background(), "lvs", "scratch", 8, false)
	require.NoError(t, err)
	f.run(t)
	f.known(t, scratch)

	// A real delete: the page is zeroed by the time it is read.
	require.NoError(t, f.c.DeleteLvol(context.Background(), "lvs/scratch"))
	v := <-f.verdict
	require.Equal(t, scratch, v.b.LvolUUID)
	require.Equal(t, VerdictZeroed, v.v)
	require.False(t, v.found)

	// A forced removal: a finding from the event, in the journal, once.
	uuid, deleted, wait := f.forcedRemoval(t, "snap")
	v = <-f.verdict
	wait()
	require.Equal(t, uuid, v.b.LvolUUID)
	require.Equal(t, VerdictLive, v.v)
	require.True(t, v.found)
	// The 1 s aim is BenchmarkEventToFinding's; under -race on a loaded
	// machine a timed assertion here only measures the machine.
	t.Logf("event → finding: %s", v.at.Sub(deleted))
	recs := f.findings(t)
	var codes []string
	for _, r := range recs {
		if r.Open() && r.Finding.LvolUUID == uuid {
			codes = append(codes, string(r.Finding.Code))
		}
	}
	require.Equal(t, []string{string(reconcile.CodePendingResurrection)}, codes)

	// A later full check finds it too: not told again.
	f.w.mu.Lock()
	f.w.wantFull = true
	f.w.mu.Unlock()
	require.Eventually(t, func() bool {
		return bytes.Count([]byte(f.log.String()), []byte(`"full check done"`)) >= 3
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, bytes.Count([]byte(f.log.String()), []byte(`"code":"pending-resurrection"`)), f.log.String())
}

// BenchmarkEventToFinding: from a forced removal's failed delete to the
// watch's finding (poll interval 20 ms here, 100 ms by default, plus the
// re-reads a live page gets: a real delete zeroes it only after the
// unregister), and the device bytes read per event.
func BenchmarkEventToFinding(b *testing.B) {
	f := newFixture(b, 200*time.Millisecond)
	f.run(b)
	var total time.Duration
	var bytesRead int64
	for i := 0; i < b.N; i++ {
		_, deleted, wait := f.forcedRemoval(b, fmt.Sprintf("snap%d", i))
		v := <-f.verdict
		if !v.found {
			b.Fatalf("no finding: %v", v.v)
		}
		total += v.at.Sub(deleted)
		bytesRead += v.n
		wait()
	}
	reportEvents(b, total, bytesRead)
}

// BenchmarkEventToDelete: a real delete, judged from its first read.
func BenchmarkEventToDelete(b *testing.B) {
	f := newFixture(b, 200*time.Millisecond)
	f.run(b)
	var total time.Duration
	var bytesRead int64
	for i := 0; i < b.N; i++ {
		uuid, err := f.c.CreateLvol(context.Background(), "lvs", fmt.Sprintf("v%d", i), 4, false)
		require.NoError(b, err)
		f.known(b, uuid)
		require.NoError(b, f.c.DeleteLvol(context.Background(), "lvs/"+fmt.Sprintf("v%d", i)))
		deleted := time.Now()
		v := <-f.verdict
		if v.v != VerdictZeroed {
			b.Fatalf("verdict %v", v.v)
		}
		total += v.at.Sub(deleted)
		bytesRead += v.n
	}
	reportEvents(b, total, bytesRead)
}

// reportEvents reports the mean time from an event to its verdict and the
// device bytes read per event, instead of ns/op (which counts the setup
// of each event too).
func reportEvents(b *testing.B, total time.Duration, bytesRead int64) {
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/event")
	b.ReportMetric(float64(bytesRead)/float64(b.N), "bytes/event")
	b.ReportMetric(0, "ns/op")
}

// TestUnloadIsNotADrop: an lvstore that unloads (a reload's
// bdev_aio_delete; a target shutting down, which on a fixed target with a
// zombie keeps answering RPCs for ever) unregisters every lvol while their
// blobs stay on disk. That is no forced removal: no pending resurrection,
// or every lvol would read as resurrected after the restart.
func TestUnloadIsNotADrop(t *testing.T) {
	f := newFixture(t, time.Second)
	f.run(t)
	ctx := context.Background()
	lvols, err := f.c.GetLvols(ctx, spdk.LvolQuery{})
	require.NoError(t, err)
	require.Len(t, lvols, 1)
	uuid := lvols[0].UUID
	f.known(t, uuid)
	require.NoError(t, f.c.AioDelete(ctx, "aio0"))
	select {
	case v := <-f.verdict:
		require.Equal(t, uuid, v.b.LvolUUID)
		require.Equal(t, VerdictLive, v.v, "the blob is on disk")
		require.False(t, v.found, "its lvstore unloaded: not a drop\n%s", f.log)
	case <-time.After(10 * time.Second):
		t.Fatalf("no verdict on the unregister\n%s", f.log)
	}
	for _, r := range f.findings(t) {
		require.NotEqual(t, reconcile.CodePendingResurrection, r.Finding.Code, "%+v", r.Finding)
	}
	require.Contains(t, f.log.String(), "lvstore is not loaded")
	// Nor is the unregister journalled as the lvol gone: after a restart
	// that would read as a drop, and the lvol as resurrected.
	require.NoError(t, f.w.st.use(ctx, func(j *journal.Journal) error {
		evs, err := j.Timeline(time.Time{})
		for _, e := range evs {
			if e.LvolUUID == uuid {
				require.NotEqual(t, journal.EventGone, e.Kind, "%+v", e)
			}
		}
		return err
	}))
}

// TestDroppedBetweenPolls: a snapshot made and force-removed between two
// polls is gone before the watch can ask what its register was; its
// unregister still leads to a full check that names the pending
// resurrection (else, unseen, it would read as a normal lvol after the
// restart).
func TestDroppedBetweenPolls(t *testing.T) {
	f := newFixture(t, 3*time.Second)
	f.w.cfg.Poll = 700 * time.Millisecond
	f.run(t)
	ctx := context.Background()
	// the first full check is done: it knows the replica
	lvols, err := f.c.GetLvols(ctx, spdk.LvolQuery{})
	require.NoError(t, err)
	f.known(t, lvols[0].UUID)
	time.Sleep(f.w.cfg.Poll / 2) // between polls
	uuid, err := f.c.Snapshot(ctx, "lvs/replica", "short")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- f.c.RegisterSnapshotChecksum(ctx, "lvs/short") }()
	time.Sleep(20 * time.Millisecond)
	require.ErrorIs(t, f.c.DeleteLvol(ctx, "lvs/short"), spdk.ErrBusy)
	require.Eventually(t, func() bool {
		for _, r := range f.findings(t) {
			if r.Finding.Code == reconcile.CodePendingResurrection && r.Finding.LvolUUID == uuid {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "pending resurrection of the short-lived snapshot\n%s", f.log)
	require.NoError(t, <-done)
}
