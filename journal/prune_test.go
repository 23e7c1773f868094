package journal

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

func TestPrune(t *testing.T) {
	j, clk := openTest(t)
	old := clk.Now()
	// Old history: a finished run, an unfinished one, an incarnation that
	// ended, a finished delete, an open one, a resolved finding, evidence.
	oldRun, err := j.BeginRun(Run{Command: "check"})
	require.NoError(t, err)
	require.NoError(t, j.FinishRun(oldRun, "ok", 0))
	_, err = j.BeginRun(Run{Command: "check"})
	require.NoError(t, err)
	_, err = j.ObserveLvols("inc-old", lvsR, old, []LvolObservation{{UUID: backup1}, {UUID: bystander}})
	require.NoError(t, err)
	doneIntent, err := j.RecordIntent(DeleteIntent{LvolUUID: bystander, Incarnation: "inc-old"})
	require.NoError(t, err)
	require.NoError(t, j.RecordOutcome(doneIntent, DeleteOutcome{Result: ResultDeletedVerified, Semantics: SemanticsFixed}))
	openIntent, err := j.RecordIntent(DeleteIntent{LvolUUID: backup1, Incarnation: "inc-old"})
	require.NoError(t, err)
	gone := fnd("phantom", lvsR, replicaA)
	stays := fnd("pending-resurrection", lvsR, backup1)
	_, err = j.UpsertFindings(old, []finding.Finding{gone, stays})
	require.NoError(t, err)
	_, err = j.UpsertFindings(old.Add(time.Minute), []finding.Finding{stays})
	require.NoError(t, err)
	_, err = j.RecordEvidence(Evidence{At: old, Source: "l", Line: 1, Kind: EvidenceForcedRemoval, LvolUUID: backup1, Text: "x"},
		Evidence{Source: "l", Line: 2, Kind: EvidenceForcedRemoval, LvolUUID: bystander, Text: "untimed, imported long ago"})
	require.NoError(t, err)

	// A week later, a new incarnation: inc-old goes, inc-new is the newest.
	bound := clk.Advance(7 * 24 * time.Hour)
	newRun, err := j.BeginRun(Run{Command: "check"})
	require.NoError(t, err)
	_, err = j.ObserveLvols("inc-new", lvsR, bound.Add(time.Second), []LvolObservation{{UUID: backup1}})
	require.NoError(t, err)
	_, err = j.RecordEvidence(Evidence{At: bound.Add(time.Hour), Source: "l", Line: 3, Kind: EvidenceForcedRemoval, LvolUUID: backup1, Text: "y"})
	require.NoError(t, err)

	st, err := j.Prune(bound)
	require.NoError(t, err)
	require.Equal(t, PruneStats{
		Runs: 2, Deletes: 1, Findings: 1, Evidence: 2, Incarnations: 1, Semantics: 0,
		// 2 seen (inc-old) + intent + outcome + intent + 2 finding-first-seen + 2 log-evidence
		Events: 9,
	}, st)

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"runs", func(t *testing.T) {
			runs, err := j.Runs()
			require.NoError(t, err)
			require.Len(t, runs, 1)
			require.Equal(t, newRun, runs[0].ID)
		}},
		{"open intent kept however old", func(t *testing.T) {
			open, err := j.OpenIntents()
			require.NoError(t, err)
			require.Len(t, open, 1)
			require.Equal(t, openIntent, open[0].ID)
			all, err := j.AllDeletes()
			require.NoError(t, err)
			require.Len(t, all, 1)
			recs, err := j.Deletes(bystander)
			require.NoError(t, err)
			require.Empty(t, recs, "index pruned with the record")
		}},
		{"open finding kept, resolved one pruned", func(t *testing.T) {
			fs, err := j.Findings()
			require.NoError(t, err)
			require.Len(t, fs, 1)
			require.Equal(t, stays.Key(), fs[0].Key)
		}},
		{"evidence", func(t *testing.T) {
			ev, err := j.Evidence(backup1)
			require.NoError(t, err)
			require.Len(t, ev, 1)
			require.Equal(t, "y", ev[0].Text)
			ev, err = j.Evidence(bystander)
			require.NoError(t, err)
			require.Empty(t, ev)
		}},
		{"old incarnation gone, newest kept", func(t *testing.T) {
			incs, err := j.Incarnations()
			require.NoError(t, err)
			require.Len(t, incs, 1)
			require.Equal(t, "inc-new", incs[0].ID)
			st, err := j.LastState("inc-old", lvsR)
			require.NoError(t, err)
			require.Empty(t, st)
			_, _, ok, err := j.SeenIn("inc-old", backup1)
			require.NoError(t, err)
			require.False(t, ok)
			st, err = j.LastState("inc-new", lvsR)
			require.NoError(t, err)
			require.Len(t, st, 1)
		}},
		{"timeline from the bound on", func(t *testing.T) {
			tl, err := j.Timeline(time.Time{})
			require.NoError(t, err)
			require.Len(t, tl, 2, "seen in inc-new, log evidence y")
			for _, e := range tl {
				require.False(t, e.At.Before(bound))
			}
			lt, err := j.LvolTimeline(backup1)
			require.NoError(t, err)
			require.Len(t, lt, 2)
		}},
		{"newest semantics kept", func(t *testing.T) {
			_, ok, err := j.TargetSemantics("inc-old")
			require.NoError(t, err)
			require.True(t, ok, "the only semantics record is the newest one")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.check)
	}

	// The latest incarnation is kept even when everything is older.
	st, err = j.Prune(bound.Add(365 * 24 * time.Hour))
	require.NoError(t, err)
	require.Equal(t, 0, st.Incarnations)
	incs, err := j.Incarnations()
	require.NoError(t, err)
	require.Len(t, incs, 1)
	open, err := j.OpenIntents()
	require.NoError(t, err)
	require.Len(t, open, 1)
}

// Pruning a year of churn gives the space back once badger compacts.
func TestPruneReclaimsSpace(t *testing.T) {
	dir := t.TempDir()
	j, clk := openAt(t, dir)
	lvols := make([]LvolObservation, 300)
	for i := range lvols {
		lvols[i] = LvolObservation{UUID: fmt.Sprintf("u%04d", i), Name: fmt.Sprintf("n%04d-%s", i, strings.Repeat("x", 200))}
	}
	// Every observation replaces half the set: lots of events.
	for r := range 12 {
		set := lvols[(r%2)*150 : (r%2)*150+150]
		_, err := j.ObserveLvols(fmt.Sprintf("inc-%d", r/3), "lvs", clk.Advance(time.Hour), set)
		require.NoError(t, err)
	}
	require.NoError(t, j.Close())
	before, _ := dirBytes(t, dir)

	j, err := Open(dir, Options{Now: clk.Now})
	require.NoError(t, err)
	st, err := j.Prune(clk.Now().Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, 3, st.Incarnations, "all but the newest")
	// Per incarnation: 150 seen, then 2 swaps of 150 gone + 150 seen.
	require.Equal(t, 4*(150+2*300), st.Events)
	require.NoError(t, j.Close())
	after, _ := dirBytes(t, dir)
	t.Logf("before prune %d bytes, after %d; %+v", before, after, st)
	require.Less(t, after, before)
}
