package reconcile

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

// liveHidden is the live view after a busy delete on a fixed target: snap
// is not listed, and its clone vol still names it (fixtures/fixed-busy).
func liveHidden() Live {
	l := liveAll()
	l.Lvols = l.Lvols[1:]
	return l
}

func TestHiddenZombie(t *testing.T) {
	unreg := withNotify(liveHidden(), append(startEvents(), Notify{ID: 4, Type: NotifyBdevUnregister, Ctx: uSnap})...)
	busyKept := &MemHistory{Logs: map[string][]Evidence{uSnap: {{Kind: EvidenceDeleteBusyKept, Text: "Error -16 deleting lvol snap"}}}}
	tests := []struct {
		name    string
		live    Live
		hist    History
		code    finding.Code
		sem     string // prefix of Evidence[EvSemantics]
		because string
	}{
		{"clone still names it", liveHidden(), nil, CodeHiddenZombie, "fixed: its clone lvs-r/vol still names it", ""},
		{"clone names it, notify too", unreg, nil, CodeHiddenZombie, "fixed: its clone lvs-r/vol", ""},
		{"imported log line", liveDropped(false), busyKept, CodeHiddenZombie, "fixed: target log: Error -16 deleting lvol snap", ""},
		{"journal: lvfsck's delete found it hidden", liveDropped(false), &MemHistory{Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultHiddenZombie, Incarnation: inc1}}}},
			CodeHiddenZombie, "fixed: lvfsck's delete at", ""},
		{"journal: the target showed fixed before", withNotify(liveDropped(false), append(startEvents(), Notify{ID: 4, Type: NotifyBdevUnregister, Ctx: uSnap})...),
			&MemHistory{Semantics: SemanticsFixed}, CodeHiddenZombie, "fixed: this target showed fixed", ""},
		{"forced: clone lost its base snapshot", liveDropped(true), nil, CodePendingResurrection, "forced: its clone lvs-r/vol reports no base snapshot", ""},
		{"not known: only notify", withNotify(liveDropped(false), append(startEvents(), Notify{ID: 4, Type: NotifyBdevUnregister, Ctx: uSnap})...),
			nil, CodePendingResurrection, "not known: no evidence", "a forced removal, or a hidden zombie"},
		{"not known: evidence disagrees", liveHidden(), &MemHistory{Semantics: SemanticsForced}, CodePendingResurrection, "not known: the evidence disagrees", "does not tell which"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(Input{Live: tc.live, Persisted: disk(), History: tc.hist, Incarnation: Incarnation{ID: inc1}})
			invariants(t, got)
			f := only(t, got, tc.code)
			require.Equal(t, uSnap, f.LvolUUID)
			require.Equal(t, finding.Error, f.Severity)
			require.Contains(t, f.Evidence[EvSemantics], tc.sem)
			if tc.because != "" {
				require.Contains(t, f.Message, tc.because)
				require.Contains(t, f.Repair, "no reload")
			}
			if tc.code == CodeHiddenZombie {
				require.Contains(t, f.Message, "Longhorn's fix")
				require.NotContains(t, f.Message, "forced removal")
				require.Contains(t, f.Repair, "Restart, then delete")
				require.Contains(t, f.Repair, "will hang")
				require.Contains(t, f.Repair, "Never reload")
				require.Contains(t, f.Repair, "lvfsck repair --yes")
				require.Empty(t, findings(got, CodePendingResurrection), "one finding for it, not two")
			}
			require.Empty(t, findings(got, CodeAttrMismatch), "the clone's base snapshot agrees with the disk")
		})
	}
}

func TestObservedSemantics(t *testing.T) {
	zombie := Check(Input{Live: liveHidden(), Persisted: disk()})
	o := ObservedSemantics(Input{}, zombie)
	require.Equal(t, SemanticsFixed, o.Semantics)
	require.Contains(t, o.From, "lvs-r/snap hidden: its clone lvs-r/vol still names it")

	forced := Check(Input{Live: liveDropped(true), Persisted: disk()})
	require.Equal(t, SemanticsForced, ObservedSemantics(Input{}, forced).Semantics)

	o = ObservedSemantics(Input{History: &MemHistory{Semantics: SemanticsForced}}, nil)
	require.Equal(t, Observed{Semantics: SemanticsForced, From: "the journal: a busy delete lvfsck ran earlier"}, o)
	require.Equal(t, "conflicting", ObservedSemantics(Input{History: &MemHistory{Semantics: SemanticsForced}}, zombie).Semantics)
	require.Equal(t, "not yet seen", ObservedSemantics(Input{}, nil).Semantics)

	// After a restart: this check says resurrected, an earlier one
	// recorded the drop with its forced evidence.
	resurrected := []finding.Finding{{Code: CodeResurrected, Lvstore: "lvs-r", LvolName: "snap", LvolUUID: "u-snap"}}
	recorded := func(code finding.Code, sem string) *MemHistory {
		return &MemHistory{Findings: map[string][]RecordedFinding{"u-snap": {{Code: code, Incarnation: "old", Semantics: sem}}}}
	}
	o = ObservedSemantics(Input{History: recorded(CodePendingResurrection, "forced: its clone lvs-r/vol still names it")}, resurrected)
	require.Equal(t, Observed{Semantics: SemanticsForced, From: "lvs-r/snap dropped before the restart: its clone lvs-r/vol still names it"}, o)
	// The same on a fixed target: an earlier check recorded the zombie.
	o = ObservedSemantics(Input{History: recorded(CodeHiddenZombie, "fixed: its clone lvs-r/vol still names it")}, resurrected)
	require.Equal(t, Observed{Semantics: SemanticsFixed, From: "lvs-r/snap hidden before the restart: its clone lvs-r/vol still names it"}, o)
	require.Equal(t, "not yet seen", ObservedSemantics(Input{History: recorded(CodePendingResurrection, "")}, resurrected).Semantics, "a drop of unknown semantics")
	require.Equal(t, "not yet seen", ObservedSemantics(Input{History: recorded(CodeNotOpenedAtLoad, "forced: x")}, resurrected).Semantics)
}

func findings(fs []finding.Finding, code finding.Code) []finding.Finding {
	var out []finding.Finding
	for _, f := range fs {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}
