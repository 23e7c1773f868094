package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk"
)

// The cron case of issue 8 item 1: a short-lived backup snapshot is
// deleted by the control plane (busy: a forced removal) between two checks,
// so no run of lvfsck ever saw it live. The first check after the delete
// reports it pending; after the restart that pending finding is the
// evidence that makes it resurrected, and repair deletes it for good.
func TestVerdictPendingThenResurrectedUnseen(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "forced")
	snapUUID := setup(t, tg)

	delErr, h := holdAndDelete(t, tg)
	require.ErrorIs(t, delErr, spdk.ErrBusy)
	require.ErrorIs(t, tg.c.DeleteLvol(ctxT(t), "lvs-r/backup-1"), spdk.ErrNotFound, "the retry")
	h.wait()

	r := tg.check(t, state) // the journal's first look at this target
	require.Equal(t, 4, r.code, "%s", r)
	p := r.of("pending-resurrection")
	require.Len(t, p, 1, "%s", r)
	require.Equal(t, snapUUID, p[0].LvolUUID)
	inc1 := r.doc.Incarnation

	tg.stop("SIGINT")
	tg2 := startSim(t, image, "--delete-semantics", "forced")
	_, back := tg2.lvol("backup-1")
	require.True(t, back, "the restart loaded it again")

	r = tg2.check(t, state)
	require.Equal(t, 4, r.code, "%s", r)
	res := r.of("resurrected")
	require.Len(t, res, 1, "%s", r)
	require.Equal(t, snapUUID, res[0].LvolUUID)
	require.Contains(t, res[0].Evidence["journal"], "pending-resurrection")
	require.Contains(t, res[0].Evidence["journal"], inc1)
	require.Empty(t, r.of("pending-resurrection"))

	// A second check in the same target run still says so: the evidence
	// is the journal's, not this run's.
	r = tg2.check(t, state)
	require.Equal(t, 4, r.code, "%s", r)
	require.Len(t, r.of("resurrected"), 1, "%s", r)

	dr, d := tg2.repair(t, state, "--dry-run")
	require.Equal(t, 4, dr.code, "%s", dr)
	require.False(t, d.Applied)
	require.NotEmpty(t, d.Plan, "%s", dr)
	require.Equal(t, "delete", d.Plan[0].Action)
	require.Equal(t, "lvs-r/backup-1", d.Plan[0].Target)
	_, still := tg2.lvol("backup-1")
	require.True(t, still, "a dry run changes nothing")

	yr, y := tg2.repair(t, state, "--yes")
	require.Equal(t, 1, yr.code, "errors corrected: %s", yr)
	require.True(t, y.Applied)
	require.Len(t, y.Results, 1, "%s", yr)
	require.Equal(t, "deleted-verified", y.Results[0].Outcome, "%s", yr)
	_, still = tg2.lvol("backup-1")
	require.False(t, still)

	r = tg2.check(t, state)
	require.Equal(t, 0, r.code, "%s", r)
	require.Empty(t, r.doc.Findings, "%s", r)

	// And it stays deleted across the next restart.
	tg2.stop("SIGINT")
	tg3 := startSim(t, image, "--delete-semantics", "forced")
	_, back = tg3.lvol("backup-1")
	require.False(t, back)
	r = tg3.check(t, state)
	require.Equal(t, 0, r.code, "%s", r)
	tg3.stop("SIGINT")
}

// requireVerdictAgrees holds for every check an e2e story runs: no finding
// contradicts itself, and no run reads "clean" while an lvstore's device
// was not read.
func requireVerdictAgrees(t *testing.T, doc report.JSONReport) {
	t.Helper()
	testfix.RequireAgree(t, doc.Findings)
	if doc.Status != "clean" {
		return
	}
	for _, ls := range doc.Lvstores {
		require.Contains(t, ls.Source, "disk", "status clean, but lvstore %s was not read from disk", ls.Name)
	}
}

// Issue 8 item 15, as seen beside a real target: a forced removal, a new
// lvol under the dropped name, a reload. Two lvols of one name: SPDK loads
// one; what each finding says must agree with what the disk shows.
func TestVerdictReloadTwoOfOneName(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "forced")
	setup(t, tg)
	delErr, h := holdAndDelete(t, tg)
	require.ErrorIs(t, delErr, spdk.ErrBusy)
	h.wait()
	_, err := tg.c.CreateLvol(ctxT(t), "lvs-r", "backup-1", 4, true)
	require.NoError(t, err)
	require.NoError(t, tg.c.AioDelete(ctxT(t), "aio0"))
	_, err = tg.c.AioCreate(ctxT(t), "aio0", image, 4096)
	require.NoError(t, err)
	r := tg.check(t, state) // runCheck also requires every finding to agree
	require.Equal(t, 4, r.code, "%s", r)
	require.Equal(t, []string{"clone-lost-base-snapshot replica-a", "duplicate-lvol-name backup-1", "name-collision backup-1"}, r.codes(), "%s", r)
	lost := r.of("clone-lost-base-snapshot")[0]
	require.Contains(t, lost.Evidence["disk"], "would not load (skip)")
	for _, text := range []string{lost.Message, lost.Repair} {
		require.NotContains(t, text, "comes back", "%s", r)
		require.NotContains(t, text, "the lvstore's device", "the device was read: %s", r)
	}
	require.Contains(t, lost.Repair, "duplicate-lvol-name")

	// Nothing here is lvfsck's to delete: the plan holds advice only.
	dr, d := tg.repair(t, state, "--dry-run")
	require.Equal(t, 4, dr.code, "%s", dr)
	for _, st := range d.Plan {
		require.Equal(t, "advice", st.Action, "%s", dr)
	}
	tg.stop("SIGINT")
}
