package repair

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/stretchr/testify/require"
)

// TestCodesAsReconcile: the planner matches findings by code, so its copy
// of reconcile's codes must be spelled the same.
func TestCodesAsReconcile(t *testing.T) {
	for _, tc := range []struct{ mine, theirs finding.Code }{
		{CodeResurrected, reconcile.CodeResurrected},
		{CodePendingResurrection, reconcile.CodePendingResurrection},
		{CodeOpenIntent, reconcile.CodeOpenDeleteIntent},
		{CodeHiddenZombie, reconcile.CodeHiddenZombie},
	} {
		require.Equal(t, tc.theirs, tc.mine)
	}
}

func sampleFindings() []finding.Finding {
	return []finding.Finding{
		{Code: "md-crc-mismatch", Severity: finding.Critical, Lvstore: "lvs-r", LvstoreUUID: uuidLvs, BlobID: 1<<32 | 9, Page: finding.PageRef(9),
			Message: "md page 9 fails its CRC", Repair: "restore the lvol from a backup; SPDK skips this blob at load"},
		{Code: CodePendingResurrection, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: uuidLvs, LvolName: "snap-x", LvolUUID: uuidSnapX,
			BlobID: 1<<32 | 4, Message: "lvs-r/snap-x was force-removed; it loads again at the next restart",
			Evidence: map[string]string{EvSemantics: "forced: its clone lvs-r/vol reports no base snapshot"}},
		{Code: CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: uuidLvs, LvolName: "vol-b",
			LvolUUID: "804A2E0E-123B-4A8B-BE34-4BA606FB1CC2", Message: "lvs-r/vol-b is back after a restart",
			Evidence: map[string]string{"log": "Could not remove blob on lvol gracefully - forced removal", "live": "listed again"}},
		{Code: CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: uuidLvs, LvolName: "vol-b",
			LvolUUID: "804a2e0e-123b-4a8b-be34-4ba606fb1cc2", Message: "duplicate of the above"},
		{Code: CodeOpenIntent, Severity: finding.Warning, Lvstore: "lvs-r", LvstoreUUID: uuidLvs, LvolUUID: uuidVolA, LvolName: "vol-a",
			Message: "lvfsck stopped in the middle of deleting vol-a"},
		{Code: "not-opened-at-load", Severity: finding.Warning, Lvstore: "lvs-r", LvstoreUUID: uuidLvs, LvolName: "r0600", LvolUUID: "11111111-2222-3333-4444-555555555555",
			Message: "persisted, never opened"},
		{Code: "disk-not-read", Severity: finding.Info, Message: "info is not planned"},
		{Code: CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvolName: "no-uuid", Message: "no uuid known"},
	}
}

func TestPlanActions(t *testing.T) {
	for _, reload := range []bool{false, true} {
		t.Run(fmt.Sprintf("reload=%t", reload), func(t *testing.T) {
			p := NewPlan(sampleFindings(), PlanOptions{Reload: reload})
			var got []string
			for _, s := range p.Steps {
				got = append(got, fmt.Sprintf("%s %s", s.Action, s.Target()))
			}
			pending := "wait-restart lvs-r/snap-x"
			if reload {
				pending = "reload-delete lvs-r/snap-x"
			}
			want := []string{
				"finish-intent lvs-r/vol-a",
				"delete lvs-r/vol-b", // deduplicated, uuid case folded
				pending,
				"advice blob 0x100000009",
				"advice lvs-r/no-uuid",
				"advice lvs-r/r0600",
			}
			require.Equal(t, want, got)
			require.Equal(t, map[bool]int{false: 2, true: 3}[reload], p.Actionable())
		})
	}
	require.Empty(t, NewPlan(nil, PlanOptions{}).Steps)
}

// Issue 8 item 15: the plan says what a delete rests on, no more.
func TestPlanDeleteBasis(t *testing.T) {
	res := func(ev map[string]string) finding.Finding {
		return finding.Finding{Code: CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvolName: "v", LvolUUID: uuidVolA, Evidence: ev}
	}
	cases := []struct {
		name      string
		ev        map[string]string
		want, not string
	}{
		{"log line only", map[string]string{"log": "forced removal", "live": "listed again"}, "imported spdk_tgt log", "journal"},
		{"journal only", map[string]string{"journal": "reported pending-resurrection in incarnation A"}, "the journal recorded", "log"},
		{"both", map[string]string{"journal": "x", "log": "y"}, "the journal recorded it deleted or dropped before the restart; an imported spdk_tgt log", ""},
		{"neither", nil, unknownBasis, "journal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPlan([]finding.Finding{res(tc.ev)}, PlanOptions{})
			require.Len(t, p.Steps, 1)
			d := p.Steps[0].Describe(false)
			require.Contains(t, d, tc.want)
			if tc.not != "" {
				require.NotContains(t, d, tc.not)
			}
		})
	}
}

func repairer(w *world) *Repairer {
	return &Repairer{Deleter: w.del, Reloader: newReloader(w)}
}

func pendingFinding() finding.Finding {
	return finding.Finding{Code: CodePendingResurrection, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: uuidLvs,
		LvolName: "snap-x", LvolUUID: uuidSnapX, Message: "force-removed",
		Evidence: map[string]string{EvSemantics: "forced: a retry by uuid answered No such device"}}
}

func TestApplyWithoutYesOrDryRunChangesNothing(t *testing.T) {
	for _, opts := range []ApplyOptions{{}, {DryRun: true, Yes: true, Reload: true}, {Reload: true}} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			w := newWorld(t, SemanticsForced, false)
			forceRemove(t, w)
			w.clk.Advance(time.Second)
			fs := append(sampleFindings(), pendingFinding())
			before, calls := w.snapshotState(), len(w.target.calls)
			res, err := repairer(w).Apply(ctx, NewPlan(fs, PlanOptions{Reload: true}), opts)
			if opts.DryRun {
				require.NoError(t, err)
				require.Len(t, res.Steps, len(NewPlan(fs, PlanOptions{Reload: true}).Steps))
			} else {
				require.ErrorIs(t, err, ErrNotConfirmed)
			}
			require.Equal(t, 4, res.ExitCode, "errors are left")
			require.Equal(t, before, w.snapshotState())
			require.Equal(t, calls, len(w.target.calls), "not a single RPC")
		})
	}
}

func TestApplyReloadFinishesForcedRemoval(t *testing.T) {
	w := newWorld(t, SemanticsForced, false)
	// lvfsck's own delete hits the forced removal...
	w.checksum(uuidSnapX, 44*time.Millisecond)
	res, err := w.del.Delete(ctx, Request{Ref: Ref{Alias: "lvs-r/snap-x"}})
	require.NoError(t, err)
	require.Equal(t, OutcomeForcedRemoval, res.Outcome)
	w.clk.Advance(time.Second)

	// ...and repair --reload --yes finishes it without a restart.
	plan := NewPlan([]finding.Finding{pendingFinding()}, PlanOptions{Reload: true})
	out, err := repairer(w).Apply(ctx, plan, ApplyOptions{Yes: true, Reload: true})
	require.NoError(t, err)
	require.Len(t, out.Steps, 1)
	require.Equal(t, OutcomeDeletedVerified, out.Steps[0].Outcome, "%v", out.Steps[0].Messages)
	require.Equal(t, 1, out.ExitCode, "errors corrected")
	require.False(t, w.listed(uuidSnapX))
	require.False(t, w.disk.has(uuidSnapX))

	require.Equal(t, "lvs-r/snap-x", out.Steps[0].Step.Target())
	require.Contains(t, strings.Join(out.Steps[0].Messages, "\n"), "bdev_aio_delete aio0 answered")
}

func TestApplyPendingWithoutReloadWaitsForRestartThenRepairs(t *testing.T) {
	w := newWorld(t, SemanticsForced, false)
	forceRemove(t, w)
	w.clk.Advance(time.Second)
	before := w.snapshotState()

	// Plan asked for a reload but the command line did not confirm it.
	out, err := repairer(w).Apply(ctx, NewPlan([]finding.Finding{pendingFinding()}, PlanOptions{Reload: true}), ApplyOptions{Yes: true})
	require.NoError(t, err)
	require.Equal(t, 4, out.ExitCode)
	require.Equal(t, ActionWaitRestart, out.Steps[0].Step.Action)
	require.Contains(t, strings.Join(out.Steps[0].Messages, "\n"), "wait for the target's next restart")
	require.Equal(t, before, w.snapshotState())

	// The target restarts: the lvol is back (resurrected); repair deletes it.
	w.target.lvols = w.disk.load()
	resurrected := pendingFinding()
	resurrected.Code = CodeResurrected
	out, err = repairer(w).Apply(ctx, NewPlan([]finding.Finding{resurrected}, PlanOptions{}), ApplyOptions{Yes: true, Wait: time.Second})
	require.NoError(t, err)
	require.Equal(t, OutcomeDeletedVerified, out.Steps[0].Outcome)
	require.Equal(t, 1, out.ExitCode)
	require.False(t, w.disk.has(uuidSnapX))
}

func TestApplyFinishesOpenIntentAndListsAdvice(t *testing.T) {
	w := newWorld(t, SemanticsForced, false)
	_, err := w.journal.RecordIntent(ctx, Intent{Op: "delete", LvstoreUUID: uuidLvs, LvstoreName: "lvs-r", LvolUUID: uuidVolA, LvolName: "vol-a"})
	require.NoError(t, err)
	require.NoError(t, w.target.DeleteLvol(ctx, uuidVolA)) // the interrupted delete did go through
	fs := []finding.Finding{
		{Code: CodeOpenIntent, Severity: finding.Warning, LvstoreUUID: uuidLvs, LvolUUID: uuidVolA},
		{Code: "md-crc-mismatch", Severity: finding.Critical, BlobID: 1<<32 | 9, Message: "bad page"},
	}
	out, err := repairer(w).Apply(ctx, NewPlan(fs, PlanOptions{}), ApplyOptions{Yes: true})
	require.NoError(t, err)
	require.Len(t, out.Steps, 2)
	require.Equal(t, OutcomeDeletedVerified, out.Steps[0].Outcome)
	require.Equal(t, Outcome(""), out.Steps[1].Outcome)
	require.Contains(t, out.Steps[1].Messages[0], "not touched")
	require.Equal(t, 1|4, out.ExitCode, "corrected one, left one")
}

func TestApplyStopsAtAWedgedReload(t *testing.T) {
	w := newWorld(t, SemanticsForced, false)
	forceRemove(t, w)
	w.clk.Advance(time.Second)
	w.target.wedge = true
	other := finding.Finding{Code: CodePendingResurrection, Severity: finding.Error, Lvstore: "lvs-z", LvstoreUUID: "99999999-0000-0000-0000-000000000000",
		LvolUUID: "aaaaaaaa-0000-0000-0000-000000000000", LvolName: "later", Evidence: map[string]string{EvSemantics: "forced: test"}}
	plan := NewPlan([]finding.Finding{other, pendingFinding()}, PlanOptions{Reload: true})
	require.Equal(t, "lvs-r/snap-x", plan.Steps[0].Target(), "lvs-r reloads first")
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a real-time guard only
	defer cancel()
	out, err := repairer(w).Apply(cctx, plan, ApplyOptions{Yes: true, Reload: true})
	require.ErrorIs(t, err, ErrReloadWedged)
	require.NoError(t, cctx.Err())
	require.Len(t, out.Steps, 1, "nothing more is sent to a wedged target")
	require.Equal(t, ActionReloadDelete, out.Steps[0].Step.Action)
	require.Equal(t, OutcomeUnverified, out.Steps[0].Outcome)
	require.Contains(t, strings.Join(out.Steps[0].Messages, "\n"), "restart spdk_tgt")
	require.Equal(t, 1, w.target.called("bdev_aio_delete"))
	require.Equal(t, 8, out.ExitCode&8)
}

// Steps on lvols of one kind are in natural name order: vol9 before vol10.
func TestPlanNaturalOrder(t *testing.T) {
	var fs []finding.Finding
	for i, n := range []string{"vol10", "vol9", "vol100"} {
		fs = append(fs, finding.Finding{Code: CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: uuidLvs,
			LvolName: n, LvolUUID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i)})
	}
	var got []string
	for _, s := range NewPlan(fs, PlanOptions{}).Steps {
		got = append(got, s.Target())
	}
	require.Equal(t, []string{"lvs-r/vol9", "lvs-r/vol10", "lvs-r/vol100"}, got)
}

// TestPlanZombie: a fixed target's hidden zombie is "restart, then delete";
// --reload is refused for its lvstore, and for one whose pending
// resurrection is not known to be a forced removal.
func TestPlanZombie(t *testing.T) {
	zombie := finding.Finding{Code: CodeHiddenZombie, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: uuidLvs,
		LvolName: "backup-1", LvolUUID: "aaaaaaaa-0000-0000-0000-000000000001"}
	unknown := pendingFinding()
	unknown.Evidence = map[string]string{EvSemantics: "not known: no evidence tells"}
	other := finding.Finding{Code: CodePendingResurrection, Severity: finding.Error, Lvstore: "lvs-z", LvstoreUUID: "99999999-0000-0000-0000-000000000000",
		LvolUUID: "aaaaaaaa-0000-0000-0000-000000000002", LvolName: "later", Evidence: map[string]string{EvSemantics: "forced: test"}}
	tests := []struct {
		name string
		fs   []finding.Finding
		want []string
	}{
		{"zombie and a forced one of the same lvstore", []finding.Finding{zombie, pendingFinding(), other},
			[]string{"reload-delete lvs-z/later", "wait-restart lvs-r/backup-1", "wait-restart lvs-r/snap-x"}},
		{"semantics not known", []finding.Finding{unknown}, []string{"wait-restart lvs-r/snap-x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPlan(tc.fs, PlanOptions{Reload: true})
			var got []string
			for _, s := range p.Steps {
				got = append(got, fmt.Sprintf("%s %s", s.Action, s.Target()))
				switch {
				case s.Code == CodeHiddenZombie:
					require.Contains(t, s.Advice, "Restart, then delete")
					require.Contains(t, s.Advice, "will hang")
					require.Contains(t, s.Advice, "Never reload")
				case s.LvstoreUUID == uuidLvs:
					require.Contains(t, s.Advice, "--reload refused for lvstore lvs-r")
				}
			}
			require.Equal(t, tc.want, got)

			// Without --reload nothing in a possible zombie's lvstore
			// offers --reload either.
			for _, s := range NewPlan(tc.fs, PlanOptions{}).Steps {
				reloadable := s.LvstoreUUID != uuidLvs
				require.Equal(t, reloadable, s.Reloadable, s.Target())
				require.Equal(t, reloadable, strings.Contains(s.Advice, "or use --reload"), s.Advice)
			}
		})
	}
}

// TestReloadRefusesHiddenZombie: the reload itself refuses, from RPC alone,
// while a clone names a base snapshot the target does not list.
func TestReloadRefusesHiddenZombie(t *testing.T) {
	w := newWorld(t, SemanticsFixed, false)
	w.checksum(uuidSnapX, time.Hour)
	require.ErrorIs(t, w.target.DeleteLvol(ctx, uuidSnapX), ErrBusy)
	before := w.target.called("bdev_aio_delete")
	_, err := newReloader(w).Reload(ctx, uuidLvs, []string{uuidSnapX})
	var re *RefusedError
	require.ErrorAs(t, err, &re)
	require.Equal(t, ReasonZombie, re.Reason)
	require.Equal(t, []string{"lvs-r/snap-x (base snapshot of vol)"}, re.Names)
	require.Equal(t, before, w.target.called("bdev_aio_delete"), "nothing sent")
}
