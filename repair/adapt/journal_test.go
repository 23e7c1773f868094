package adapt

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
)

func TestJournalRoundTrip(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a := &Journal{J: j, Incarnation: "1234@99", Socket: "/var/tmp/spdk.sock", By: "lvfsck delete", RunID: "r1"}

	in := repair.Intent{Op: "delete", Ref: "lvs-r/backup-1", LvstoreUUID: lvsR, LvstoreName: "lvs-r",
		LvolUUID: backup1, LvolName: "backup-1", BlobID: 1<<32 | 5, Snapshot: true, At: at}
	id, err := a.RecordIntent(ctx, in)
	require.NoError(t, err)
	require.NotEmpty(t, id)

	open, err := a.OpenIntents(ctx)
	require.NoError(t, err)
	in.ID, in.Snapshot = id, false // the journal keeps no snapshot flag
	require.Equal(t, []repair.Intent{in}, open, "an intent with no outcome comes back as it was recorded")

	require.NoError(t, a.RecordOutcome(ctx, id, repair.Record{Outcome: repair.OutcomeForcedRemoval, Semantics: repair.SemanticsForced,
		Attempts: 1, At: at.Add(time.Second), Messages: []string{"FORCED REMOVAL"}, Evidence: map[string]string{"disk": "blob 0x100000005 still present", "live": "not listed"}}))
	open, err = a.OpenIntents(ctx)
	require.NoError(t, err)
	require.Empty(t, open)

	recs, err := j.Deletes(backup1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, journal.ResultForcedRemoval, recs[0].Outcome.Result)
	require.Equal(t, journal.SemanticsForced, recs[0].Outcome.Semantics)
	require.Equal(t, "lvs-r/backup-1", recs[0].Intent.Alias)
	require.Equal(t, "disk: blob 0x100000005 still present; live: not listed", recs[0].Outcome.Detail)
	for _, target := range []string{"1234@99", "/var/tmp/spdk.sock"} {
		sem, ok, err := j.TargetSemantics(target)
		require.NoError(t, err)
		require.True(t, ok, target)
		require.Equal(t, journal.SemanticsForced, sem.Semantics)
	}

	// repair's delete after the restart: a repaired event under the lvol.
	r := &Journal{J: j, Incarnation: "5678@100", Socket: "/var/tmp/spdk.sock", By: "lvfsck repair", Repair: true}
	in2 := in
	in2.ID, in2.At = "", at.Add(time.Hour)
	id2, err := r.RecordIntent(ctx, in2)
	require.NoError(t, err)
	require.NoError(t, r.RecordOutcome(ctx, id2, repair.Record{Outcome: repair.OutcomeDeletedVerified, At: at.Add(time.Hour + time.Second)}))
	tl, err := j.LvolTimeline(backup1)
	require.NoError(t, err)
	var kinds []journal.EventKind
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []journal.EventKind{journal.EventDeleteIntent, journal.EventDeleteOutcome, journal.EventForcedRemoval,
		journal.EventDeleteIntent, journal.EventDeleteOutcome, journal.EventRepaired}, kinds)
}

func TestResultMapping(t *testing.T) {
	for o, want := range map[repair.Outcome]journal.DeleteResult{
		repair.OutcomeDeletedVerified:     journal.ResultDeletedVerified,
		repair.OutcomeForcedRemoval:       journal.ResultForcedRemoval,
		repair.OutcomeHiddenZombie:        journal.ResultHiddenZombie,
		repair.OutcomePendingResurrection: journal.ResultForcedRemoval,
		repair.OutcomeRefused:             journal.ResultRefusedGuard,
		repair.OutcomeRefusedBusy:         journal.ResultRefusedBusy,
		repair.OutcomeNotFound:            journal.ResultNotFound,
		repair.OutcomeStillPresent:        journal.ResultError,
		repair.OutcomeCancelled:           journal.ResultError,
	} {
		require.Equal(t, want, resultOf(o), o)
	}
	for s, want := range map[repair.Semantics]journal.Semantics{
		repair.SemanticsForced: journal.SemanticsForced, repair.SemanticsFixed: journal.SemanticsFixed,
		repair.SemanticsKeepListed: journal.SemanticsKeepListed, repair.SemanticsUnknown: journal.SemanticsUnknown,
	} {
		require.Equal(t, want, semanticsOf(s), s)
	}
}
