package journal

import (
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

func fnd(code, lvs, lvol string) finding.Finding {
	return finding.Finding{Code: finding.Code(code), Severity: finding.Error, LvstoreUUID: lvs, LvolUUID: lvol, Message: code + " " + lvol}
}

func TestUpsertFindings(t *testing.T) {
	j, clk := openTest(t)
	pending := fnd("pending-resurrection", lvsR, backup1)
	phantom := fnd("phantom", lvsR, replicaA)
	other := fnd("md-crc-mismatch", "lvs-2", "")
	other.BlobID = 0x100000009

	type want struct {
		key        string
		first      int // run index of FirstSeen
		last       int
		count      int
		resolvedAt int // -1: open
	}
	runs := []struct {
		name  string
		scope []string // nil: UpsertFindings (whole check)
		fs    []finding.Finding
		want  []want // every record in the journal after the run
	}{
		{"first run", nil, []finding.Finding{pending, phantom}, []want{
			{pending.Key(), 0, 0, 1, -1}, {phantom.Key(), 0, 0, 1, -1}}},
		{"still there, one gone", nil, []finding.Finding{pending}, []want{
			{pending.Key(), 0, 1, 2, -1}, {phantom.Key(), 0, 0, 1, 1}}},
		{"phantom back keeps first seen", nil, []finding.Finding{pending, phantom, other}, []want{
			{pending.Key(), 0, 2, 3, -1}, {phantom.Key(), 0, 2, 2, -1}, {other.Key(), 2, 2, 1, -1}}},
		{"scoped to lvs-2 leaves lvs-r open", []string{"lvs-2"}, nil, []want{
			{pending.Key(), 0, 2, 3, -1}, {phantom.Key(), 0, 2, 2, -1}, {other.Key(), 2, 2, 1, 3}}},
		{"duplicates in one run count once", []string{lvsR}, []finding.Finding{pending, pending}, []want{
			{pending.Key(), 0, 4, 4, -1}, {phantom.Key(), 0, 2, 2, 4}, {other.Key(), 2, 2, 1, 3}}},
	}
	times := make([]time.Time, len(runs))
	for i, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			times[i] = clk.Advance(time.Hour)
			var recs []FindingRecord
			var err error
			if r.scope == nil {
				recs, err = j.UpsertFindings(times[i], r.fs)
			} else {
				recs, err = j.UpsertFindingsIn(times[i], r.scope, r.fs)
			}
			require.NoError(t, err)
			require.Len(t, recs, len(r.fs))
			for k, rec := range recs {
				require.Equal(t, r.fs[k].Key(), rec.Key, "returned in input order")
				require.True(t, rec.Open())
			}
			all, err := j.Findings()
			require.NoError(t, err)
			got := map[string]FindingRecord{}
			for _, rec := range all {
				got[rec.Key] = rec
			}
			require.Len(t, got, len(r.want))
			for _, w := range r.want {
				rec, ok := got[w.key]
				require.True(t, ok, w.key)
				require.Equal(t, times[w.first], rec.FirstSeen, "%s first", w.key)
				require.Equal(t, times[w.last], rec.LastSeen, "%s last", w.key)
				require.Equal(t, w.count, rec.Count, "%s count", w.key)
				if w.resolvedAt < 0 {
					require.True(t, rec.Open(), "%s open", w.key)
				} else {
					require.Equal(t, times[w.resolvedAt], rec.ResolvedAt, "%s resolved", w.key)
				}
			}
		})
	}
	tl, err := j.Timeline(time.Time{})
	require.NoError(t, err)
	var firsts []string
	for _, e := range tl {
		require.Equal(t, EventFindingFirstSeen, e.Kind)
		firsts = append(firsts, e.Detail)
	}
	require.Equal(t, []string{pending.Key(), phantom.Key(), other.Key()}, firsts, "first-seen once per finding, not on return")
}

func TestEvidence(t *testing.T) {
	j, _ := openTest(t)
	at := time.Date(2026, 11, 24, 22, 14, 54, 864107000, time.UTC)
	forced := Evidence{At: at, Source: "/var/log/spdk_tgt.log", Line: 21, Kind: EvidenceForcedRemoval,
		LvolUUID: backup1, LvolName: "lvs-r/backup-1",
		Text: "lvol.c:1084:lvol_delete_blob_cb: *ERROR*: Could not remove blob on lvol gracefully - forced removal"}
	busy := Evidence{At: at.Add(-61 * time.Microsecond), Source: "/var/log/spdk_tgt.log", Line: 19, Kind: EvidenceCannotRemoveOpenSnap,
		LvolName: "lvs-r/backup-1", Text: "blobstore.c:8681:bs_is_blob_deletable: *ERROR*: Cannot remove snapshot because it is open"}
	noTime := Evidence{Source: "a.log", Line: 3, Kind: EvidenceErrorOpeningLvol, LvolUUID: replicaA, Text: "Error opening lvol " + replicaA}

	tests := []struct {
		name  string
		evs   []Evidence
		added int
	}{
		{"first import", []Evidence{forced, busy, noTime}, 3},
		{"same log again", []Evidence{forced, busy, noTime}, 0},
		{"same log from another path", []Evidence{func() Evidence { e := forced; e.Source = "/tmp/copy.log"; return e }()}, 0},
		{"untimed line elsewhere is new", []Evidence{func() Evidence { e := noTime; e.Line = 40; return e }()}, 1},
		{"duplicate within one import", []Evidence{func() Evidence { e := forced; e.Line = 99; e.At = at.Add(time.Second); return e }(),
			func() Evidence { e := forced; e.Line = 99; e.At = at.Add(time.Second); return e }()}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := j.RecordEvidence(tc.evs...)
			require.NoError(t, err)
			require.Equal(t, tc.added, n)
		})
	}

	byUUID, err := j.Evidence(backup1)
	require.NoError(t, err)
	require.Len(t, byUUID, 2)
	require.Equal(t, forced.Text, byUUID[0].Text)
	byName, err := j.Evidence("lvs-r/backup-1")
	require.NoError(t, err)
	require.Len(t, byName, 3, "by name also finds the line that named no uuid")
	require.Equal(t, 19, byName[0].Line, "oldest first")
	every, err := j.AllEvidence()
	require.NoError(t, err)
	require.Len(t, every, 5)
	require.Equal(t, "a.log", every[0].Source, "untimed lines first")
	require.Equal(t, 19, every[2].Line)
	none, err := j.Evidence("nobody")
	require.NoError(t, err)
	require.Empty(t, none)

	tl, err := j.LvolTimeline(backup1)
	require.NoError(t, err)
	require.Len(t, tl, 2)
	require.Equal(t, EventLogEvidence, tl[0].Kind)

	for _, bad := range []Evidence{{LvolUUID: "u", Text: "no kind"}, {Kind: EvidenceForcedRemoval, Text: "no lvol"}} {
		_, err := j.RecordEvidence(bad)
		require.ErrorIs(t, err, ErrInvalid)
	}
	long := forced
	long.At = at.Add(time.Hour)
	long.Text = string(make([]byte, 3*maxEvidenceText))
	n, err := j.RecordEvidence(long)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = j.RecordEvidence(long)
	require.NoError(t, err)
	require.Equal(t, 0, n, "a truncated line still deduplicates")
}

// Each record keeps the incarnation whose check last reported it; a
// record resolved later keeps the one that reported it.
func TestUpsertFindingsOfIncarnation(t *testing.T) {
	j, clk := openTest(t)
	pending := fnd("pending-resurrection", lvsR, backup1)
	_, err := j.UpsertFindingsOf("inc-a", clk.Advance(time.Hour), []string{lvsR}, []finding.Finding{pending})
	require.NoError(t, err)
	_, err = j.UpsertFindingsOf("inc-a", clk.Advance(time.Hour), []string{lvsR}, []finding.Finding{pending})
	require.NoError(t, err)
	_, err = j.UpsertFindingsOf("inc-b", clk.Advance(time.Hour), []string{lvsR}, nil)
	require.NoError(t, err)
	all, err := j.Findings()
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "inc-a", all[0].Incarnation)
	require.Equal(t, 2, all[0].Count)
	require.False(t, all[0].Open(), "resolved by the check of inc-b")

	// A writer that does not know the incarnation (the watcher's
	// RecordFinding) keeps what a check recorded.
	rec, err := j.RecordFinding(clk.Advance(time.Hour), pending)
	require.NoError(t, err)
	require.Equal(t, "inc-a", rec.Incarnation)

	_, err = j.UpsertFindingsOf(strings.Repeat("x", maxIDLen+1), clk.Now(), nil, nil)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestFindingsWith(t *testing.T) {
	j, clk := openTest(t)
	pending := fnd("pending-resurrection", lvsR, backup1)
	phantom := fnd("phantom", lvsR, replicaA)
	odd := fnd("pending-resurrection", "lvs|with|bars", "u|v") // escaped in the key
	tricky := fnd("phantom", "x|pending-resurrection|y", "w")  // names the code in its lvstore
	_, err := j.UpsertFindingsOf("inc-a", clk.Advance(time.Hour), nil, []finding.Finding{pending, phantom, odd, tricky})
	require.NoError(t, err)
	got, err := j.FindingsWith("pending-resurrection")
	require.NoError(t, err)
	var keys []string
	for _, r := range got {
		keys = append(keys, r.Key)
		require.Equal(t, "inc-a", r.Incarnation)
	}
	require.ElementsMatch(t, []string{pending.Key(), odd.Key()}, keys)
	none, err := j.FindingsWith()
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestUpsertFindingsDropsDamaged(t *testing.T) {
	j, _ := openTest(t)
	f := fnd("phantom", lvsR, replicaA)
	_, err := j.UpsertFindings(time.Time{}, []finding.Finding{f})
	require.NoError(t, err)
	require.NoError(t, j.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(pFinding+"junk"), []byte("{"))
	}))
	_, err = j.Findings()
	require.Error(t, err, "a reader reports the damage")
	recs, err := j.UpsertFindings(time.Time{}, []finding.Finding{f})
	require.NoError(t, err)
	require.Equal(t, 2, recs[0].Count)
	all, err := j.Findings()
	require.NoError(t, err, "the damaged record was dropped")
	require.Len(t, all, 1)
}

// A finding's first-seen event names its lvol lvstore/name, as the
// timeline names lvols, so `history lvs/name` finds an lvol that only a
// finding ever named (dropped before any run listed it).
func TestFindingEventAlias(t *testing.T) {
	for _, tc := range []struct {
		lvstore, name, want string
	}{{"lvs-r", "backup-1", "lvs-r/backup-1"}, {"", "backup-1", "backup-1"}, {"lvs-r", "", ""}} {
		j, clk := openTest(t)
		f := fnd("pending-resurrection", lvsR, backup1)
		f.Lvstore, f.LvolName = tc.lvstore, tc.name
		_, err := j.UpsertFindingsOf("inc-a", clk.Advance(time.Hour), []string{lvsR}, []finding.Finding{f})
		require.NoError(t, err)
		evs, err := j.Timeline(time.Time{})
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.Equal(t, tc.want, evs[0].LvolName)
	}
}
