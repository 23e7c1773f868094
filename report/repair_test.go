package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/repair"
)

const planVolA = "8b5a765d-064b-4ec3-ae7c-f5944c2968de"

func samplePlanFindings() []finding.Finding {
	return []finding.Finding{
		{Code: "md-crc-mismatch", Severity: finding.Critical, Lvstore: "lvs-r", LvstoreUUID: lvsR, BlobID: 1<<32 | 9, Page: finding.PageRef(9),
			Message: "md page 9 fails its CRC", Repair: "restore the lvol from a backup; SPDK skips this blob at load"},
		{Code: repair.CodePendingResurrection, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: lvsR, LvolName: "snap-x", LvolUUID: snapX,
			BlobID: 1<<32 | 4, Message: "lvs-r/snap-x was force-removed; it loads again at the next restart",
			Evidence: map[string]string{repair.EvSemantics: "forced: its clone lvs-r/vol reports no base snapshot"}},
		{Code: repair.CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: lvsR, LvolName: "vol-b",
			LvolUUID: "804A2E0E-123B-4A8B-BE34-4BA606FB1CC2", Message: "lvs-r/vol-b is back after a restart",
			Evidence: map[string]string{"log": "Could not remove blob on lvol gracefully - forced removal", "live": "listed again"}},
		{Code: repair.CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: lvsR, LvolName: "vol-b",
			LvolUUID: "804a2e0e-123b-4a8b-be34-4ba606fb1cc2", Message: "duplicate of the above"},
		{Code: repair.CodeOpenIntent, Severity: finding.Warning, Lvstore: "lvs-r", LvstoreUUID: lvsR, LvolUUID: planVolA, LvolName: "vol-a",
			Message: "lvfsck stopped in the middle of deleting vol-a"},
		{Code: "not-opened-at-load", Severity: finding.Warning, Lvstore: "lvs-r", LvstoreUUID: lvsR, LvolName: "r0600", LvolUUID: "11111111-2222-3333-4444-555555555555",
			Message: "persisted, never opened"},
		{Code: "disk-not-read", Severity: finding.Info, Message: "info is not planned"},
		{Code: repair.CodeResurrected, Severity: finding.Error, Lvstore: "lvs-r", LvolName: "no-uuid", Message: "no uuid known"},
	}
}

func TestPlanRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		file   string
		fs     []finding.Finding
		reload bool
	}{
		{"plan-restart.golden", samplePlanFindings(), false},
		{"plan-reload.golden", samplePlanFindings(), true},
		{"plan-empty.golden", nil, false},
		{"plan-one.golden", samplePlanFindings()[2:3], false}, // "1 change", not "1 change(s)"
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b strings.Builder
			writePlan(&b, RepairDoc{Plan: RepairSteps(repair.NewPlan(tc.fs, repair.PlanOptions{Reload: tc.reload}))})
			golden(t, tc.file, []byte(b.String()))
		})
	}
}

// The closing advice offers --reload only where it could be used: never
// for a hidden zombie's lvstore (the reload would never finish).
func TestPlanFooterReload(t *testing.T) {
	forced := samplePlanFindings()[1]
	zombie := finding.Finding{Code: repair.CodeHiddenZombie, Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: lvsR,
		LvolName: "backup-1", LvolUUID: planVolA, Message: "hidden"}
	for _, tc := range []struct {
		name       string
		fs         []finding.Finding
		reload, no bool
	}{
		{"forced only", []finding.Finding{forced}, true, false},
		{"zombie only", []finding.Finding{zombie}, false, true},
		{"zombie beside the forced one", []finding.Finding{zombie, forced}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			require.NoError(t, WriteRepairPlan(&b, RepairDoc{Plan: RepairSteps(repair.NewPlan(tc.fs, repair.PlanOptions{}))}))
			require.Contains(t, b.String(), "restart the target")
			require.Equal(t, tc.reload, strings.Contains(b.String(), "--reload` reloads"), b.String())
			require.Equal(t, tc.no, strings.Contains(b.String(), "Do not reload"), b.String())
		})
	}
}

// What applying did, step by step: the outcome (or the action), the
// messages, the error.
func TestWriteRepairOutcome(t *testing.T) {
	doc := RepairDoc{Applied: true, Findings: []finding.Finding{{Code: "x"}}, Exit: 1, Meaning: "errors corrected",
		Plan: []RepairStep{{Action: repair.ActionReloadDelete, Changes: true}},
		Results: []RepairStepResult{{Target: "lvs-r/snap-x", Action: repair.ActionReloadDelete, Outcome: repair.OutcomeDeletedVerified,
			Messages: []string{"bdev_aio_delete aio0 answered"}}, {Target: "lvs-r/y", Action: repair.ActionWaitRestart, Messages: []string{}, Error: "boom"}}}
	var b strings.Builder
	require.NoError(t, WriteRepairOutcome(&b, doc))
	require.Equal(t, "\nApplied:\n1. lvs-r/snap-x: deleted-verified\n   bdev_aio_delete aio0 answered\n2. lvs-r/y: wait-restart\n   error: boom\nexit 1: errors corrected\n", b.String())

	b.Reset()
	doc.Declined = true
	require.NoError(t, WriteRepairOutcome(&b, doc))
	require.Equal(t, "Not confirmed: nothing was changed.\n", b.String())
}
