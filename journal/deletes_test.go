package journal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDeleteIntents(t *testing.T) {
	j, clk := openTest(t)
	base := DeleteIntent{LvolUUID: backup1, Alias: "lvs-r/backup-1", LvstoreUUID: lvsR, BlobID: 0x100000003,
		Incarnation: "pid:100@1", Reason: "operator", By: "lvfsck delete"}

	idBusy, err := j.RecordIntent(base)
	require.NoError(t, err)
	open, err := j.OpenIntents()
	require.NoError(t, err)
	require.Len(t, open, 1, "an intent without outcome is open")
	require.Equal(t, idBusy, open[0].ID)
	require.Equal(t, clk.Now(), open[0].At)

	clk.Advance(time.Second)
	require.NoError(t, j.RecordOutcome(idBusy, DeleteOutcome{Result: ResultForcedRemoval, Semantics: SemanticsForced,
		Detail: "Device or resource busy; gone from view, blob on disk", Attempts: 1}))

	clk.Advance(time.Minute)
	second := base
	second.ID = "caller-id-2"
	idOpen, err := j.RecordIntent(second)
	require.NoError(t, err)
	require.Equal(t, "caller-id-2", idOpen)
	_, err = j.RecordIntent(second)
	require.ErrorIs(t, err, ErrInvalid, "an intent id is recorded once")

	clk.Advance(time.Minute)
	other := DeleteIntent{LvolUUID: bystander, Alias: "lvs-r/bystander", Incarnation: "pid:100@1"}
	idOther, err := j.RecordIntent(other)
	require.NoError(t, err)
	require.NoError(t, j.RecordOutcome(idOther, DeleteOutcome{Result: ResultDeletedVerified}))

	tests := []struct {
		name    string
		lvol    string
		ids     []string
		results []DeleteResult // "" for open
	}{
		{"busy then open", backup1, []string{idBusy, idOpen}, []DeleteResult{ResultForcedRemoval, ""}},
		{"verified", bystander, []string{idOther}, []DeleteResult{ResultDeletedVerified}},
		{"never deleted", replicaA, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := j.Deletes(tc.lvol)
			require.NoError(t, err)
			var ids []string
			var results []DeleteResult
			for _, r := range recs {
				ids = append(ids, r.Intent.ID)
				if r.Outcome == nil {
					results = append(results, "")
				} else {
					results = append(results, r.Outcome.Result)
				}
			}
			require.Equal(t, tc.ids, ids)
			require.Equal(t, tc.results, results)
		})
	}

	open, err = j.OpenIntents()
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.Equal(t, idOpen, open[0].ID)

	all, err := j.AllDeletes()
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Equal(t, []string{idBusy, idOpen, idOther}, []string{all[0].Intent.ID, all[1].Intent.ID, all[2].Intent.ID}, "oldest first")
	require.NotNil(t, all[0].Outcome)
	require.Equal(t, 1, all[0].Outcome.Attempts)
	require.NotNil(t, all[2].Outcome)
	require.Equal(t, SemanticsUnknown, all[2].Outcome.Semantics, "semantics default to unknown")

	sem, ok, err := j.TargetSemantics("pid:100@1")
	require.NoError(t, err)
	require.True(t, ok, "a known semantics in an outcome is recorded for the incarnation")
	require.Equal(t, SemanticsForced, sem.Semantics)

	tl, err := j.LvolTimeline(backup1)
	require.NoError(t, err)
	var kinds []EventKind
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
		require.Equal(t, "lvs-r/backup-1", e.LvolName)
	}
	require.Equal(t, []EventKind{EventDeleteIntent, EventDeleteOutcome, EventForcedRemoval, EventDeleteIntent}, kinds)
	require.Equal(t, idBusy, tl[2].IntentID)
	require.Equal(t, ResultForcedRemoval, tl[1].Result)
	require.Equal(t, ResultForcedRemoval, tl[2].Result)
	require.Empty(t, tl[0].Result)
}

func TestDeleteErrors(t *testing.T) {
	j, _ := openTest(t)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"intent without lvol", func() error { _, err := j.RecordIntent(DeleteIntent{}); return err }, ErrInvalid},
		{"outcome of unknown intent", func() error { return j.RecordOutcome("nope", DeleteOutcome{Result: ResultError}) }, ErrNotFound},
		{"outcome without result", func() error { return j.RecordOutcome("nope", DeleteOutcome{}) }, ErrInvalid},
		{"deletes of empty uuid", func() error { _, err := j.Deletes(""); return err }, ErrInvalid},
		{"semantics of empty target", func() error { return j.RecordTargetSemantics("", SemanticsFixed, time.Time{}) }, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { require.ErrorIs(t, tc.call(), tc.want) })
	}
}

func TestTargetSemantics(t *testing.T) {
	j, clk := openTest(t)
	_, ok, err := j.TargetSemantics("/var/tmp/spdk.sock")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, j.RecordTargetSemantics("/var/tmp/spdk.sock", SemanticsForced, time.Time{}))
	clk.Advance(time.Hour)
	require.NoError(t, j.RecordTargetSemantics("/var/tmp/spdk.sock", SemanticsFixed, time.Time{}))
	r, ok, err := j.TargetSemantics("/var/tmp/spdk.sock")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, SemanticsRecord{Target: "/var/tmp/spdk.sock", Semantics: SemanticsFixed, At: clk.Now()}, r)
}

func TestRecordEvent(t *testing.T) {
	j, clk := openTest(t)
	at := clk.Now()
	e, err := j.RecordEvent(Event{Kind: EventResurrected, LvolUUID: backup1, Incarnation: "pid:200@2", Detail: "deleted at intent X"})
	require.NoError(t, err)
	require.NotEmpty(t, e.ID)
	require.Equal(t, at, e.At)
	_, err = j.RecordEvent(Event{LvolUUID: backup1})
	require.ErrorIs(t, err, ErrInvalid)
	tl, err := j.LvolTimeline(backup1)
	require.NoError(t, err)
	require.Equal(t, []Event{e}, tl)
}
