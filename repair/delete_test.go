package repair

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

// The retry-with-backoff path, for a target that keeps a busy lvol listed
// (no captured target does; sim --delete-semantics keep-listed).
func TestDeleteKeepListedRetriesThenDeletes(t *testing.T) {
	w := newWorld(t, SemanticsKeepListed, false)
	w.checksum(uuidSnapX, 3*time.Second)

	res, err := w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}, Wait: 20 * time.Second})
	require.NoError(t, err)
	require.Equal(t, OutcomeDeletedVerified, res.Outcome)
	require.Equal(t, SemanticsKeepListed, res.Semantics)
	require.Equal(t, 0, res.ExitCode)
	require.Greater(t, res.Attempts, 2)
	require.False(t, w.listed(uuidSnapX))
	require.False(t, w.disk.has(uuidSnapX), "a verified delete leaves no blob on disk")
	require.GreaterOrEqual(t, w.clk.Now().Sub(t0), 3*time.Second, "it retried until the checksum ended")
	require.Less(t, w.clk.Now().Sub(t0), 6*time.Second, "and not much longer")

	slept := w.clk.Slept()
	for i := 1; i < len(slept); i++ {
		require.GreaterOrEqual(t, slept[i], slept[i-1], "backoff delays grow: %v", slept)
	}
	rec := w.journal.outcome(t, res.IntentID)
	require.Equal(t, OutcomeDeletedVerified, rec.Outcome)
	require.Equal(t, SemanticsKeepListed, rec.Semantics)
	require.Equal(t, res.Attempts, rec.Attempts)
	require.Equal(t, 0, w.target.called("bdev_lvol_stop_snapshot_checksum"), "v24.09 has no stop method: not called")
	require.NotContains(t, strings.Join(res.Messages, "\n"), "stop_snapshot_checksum", "a delete that went through needs no note on the stop")
	require.Contains(t, rec.Evidence["stop-checksum"], "no bdev_lvol_stop_snapshot_checksum", "the journal keeps it")
}

func TestDeleteKeepListedTimesOutBusy(t *testing.T) {
	w := newWorld(t, SemanticsKeepListed, false)
	w.checksum(uuidSnapX, time.Hour)
	before := w.disk.has(uuidSnapX)

	res, err := w.del.Delete(ctx, Request{Ref: UUIDRef(uuidSnapX), Wait: 10 * time.Second})
	var re *RefusedError
	require.ErrorAs(t, err, &re)
	require.Equal(t, ReasonBusy, re.Reason)
	require.Equal(t, OutcomeRefusedBusy, res.Outcome)
	require.Equal(t, 4, res.ExitCode)
	require.Equal(t, SemanticsKeepListed, res.Semantics)
	require.Equal(t, 10*time.Second, w.clk.Now().Sub(t0), "stops exactly at the deadline")
	require.True(t, w.listed(uuidSnapX))
	require.Equal(t, before, w.disk.has(uuidSnapX))
	require.Equal(t, res.Attempts, w.target.called("bdev_lvol_delete"))
	require.Equal(t, OutcomeRefusedBusy, w.journal.outcome(t, res.IntentID).Outcome)
	require.Contains(t, strings.Join(res.Messages, "\n"), "could not be stopped first", "busy: why the stop was not tried")

	// Wait 0: exactly one attempt, no sleeping.
	w2 := newWorld(t, SemanticsKeepListed, false)
	w2.checksum(uuidSnapX, time.Hour)
	res, err = w2.del.Delete(ctx, Request{Ref: UUIDRef(uuidSnapX)})
	require.ErrorIs(t, err, ErrRefused)
	require.Equal(t, 1, res.Attempts)
	require.Empty(t, w2.clk.Slept())
}

func TestDeleteForcedSemanticsDetectsForcedRemoval(t *testing.T) {
	w := newWorld(t, SemanticsForced, false) // longhorn-v24.09: no stop method
	w.checksum(uuidSnapX, 44*time.Millisecond)

	res, err := w.del.Delete(ctx, Request{Ref: Ref{Name: "snap-x", Lvstore: "lvs-r"}, Wait: 20 * time.Second})
	require.NoError(t, err, "a forced removal is a result, not an error")
	require.Equal(t, OutcomeForcedRemoval, res.Outcome)
	require.Equal(t, SemanticsForced, res.Semantics)
	require.Equal(t, 4, res.ExitCode)
	require.Equal(t, 2, res.Attempts, "the busy delete, then one retry by uuid to classify it")
	require.Equal(t, "a retry by uuid answered No such device", res.Evidence["probe"])
	require.Contains(t, res.Evidence["forced"], "its clone lvs-r/vol reports no base snapshot")
	require.False(t, w.listed(uuidSnapX), "the target dropped it from memory")
	require.True(t, w.disk.has(uuidSnapX), "its blob is still on disk")
	text := strings.Join(res.Messages, "\n")
	require.Contains(t, text, "memory only")
	require.Contains(t, text, "comes back at the next target restart or lvstore reload")
	require.Contains(t, text, "Scheduled for repair")
	require.Contains(t, text, "could not be stopped first")

	rec := w.journal.outcome(t, res.IntentID)
	require.Equal(t, OutcomeForcedRemoval, rec.Outcome)
	require.Equal(t, SemanticsForced, rec.Semantics)
	require.Contains(t, rec.Evidence["disk"], "still present")
	require.Contains(t, rec.Evidence["live"], "not listed")
	require.Contains(t, rec.Evidence["rpc"], "busy")
}

func TestDeleteLonghornStopsChecksumFirst(t *testing.T) {
	w := newWorld(t, SemanticsForced, true) // newer Longhorn: forced semantics, but a stop method
	w.checksum(uuidSnapX, time.Hour)

	res, err := w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}})
	require.NoError(t, err)
	require.Equal(t, OutcomeDeletedVerified, res.Outcome)
	require.Equal(t, 1, res.Attempts)
	require.False(t, w.disk.has(uuidSnapX))

	var seq []string
	for _, c := range w.target.calls {
		if strings.HasPrefix(c, "bdev_lvol_stop") || strings.HasPrefix(c, "bdev_lvol_delete") {
			seq = append(seq, c)
		}
	}
	require.Equal(t, []string{"bdev_lvol_stop_snapshot_checksum lvs-r/snap-x", "bdev_lvol_delete " + uuidSnapX}, seq)

	// No checksum running: the stop answers an error, the delete goes on.
	w = newWorld(t, SemanticsForced, true)
	res, err = w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}})
	require.NoError(t, err)
	require.Equal(t, OutcomeDeletedVerified, res.Outcome)
	require.Contains(t, strings.Join(res.Messages, "\n"), "stopped no checksum")

	// A non-snapshot is never sent a stop.
	w = newWorld(t, SemanticsForced, true)
	_, err = w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/vol-a"}})
	require.NoError(t, err)
	require.Zero(t, w.target.called("bdev_lvol_stop"))
}

func TestDeletePreflightRefusals(t *testing.T) {
	exportVol := func(w *world) {
		w.target.namespaces = []Namespace{{NQN: "nqn.2016-06.io.spdk:test", NSID: 1, BdevName: uuidVol}}
		w.target.claims[uuidVol] = "exclusive_write" // as the real target shows an exported lvol
	}
	tests := []struct {
		name    string
		setup   func(*world)
		req     Request
		reason  Reason
		deleted bool
	}{
		{name: "exported refused", setup: exportVol, req: Request{Ref: Ref{Alias: "lvs-r/vol"}}, reason: ReasonExported},
		{name: "exported allowed", setup: exportVol, req: Request{Ref: Ref{Alias: "lvs-r/vol"}, AllowExported: true}, deleted: true},
		{name: "claimed refused", setup: func(w *world) { w.target.claims[uuidVolA] = "exclusive_write" },
			req: Request{Ref: UUIDRef(uuidVolA)}, reason: ReasonClaimed},
		{name: "claimed refused even with allow-exported", setup: func(w *world) { w.target.claims[uuidVolA] = "read_many_write_one" },
			req: Request{Ref: UUIDRef(uuidVolA), AllowExported: true}, reason: ReasonClaimed},
		{name: "two clones refused", setup: func(w *world) {
			for i := range w.target.lvols {
				if w.target.lvols[i].UUID == uuidSnapX {
					w.target.lvols[i].Clones = []string{"vol", "vol-2"}
				}
			}
		}, req: Request{Ref: Ref{Alias: "lvs-r/snap-x"}}, reason: ReasonClones},
		{name: "one clone is fine", setup: func(*world) {}, req: Request{Ref: Ref{Alias: "lvs-r/snap-x"}}, deleted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, SemanticsForced, false)
			tc.setup(w)
			target := tc.req.Ref
			res, err := w.del.Delete(ctx, tc.req)
			if tc.deleted {
				require.NoError(t, err)
				require.Equal(t, OutcomeDeletedVerified, res.Outcome)
				return
			}
			var re *RefusedError
			require.ErrorAs(t, err, &re)
			require.ErrorIs(t, err, ErrRefused)
			require.Equal(t, tc.reason, re.Reason)
			require.Contains(t, err.Error(), "nothing was changed")
			require.Equal(t, OutcomeRefused, res.Outcome)
			require.Equal(t, 4, res.ExitCode)
			require.Zero(t, w.target.called("bdev_lvol_delete"), "nothing sent")
			require.Zero(t, w.target.called("bdev_lvol_stop"), "nothing sent")
			for _, l := range w.target.lvols {
				if target.Matches(l) {
					require.True(t, w.disk.has(l.UUID))
				}
			}
			require.Equal(t, OutcomeRefused, w.journal.outcome(t, res.IntentID).Outcome)
		})
	}
}

func TestDeleteNotFoundIsNeverSuccessWithoutTheDisk(t *testing.T) {
	t.Run("not listed, blob on disk: pending resurrection", func(t *testing.T) {
		w := newWorld(t, SemanticsForced, false)
		w.checksum(uuidSnapX, time.Second)
		err := w.target.DeleteLvol(ctx, uuidSnapX) // someone else's delete, force-removed
		require.ErrorIs(t, err, ErrBusy)

		res, err := w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}})
		require.NoError(t, err)
		require.Equal(t, OutcomeForcedRemoval, res.Outcome, "the retry by uuid answered -19")
		require.NotEqual(t, 0, res.ExitCode)
		require.NotZero(t, res.BlobID)
		require.Contains(t, strings.Join(res.Messages, "\n"), "still on disk")
		require.Equal(t, OutcomeForcedRemoval, w.journal.outcome(t, res.IntentID).Outcome, "recorded, so that repair finishes it")
		require.Equal(t, 2, w.target.called("bdev_lvol_delete "+uuidSnapX), "lvfsck sent one probe, by uuid")
	})
	t.Run("target answers no such device mid-flight, blob on disk", func(t *testing.T) {
		w := newWorld(t, SemanticsForced, false)
		w.del.Target = &dropBeforeDelete{fakeTarget: w.target}
		res, err := w.del.Delete(ctx, Request{Ref: UUIDRef(uuidVolA)})
		require.NoError(t, err)
		require.Equal(t, OutcomePendingResurrection, res.Outcome)
		require.Equal(t, 4, res.ExitCode)
		require.True(t, w.disk.has(uuidVolA))
	})
	t.Run("nowhere: typed not found", func(t *testing.T) {
		w := newWorld(t, SemanticsForced, false)
		res, err := w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/nope"}})
		var nf *NotFoundError
		require.ErrorAs(t, err, &nf)
		require.ErrorIs(t, err, ErrNotFound)
		require.Equal(t, OutcomeNotFound, res.Outcome)
		require.Equal(t, 8, res.ExitCode)
		require.Empty(t, w.journal.intents)
	})
	t.Run("disk unreadable: refuses to start", func(t *testing.T) {
		w := newWorld(t, SemanticsForced, false)
		w.disk.fail = errors.New("EIO")
		res, err := w.del.Delete(ctx, Request{Ref: UUIDRef(uuidVolA)})
		require.ErrorIs(t, err, ErrUnverified)
		require.Equal(t, OutcomeUnverified, res.Outcome)
		require.Equal(t, 8, res.ExitCode)
		require.True(t, w.listed(uuidVolA))
		require.Zero(t, w.target.called("bdev_lvol_delete"))
	})
}

// dropBeforeDelete: the lvol is force-removed by another client between
// lvfsck's resolve and its delete; the delete answers no such device.
type dropBeforeDelete struct{ *fakeTarget }

func (d *dropBeforeDelete) DeleteLvol(ctx context.Context, name string) error {
	d.mu.Lock()
	for i, l := range d.lvols {
		if l.UUID == name {
			d.drop(i)
			break
		}
	}
	d.mu.Unlock()
	return d.fakeTarget.DeleteLvol(ctx, name)
}

func TestDeleteDryRunChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ref     Ref
		outcome Outcome
		err     error
	}{
		{"deletable", Ref{Alias: "lvs-r/snap-x"}, OutcomeDryRun, nil},
		{"exported", Ref{Alias: "lvs-r/vol"}, OutcomeRefused, ErrRefused},
		{"pending", Ref{Alias: "lvs-r/vol-b"}, OutcomePendingResurrection, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, SemanticsForced, true)
			w.target.namespaces = []Namespace{{NQN: "nqn.x", NSID: 1, BdevName: uuidVol}}
			if tc.outcome == OutcomePendingResurrection {
				w.target.drop(1) // vol-b
			}
			before := w.snapshotState()
			res, err := w.del.Delete(ctx, Request{Ref: tc.ref, DryRun: true, Wait: time.Minute})
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.outcome, res.Outcome)
			require.Equal(t, before, w.snapshotState())
			require.Empty(t, w.journal.intents)
			require.Zero(t, w.target.called("bdev_lvol_delete"))
			require.Zero(t, w.target.called("bdev_lvol_stop"))
			require.Contains(t, strings.Join(res.Messages, "\n"), "dry run")
		})
	}
}

func TestDeleteVerifyFailureLeavesIntentOpen(t *testing.T) {
	w := newWorld(t, SemanticsFixed, false)
	w.del.Target = &failDiskOnDelete{fakeTarget: w.target}
	res, err := w.del.Delete(ctx, Request{Ref: UUIDRef(uuidVolA)})
	require.ErrorIs(t, err, ErrUnverified)
	require.Equal(t, OutcomeUnverified, res.Outcome)
	require.Equal(t, 8, res.ExitCode)
	open, err := w.journal.OpenIntents(ctx)
	require.NoError(t, err)
	require.Len(t, open, 1, "the next run rolls it forward")

	// The next run, with the disk readable again, finishes it.
	w.disk.fail = nil
	fin, err := w.del.FinishOpen(ctx)
	require.NoError(t, err)
	require.Len(t, fin, 1)
	require.Equal(t, OutcomeDeletedVerified, fin[0].Outcome)
	open, err = w.journal.OpenIntents(ctx)
	require.NoError(t, err)
	require.Empty(t, open)
}

// failDiskOnDelete: the delete succeeds, then the disk cannot be read.
type failDiskOnDelete struct{ *fakeTarget }

func (f *failDiskOnDelete) DeleteLvol(ctx context.Context, name string) error {
	err := f.fakeTarget.DeleteLvol(ctx, name)
	f.disk.mu.Lock()
	f.disk.fail = errors.New("EIO")
	f.disk.mu.Unlock()
	return err
}

func TestDeleteSuccessAnswerButBlobOnDiskIsNotVerified(t *testing.T) {
	w := newWorld(t, SemanticsFixed, false)
	w.del.Target = &liar{fakeTarget: w.target}
	res, err := w.del.Delete(ctx, Request{Ref: UUIDRef(uuidVolA)})
	require.NoError(t, err)
	require.Equal(t, OutcomeForcedRemoval, res.Outcome, "never reported as deleted while the blob is on disk")
	require.Equal(t, 3, w.disk.reads-1, "re-read VerifyTries times (after the lookup)")
	require.Equal(t, 2*100*time.Millisecond, w.clk.Now().Sub(t0))
}

// liar answers success but only drops the lvol from memory.
type liar struct{ *fakeTarget }

func (l *liar) DeleteLvol(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, lv := range l.lvols {
		if lv.UUID == name {
			l.drop(i)
			return nil
		}
	}
	return answerNoDevice
}

func TestDeleteCancelledWhileWaiting(t *testing.T) {
	w := newWorld(t, SemanticsKeepListed, false)
	w.checksum(uuidSnapX, time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	w.del.Clock = &cancelOnSleep{FakeClock: w.clk, cancel: cancel}
	res, err := w.del.Delete(cctx, Request{Ref: UUIDRef(uuidSnapX), Wait: time.Minute})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, OutcomeCancelled, res.Outcome)
	require.Equal(t, 32, res.ExitCode)
	require.True(t, w.listed(uuidSnapX))
	require.Equal(t, OutcomeCancelled, w.journal.outcome(t, res.IntentID).Outcome, "recorded despite the cancelled context")
}

type cancelOnSleep struct {
	*FakeClock
	cancel context.CancelFunc
}

func (c *cancelOnSleep) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return c.FakeClock.Sleep(ctx, d)
}

func TestDeleteJournalFailureStopsBeforeAnyChange(t *testing.T) {
	w := newWorld(t, SemanticsFixed, false)
	w.journal.fail = errors.New("disk full")
	res, err := w.del.Delete(ctx, Request{Ref: UUIDRef(uuidVolA)})
	require.Error(t, err)
	require.Contains(t, err.Error(), "record intent")
	require.NotEqual(t, 0, res.ExitCode)
	require.Zero(t, w.target.called("bdev_lvol_delete"))
}

// scripted answers DeleteLvol with err after applying effect to the fake.
type scripted struct {
	*fakeTarget
	effect func(f *fakeTarget, i int)
	err    error
}

func (s *scripted) DeleteLvol(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log("bdev_lvol_delete %s", name)
	for i, l := range s.lvols {
		if l.UUID == name {
			s.effect(s.fakeTarget, i)
			break
		}
	}
	return s.err
}

func TestDeleteOddAnswersAreLookedAt(t *testing.T) {
	nothing := func(*fakeTarget, int) {}
	dropOnly := func(f *fakeTarget, i int) { f.drop(i) }
	dropAndErase := func(f *fakeTarget, i int) {
		uuid := f.lvols[i].UUID
		f.drop(i)
		f.disk.remove(uuid)
	}
	dropAndBreakDisk := func(f *fakeTarget, i int) {
		f.drop(i)
		f.disk.mu.Lock()
		f.disk.fail = errors.New("EIO")
		f.disk.mu.Unlock()
	}
	other := errRPC(errors.New("io"), -5, "Input/output error")
	tests := []struct {
		name     string
		effect   func(*fakeTarget, int)
		err      error
		outcome  Outcome
		exit     int
		wantErr  error
		leftOpen bool
	}{
		{"error, nothing changed", nothing, other, OutcomeRefused, 4, other, false},
		{"error, dropped, blob on disk", dropOnly, other, OutcomeForcedRemoval, 4, nil, false},
		{"error, gone everywhere", dropAndErase, other, OutcomeDeletedVerified, 0, nil, false},
		{"error, cannot look", dropAndBreakDisk, other, OutcomeUnverified, 8, ErrUnverified, true},
		{"no such device, still listed", nothing, answerNoDevice, OutcomeUnverified, 8, ErrUnverified, true},
		{"no such device, gone everywhere", dropAndErase, answerNoDevice, OutcomeDeletedVerified, 0, nil, false},
		{"no such device, cannot look", dropAndBreakDisk, answerNoDevice, OutcomeUnverified, 8, ErrUnverified, true},
		{"busy, cannot look", dropAndBreakDisk, answerBusy, OutcomeUnverified, 8, ErrUnverified, true},
		{"busy, gone everywhere", dropAndErase, answerBusy, OutcomeDeletedVerified, 0, nil, false},
		{"success, still listed", nothing, nil, OutcomeUnverified, 8, ErrUnverified, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, SemanticsForced, false)
			w.del.Target = &scripted{fakeTarget: w.target, effect: tc.effect, err: tc.err}
			res, err := w.del.Delete(ctx, Request{Ref: UUIDRef(uuidVolA), Wait: time.Minute})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.outcome, res.Outcome)
			require.Equal(t, tc.exit, res.ExitCode)
			require.Equal(t, 1, res.Attempts)
			open, err := w.journal.OpenIntents(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.leftOpen, len(open) == 1, "an unknown outcome leaves the intent for the next run")
			if !tc.leftOpen {
				require.Equal(t, tc.outcome, w.journal.outcome(t, res.IntentID).Outcome)
			}
		})
	}
}

// TestDeleteFixedSemanticsHiddenZombie: a target with Longhorn's fix
// answers busy and hides the snapshot (fixtures/fixed-busy); the retry by
// uuid answers "Invalid argument" and the clone still names it, so lvfsck
// says hidden zombie, not forced removal, with the restart-then-delete
// advice.
func TestDeleteFixedSemanticsHiddenZombie(t *testing.T) {
	w := newWorld(t, SemanticsFixed, false)
	w.checksum(uuidSnapX, time.Hour)
	res, err := w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}, Wait: 20 * time.Second})
	require.NoError(t, err, "a hidden zombie is a result, not an error")
	require.Equal(t, OutcomeHiddenZombie, res.Outcome)
	require.Equal(t, SemanticsFixed, res.Semantics)
	require.Equal(t, 4, res.ExitCode)
	require.Equal(t, 2, res.Attempts, "no backoff: it cannot be deleted before a restart")
	require.Empty(t, w.clk.Slept())
	require.Contains(t, res.Evidence["fixed"], `"Invalid argument"`)
	require.Contains(t, res.Evidence["fixed"], "its clone lvs-r/vol still names it as base snapshot")
	text := strings.Join(res.Messages, "\n")
	require.Contains(t, text, "HIDDEN ZOMBIE (fixed target)")
	require.Contains(t, text, "cannot be deleted before the target restarts")
	require.Contains(t, text, "will hang")
	require.Contains(t, text, "Never reload")
	require.NotContains(t, text, "lacks the fix")
	rec := w.journal.outcome(t, res.IntentID)
	require.Equal(t, OutcomeHiddenZombie, rec.Outcome)
	require.Equal(t, SemanticsFixed, rec.Semantics)

	// Asked again (the lvol is no longer listed): the probe says zombie again.
	res, err = w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}})
	require.NoError(t, err)
	require.Equal(t, OutcomeHiddenZombie, res.Outcome)
	require.Contains(t, res.Evidence["fixed"], "its clone lvs-r/vol still names it as base snapshot")
}

// TestDeleteHiddenEvidenceDisagrees: a retry answering -19 while the clone
// still names the snapshot: lvfsck does not guess.
func TestDeleteHiddenEvidenceDisagrees(t *testing.T) {
	w := newWorld(t, SemanticsFixed, false)
	w.checksum(uuidSnapX, time.Hour)
	w.del.Target = &forgetHidden{fakeTarget: w.target}
	res, err := w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}})
	require.NoError(t, err)
	require.Equal(t, OutcomePendingResurrection, res.Outcome)
	require.Equal(t, SemanticsUnknown, res.Semantics)
	require.Equal(t, 4, res.ExitCode)
	require.Contains(t, strings.Join(res.Messages, "\n"), "the evidence disagrees")
	require.Contains(t, strings.Join(res.Messages, "\n"), "do not reload")
}

// forgetHidden answers -19 to a retry on a hidden lvol.
type forgetHidden struct{ *fakeTarget }

func (f *forgetHidden) DeleteLvol(ctx context.Context, name string) error {
	err := f.fakeTarget.DeleteLvol(ctx, name)
	if errors.Is(err, ErrInvalid) {
		return answerNoDevice
	}
	return err
}
