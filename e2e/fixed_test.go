package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/testfix"
)

// TestFixedStory is the whole story on the sim's fixed flavour, which
// behaves as the captured target with Longhorn's fix (fixtures/fixed-busy):
// the busy delete hides the snapshot (a zombie, not a forced removal),
// check says so, a second delete says so again, --reload is refused, the
// clean shutdown hangs and the target has to be killed, the restart brings
// the snapshot back, repair deletes it, and the next restart is clean.
func TestFixedStory(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--delete-semantics", "fixed")
	snap := setup(t, tg)
	require.Equal(t, 0, tg.check(t, state).code)

	// Busy delete: hidden zombie, told apart from a forced removal.
	wait := checksum(t, tg, "lvs-r/backup-1")
	r, d := tg.delete(t, state, "lvs-r/backup-1")
	wait()
	require.Equal(t, 4, r.code, "%s", r)
	res := d.Results[0]
	require.Equal(t, "hidden-zombie", res.Outcome, "%s", r)
	require.Equal(t, "fixed", res.Semantics)
	require.Contains(t, res.Summary, "HIDDEN ZOMBIE on a fixed target")
	msgs := strings.Join(res.Messages, "\n")
	require.Contains(t, msgs, `"Invalid argument"`)
	require.Contains(t, msgs, "its clone lvs-r/replica-a still names it as base snapshot")
	require.NotContains(t, msgs, "lacks the fix")
	_, listed := tg.lvol("backup-1")
	require.False(t, listed)
	require.Equal(t, "backup-1", tg.lvolDriver("lvs-r/replica-a").BaseSnapshot, "the clone still names it")

	// Check: a finding of its own, the semantics observed.
	c := tg.check(t, state)
	require.Equal(t, 4, c.code, "%s", c)
	z := c.of("hidden-zombie")
	require.Len(t, z, 1, "%s", c)
	require.Equal(t, snap, z[0].LvolUUID)
	require.Contains(t, z[0].Repair, "Restart, then delete")
	require.Contains(t, z[0].Repair, "Never reload")
	require.Empty(t, c.of("pending-resurrection"), "%s", c)
	require.NotNil(t, c.doc.DeleteSemantics)
	require.Equal(t, "fixed", c.doc.DeleteSemantics.Semantics)

	// A retried delete: still a zombie (its retry by uuid answers Invalid argument).
	r, d = tg.delete(t, state, "lvs-r/backup-1")
	require.Equal(t, 4, r.code, "%s", r)
	require.Equal(t, "hidden-zombie", d.Results[0].Outcome, "%s", r)

	// Repair: restart, then delete; --reload is refused, nothing unloads.
	rr, rd := tg.repair(t, state, append([]string{"--yes"}, reloadFlags...)...)
	require.Equal(t, 4, rr.code, "%s", rr)
	require.Len(t, rd.Plan, 1, "%s", rr)
	require.Equal(t, "wait-restart", rd.Plan[0].Action)
	_, listed = tg.lvol("replica-a")
	require.True(t, listed, "no reload: the lvstore stays online")

	// The clean shutdown answers and never finishes; the RPC still answers.
	require.NoError(t, tg.c.KillInstance(ctxT(t), "SIGINT"))
	select {
	case <-tg.exited:
		t.Fatalf("the target exited with a hidden zombie: %v", tg.err)
	case <-time.After(time.Second):
	}
	_, err := tg.c.GetVersion(ctxT(t))
	require.NoError(t, err)
	require.NoError(t, tg.cmd.Process.Kill())
	<-tg.exited
	log := readFile(t, tg.logf)
	require.Contains(t, log, "Error -16 deleting lvol backup-1")
	require.Contains(t, log, "Cannot unload lvol store - operations on lvols pending")

	// Restart (dirty recovery): back, same uuid; check says resurrected.
	tg2 := startSim(t, image, "--delete-semantics", "fixed")
	back, ok := tg2.lvol("backup-1")
	require.True(t, ok, "back after the restart")
	require.Equal(t, snap, back.UUID)
	require.Contains(t, readFile(t, tg2.logf), "Performing recovery on blobstore")
	c = tg2.check(t, state)
	require.Equal(t, 4, c.code, "%s", c)
	require.Len(t, c.of("resurrected"), 1, "%s", c)

	// Repair deletes it for good; the next restart is clean.
	rr, rd = tg2.repair(t, state, "--yes")
	require.Equal(t, 1, rr.code, "corrected, nothing left: %s", rr)
	require.Equal(t, "deleted-verified", rd.Results[0].Outcome, "%s", rd.text())
	tg2.stop("SIGINT")
	scanOK(t, image)
	tg3 := startSim(t, image, "--delete-semantics", "fixed")
	_, ok = tg3.lvol("backup-1")
	require.False(t, ok)
	c = tg3.check(t, state)
	require.Equal(t, 0, c.code, "%s", c)
	h := lvfsck(t, "history", "--state-dir", state, snap)
	require.Equal(t, 0, h.code, "%s", h)
	storyInOrder(t, h.stdout, "delete-intent", "hidden-zombie", "resurrected", "repaired")
	tg3.stop("SIGINT")
}

// TestFixedOfflineCheck: the captured real fixed target's device, copied
// right after the busy delete, with its live views and notify ring: exit 4
// and backup-1 named hidden on a fixed target, not a forced removal.
func TestFixedOfflineCheck(t *testing.T) {
	dir := t.TempDir()
	img := dir + "/fixed-busy-zombie-live.img"
	testfix.InflateSparse(t, "../testdata/fixtures/fixed-busy-zombie-live.img.gz", img)
	fx := func(s string) string { return "../testdata/fixtures/fixed-busy.after-delete." + s + ".json" }
	c := runCheck(t, "--image", img, "--lvstores-json", fx("bdev_lvol_get_lvstores"), "--lvols-json", fx("bdev_lvol_get_lvols"),
		"--bdevs-json", fx("bdev_get_bdevs"), "--notify-json", fx("notify_get_notifications"))
	require.Equal(t, 4, c.code, "%s", c)
	z := c.of("hidden-zombie")
	require.Len(t, z, 1, "%s", c)
	require.Equal(t, "backup-1", z[0].LvolName)
	require.Equal(t, "9061297a-245a-47ec-8f4f-b765b642546d", z[0].LvolUUID)
	require.Contains(t, z[0].Message, "Longhorn's fix")
	require.Contains(t, z[0].Evidence["semantics"], "its clone lvs-f/replica-a still names it as base snapshot")
	require.Contains(t, z[0].Evidence["notify"], "bdev_unregister")
	require.Empty(t, c.of("pending-resurrection"), "%s", c)
	for _, f := range c.doc.Findings {
		require.NotContains(t, f.Message+f.Repair, "lacks the fix")
	}
	require.Equal(t, "fixed", c.doc.DeleteSemantics.Semantics)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
