package repair

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An earlier run recorded an intent and stopped (SIGKILL) before recording
// the outcome; the next run rolls it forward, each way.
func TestFinishRollsInterruptedDeleteForward(t *testing.T) {
	tests := []struct {
		name    string
		sem     Semantics
		before  func(w *world) // what happened to the target after the intent
		outcome Outcome
		exit    int
	}{
		{"the delete never went out", SemanticsForced, func(*world) {}, OutcomeStillPresent, 4},
		{"the delete was force-removed", SemanticsForced, func(w *world) {
			w.checksum(uuidSnapX, time.Second)
			require.ErrorIs(t, w.target.DeleteLvol(ctx, uuidSnapX), ErrBusy)
		}, OutcomeForcedRemoval, 4},
		{"the delete left a fixed target's zombie", SemanticsFixed, func(w *world) {
			w.checksum(uuidSnapX, time.Second)
			require.ErrorIs(t, w.target.DeleteLvol(ctx, uuidSnapX), ErrBusy)
		}, OutcomeHiddenZombie, 4},
		{"the delete completed", SemanticsForced, func(w *world) {
			require.NoError(t, w.target.DeleteLvol(ctx, uuidSnapX))
		}, OutcomeDeletedVerified, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.sem, false)
			id, err := w.journal.RecordIntent(ctx, Intent{Op: "delete", Ref: "lvs-r/snap-x", LvstoreUUID: uuidLvs, LvstoreName: "lvs-r",
				LvolUUID: uuidSnapX, LvolName: "snap-x", BlobID: w.disk.blobs[uuidSnapX].blobID, Snapshot: true, At: t0})
			require.NoError(t, err)
			tc.before(w)
			deletes := w.target.called("bdev_lvol_delete")

			res, err := w.del.FinishOpen(ctx)
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.Equal(t, tc.outcome, res[0].Outcome)
			require.Equal(t, tc.exit, res[0].ExitCode)
			require.Equal(t, "lvs-r/snap-x", res[0].Ref)
			require.Equal(t, deletes, w.target.called("bdev_lvol_delete"), "roll-forward only looks")
			require.Equal(t, tc.outcome, w.journal.outcome(t, id).Outcome)
			open, err := w.journal.OpenIntents(ctx)
			require.NoError(t, err)
			require.Empty(t, open)
		})
	}
}

func TestFinishKeepsIntentOpenWhenUnverifiable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(*world)
	}{
		{"disk unreadable", func(w *world) {
			w.target.drop(0)
			w.disk.fail = errors.New("EIO")
		}},
		{"target unreachable", func(w *world) { w.target.failLvols = errors.New("connection refused") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, SemanticsForced, false)
			_, err := w.journal.RecordIntent(ctx, Intent{Op: "delete", LvstoreUUID: uuidLvs, LvstoreName: "lvs-r", LvolUUID: uuidVolA, LvolName: "vol-a"})
			require.NoError(t, err)
			tc.breakIt(w)
			res, err := w.del.FinishOpen(ctx)
			require.ErrorIs(t, err, ErrUnverified)
			require.Len(t, res, 1)
			require.Equal(t, OutcomeUnverified, res[0].Outcome)
			open, err := w.journal.OpenIntents(ctx)
			require.NoError(t, err)
			require.Len(t, open, 1)
		})
	}
}
