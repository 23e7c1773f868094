package journal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

func TestRecordNotify(t *testing.T) {
	j, clk := openTest(t)
	const inc1, inc2 = "boot/10/100", "boot/11/200"
	reg := NotifyRecord{Incarnation: inc1, ID: 4, Type: NotifyRegister, LvolUUID: backup1, LvstoreUUID: lvsR, LvolName: "lvs-r/backup-1"}
	unreg := reg
	unreg.ID, unreg.Type = 9, NotifyUnregister

	tests := []struct {
		name  string
		rec   NotifyRecord
		fresh bool
		err   bool
	}{
		{name: "register", rec: reg, fresh: true},
		{name: "the same event again (watch restarted, ring re-read)", rec: reg, fresh: false},
		{name: "unregister", rec: unreg, fresh: true},
		{name: "same id, another run of the target", rec: NotifyRecord{Incarnation: inc2, ID: 4, Type: NotifyRegister, LvolUUID: backup1}, fresh: true},
		{name: "unknown type", rec: NotifyRecord{Incarnation: inc1, ID: 1, Type: "fsdev_register", LvolUUID: backup1}, err: true},
		{name: "no incarnation", rec: NotifyRecord{ID: 1, Type: NotifyRegister, LvolUUID: backup1}, err: true},
		{name: "no lvol", rec: NotifyRecord{Incarnation: inc1, ID: 1, Type: NotifyRegister}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.Advance(time.Second)
			fresh, err := j.RecordNotify(tc.rec)
			if tc.err {
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.fresh, fresh)
		})
	}

	recs, err := j.NotifyRecords(inc1)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, []uint64{4, 9}, []uint64{recs[0].ID, recs[1].ID})

	// The timeline holds them as seen and gone, once each, in the
	// incarnation they happened in: what the history folds.
	tl, err := j.LvolTimeline(backup1)
	require.NoError(t, err)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, string(e.Kind)+" "+e.Incarnation)
	}
	require.Equal(t, []string{"seen " + inc1, "gone " + inc1, "seen " + inc2}, kinds)
	require.Equal(t, tl[1].At, tl[1].LastSeen)

	// Pruning drops the records read before the cut (inc1's two; inc2's
	// one was read a second later).
	n, err := j.PruneNotify(clk.Now().Add(-3500 * time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	recs, err = j.NotifyRecords(inc1)
	require.NoError(t, err)
	require.Empty(t, recs)
}

func TestRecordFindingResolvesNothing(t *testing.T) {
	j, clk := openTest(t)
	phantom := finding.Finding{Code: "phantom", Severity: finding.Error, LvstoreUUID: lvsR, LvolUUID: replicaA}
	pending := finding.Finding{Code: "pending-resurrection", Severity: finding.Error, LvstoreUUID: lvsR, LvolUUID: backup1}
	_, err := j.UpsertFindings(clk.Now(), []finding.Finding{phantom})
	require.NoError(t, err)

	for i, want := range []int{1, 2} {
		rec, err := j.RecordFinding(clk.Advance(time.Minute), pending)
		require.NoError(t, err, "event %d", i)
		require.Equal(t, want, rec.Count)
	}
	recs, err := j.Findings()
	require.NoError(t, err)
	open := map[string]bool{}
	for _, r := range recs {
		open[r.Key] = r.Open()
	}
	require.Equal(t, map[string]bool{phantom.Key(): true, pending.Key(): true}, open, "an event finding leaves the others open")
}
