package reconcile

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

// record turns the findings of one check into what the journal hands the
// next one (collect.History does this from the journal's records).
func record(h *MemHistory, inc string, fs []finding.Finding) {
	if h.Findings == nil {
		h.Findings = map[string][]RecordedFinding{}
	}
	for _, f := range fs {
		h.Findings[f.LvolUUID] = append(h.Findings[f.LvolUUID], RecordedFinding{
			Code: f.Code, Incarnation: inc, FirstSeen: t0, LastSeen: t0, Open: true, Summary: f.Evidence[EvNotify],
		})
	}
}

// Issue 8 item 1: the snapshot is force-removed between two checks, so no
// run saw it listed. The first check's pending resurrection, recorded in the
// journal, is what makes it resurrected after the restart.
func TestCheckPendingThenResurrectedUnseen(t *testing.T) {
	h := &MemHistory{}
	dropped := withNotify(liveDropped(true), append(startEvents(), Notify{ID: 4, Type: NotifyBdevUnregister, Ctx: uSnap})...)
	first := Check(Input{Persisted: disk(), Live: dropped, History: h, Incarnation: Incarnation{ID: inc1}})
	require.Equal(t, []string{want{CodePendingResurrection, finding.Error, uSnap}.String()}, wants(first), "%s", render(first))
	record(h, inc1, first)

	// The same target run again: still pending, not resurrected.
	again := Check(Input{Persisted: disk(), Live: dropped, History: h, Incarnation: Incarnation{ID: inc1, EarlierRuns: 1}})
	require.Equal(t, wants(first), wants(again), "%s", render(again))

	after := Check(Input{Persisted: disk(), Live: withNotify(liveAll(), startEvents()...), History: h, Incarnation: Incarnation{ID: inc2}})
	require.Equal(t, []string{want{CodeResurrected, finding.Error, uSnap}.String()}, wants(after), "%s", render(after))
	f := after[0]
	require.Contains(t, f.Evidence[EvJournal], "pending-resurrection by the checks of incarnation "+inc1)
	require.Contains(t, f.Evidence[EvJournal], "bdev_unregister", "the recorded finding's own evidence is quoted")
	require.NotEmpty(t, f.Evidence[EvDisk])
	invariants(t, after)
}

func TestCheckRecordedFindings(t *testing.T) {
	rec := func(code finding.Code, inc string, open bool) *MemHistory {
		return &MemHistory{Findings: map[string][]RecordedFinding{uSnap: {{Code: code, Incarnation: inc, FirstSeen: t0, LastSeen: t0, Open: open}}}}
	}
	cases := []struct {
		name string
		hist *MemHistory
		inc  string
		want bool // resurrected
	}{
		{"pending in an earlier incarnation", rec(CodePendingResurrection, inc1, false), inc2, true},
		{"hidden zombie in an earlier incarnation", rec(CodeHiddenZombie, inc1, false), inc2, true},
		{"hidden zombie in this incarnation: not evidence of a restart", rec(CodeHiddenZombie, inc2, true), inc2, false},
		{"pending in an earlier incarnation, current one unknown", rec(CodePendingResurrection, inc1, false), "", true},
		{"pending in this incarnation: live again only through a reload, not evidence here", rec(CodePendingResurrection, inc2, true), inc2, false},
		{"pending recorded without incarnation: cannot be placed", rec(CodePendingResurrection, "", false), inc2, false},
		{"resurrected still open: stays resurrected until repaired", rec(CodeResurrected, inc2, true), inc2, true},
		{"resurrected resolved: not evidence on its own", rec(CodeResurrected, inc1, false), inc2, false},
		{"no-evidence earlier: not a drop", rec(CodeNoEvidence, inc1, false), inc2, false},
		{"not opened at load earlier: not a drop", rec(CodeNotOpenedAtLoad, inc1, false), inc2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := Check(Input{Persisted: disk(), Live: liveAll(), History: tc.hist, Incarnation: Incarnation{ID: tc.inc}})
			var w []string
			if tc.want {
				w = []string{want{CodeResurrected, finding.Error, uSnap}.String()}
			}
			require.Equal(t, w, nilIfEmpty(wants(fs)), "%s", render(fs))
			invariants(t, fs)
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// A later check of the same target run: the ring rolled over (it no longer
// holds id 0 nor the unregister) and no run listed the lvol. What the
// earlier check recorded still holds until the target restarts.
func TestCheckRecordedInThisIncarnation(t *testing.T) {
	rolled := withNotify(liveDropped(false), Notify{ID: 900, Type: NotifyBdevRegister, Ctx: "other"})
	cases := []struct {
		name string
		code finding.Code
		inc  string // of the record
		want finding.Code
	}{
		{"pending stays pending", CodePendingResurrection, inc1, CodePendingResurrection},
		{"a hidden zombie stays one, its clone gone since", CodeHiddenZombie, inc1, CodeHiddenZombie},
		{"not opened stays not opened", CodeNotOpenedAtLoad, inc1, CodeNotOpenedAtLoad},
		{"pending of an earlier incarnation: not this run's drop", CodePendingResurrection, inc2, CodeNoEvidence},
		{"no record: cause unknown", CodeNoEvidence, inc1, CodeNoEvidence},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := RecordedFinding{Code: tc.code, Incarnation: tc.inc, FirstSeen: t0, LastSeen: t0, Open: true, Summary: "notify: then"}
			if tc.code == CodeHiddenZombie {
				r.Semantics = "fixed: its clone lvs-r/vol still names it"
			}
			h := &MemHistory{Findings: map[string][]RecordedFinding{uSnap: {r}}}
			fs := Check(Input{Persisted: disk(), Live: rolled, History: h, Incarnation: Incarnation{ID: inc1, EarlierRuns: 2}})
			f := only(t, fs, tc.want)
			require.Equal(t, uSnap, f.LvolUUID)
			if tc.want == tc.code && tc.code != CodeNoEvidence {
				require.Contains(t, f.Evidence[EvJournal], "earlier check of this target incarnation")
				require.Contains(t, f.Evidence[EvJournal], "notify: then")
			}
			invariants(t, fs)
		})
	}
}
