package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/repair/adapt"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

// repairCLI runs lvfsck in-process with stdin, on a terminal or not.
func repairCLI(t *testing.T, stdin string, terminal bool, args ...string) (string, string, int) {
	t.Helper()
	old := stdinIsTerminal
	stdinIsTerminal = func() bool { return terminal }
	t.Cleanup(func() { stdinIsTerminal = old })
	r := runLvfsck(t, strings.NewReader(stdin), args...)
	if r.err != nil {
		var ee *exitError
		require.True(t, errors.As(r.err, &ee) || isUsage(r.err), "%v", r.err)
	}
	return r.out, r.errText, r.code
}

// resurrected prepares the state after a forced removal and a restart: the
// journal holds a forced-removal outcome for backup-1 from an earlier
// target run, and the target lists backup-1 again.
func resurrected(t *testing.T) (*fakeTarget, string) {
	t.Helper()
	f := newFakeTarget(t, "resurrection.after-restart")
	state := t.TempDir()
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	id, err := j.RecordIntent(journal.DeleteIntent{LvolUUID: fxBackup1, Alias: "lvs-r/backup-1", LvstoreUUID: fxLvs,
		BlobID: f.blob, Incarnation: "100@1"})
	require.NoError(t, err)
	require.NoError(t, j.RecordOutcome(id, journal.DeleteOutcome{Result: journal.ResultForcedRemoval, Semantics: journal.SemanticsForced}))
	require.NoError(t, j.Close())
	return f, state
}

// Without --yes and without a terminal to ask on, repair shows the plan,
// says how to apply it, and changes nothing: the image is byte-identical.
func TestRepairWithoutYesChangesNothing(t *testing.T) {
	f, state := resurrected(t)
	f.onDelete("real")
	before, err := os.ReadFile(f.img)
	require.NoError(t, err)
	for _, extra := range [][]string{nil, {"--dry-run"}} {
		out, errText, code := repairCLI(t, "yes\n", false, append(append([]string{"repair", "--incarnation", "200@2"}, extra...), f.args(state)...)...)
		require.Equal(t, report.ExitUncorrected, code, "%s\n%s", out, errText)
		require.Contains(t, out, "[delete] guarded delete of lvs-r/backup-1")
		if extra == nil {
			require.Contains(t, out, "Nothing was changed: run `lvfsck repair --yes`")
		} else {
			require.Contains(t, out, "Dry run: nothing was changed")
		}
	}
	require.Zero(t, f.deleteCalls())
	after, err := os.ReadFile(f.img)
	require.NoError(t, err)
	require.True(t, bytes.Equal(before, after))
}

func TestRepairYesDeletesResurrected(t *testing.T) {
	f, state := resurrected(t)
	f.onDelete("real")
	out, errText, code := repairCLI(t, "", false, append([]string{"repair", "--yes", "--json", "--incarnation", "200@2"}, f.args(state)...)...)
	require.Equal(t, report.ExitCorrected, code, "%s\n%s", out, errText)
	d := jsonDoc[report.RepairDoc](t, out)
	require.True(t, d.Applied)
	require.Len(t, d.Plan, 1)
	require.Equal(t, repair.ActionDelete, d.Plan[0].Action)
	require.Equal(t, repair.OutcomeDeletedVerified, d.Results[0].Outcome)
	require.Equal(t, 1, f.deleteCalls())

	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	tl, err := j.LvolTimeline(fxBackup1)
	require.NoError(t, err)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, string(e.Kind))
	}
	require.Contains(t, strings.Join(kinds, " "), "forced-removal")
	require.Contains(t, kinds, string(journal.EventResurrected))
	require.Equal(t, string(journal.EventRepaired), kinds[len(kinds)-1], "%v", kinds)
}

// At a terminal, typing the lvstore name applies; anything else cancels.
func TestRepairTypedConfirmation(t *testing.T) {
	t.Run("wrong answer", func(t *testing.T) {
		f, state := resurrected(t)
		f.onDelete("real")
		out, errText, code := repairCLI(t, "lvs-x\n", true, append([]string{"repair", "--incarnation", "200@2"}, f.args(state)...)...)
		require.Equal(t, report.ExitCancelled, code&report.ExitCancelled, "%s\n%s", out, errText)
		require.Contains(t, out, "Type the lvstore name (lvs-r)")
		require.Contains(t, out, "nothing was changed")
		require.Zero(t, f.deleteCalls())
	})
	t.Run("end of input", func(t *testing.T) {
		f, state := resurrected(t)
		f.onDelete("real")
		out, errText, code := repairCLI(t, "", true, append([]string{"repair", "--incarnation", "200@2"}, f.args(state)...)...)
		require.Equal(t, report.ExitCancelled, code&report.ExitCancelled, "%s\n%s", out, errText)
		require.Zero(t, f.deleteCalls())
	})
	t.Run("lvstore name", func(t *testing.T) {
		f, state := resurrected(t)
		f.onDelete("real")
		out, errText, code := repairCLI(t, "lvs-r\n", true, append([]string{"repair", "--incarnation", "200@2"}, f.args(state)...)...)
		require.Equal(t, report.ExitCorrected, code, "%s\n%s", out, errText)
		require.Contains(t, out, "Applied:")
		require.Equal(t, 1, f.deleteCalls())
	})
}

func TestRepairNothingToDo(t *testing.T) {
	f := newFakeTarget(t, "resurrection.before-delete")
	out, errText, code := repairCLI(t, "", false, append([]string{"repair", "--incarnation", "1@1"}, f.args(t.TempDir())...)...)
	require.Equal(t, report.ExitOK, code, "%s\n%s", out, errText)
	require.Equal(t, 1, strings.Count(strings.ToLower(out), "nothing to repair"), "said once: %s", out)
	require.Zero(t, f.deleteCalls())
}

// A reload killed between bdev_aio_delete and bdev_aio_create left the
// lvstore unloaded: the next repair names the exact call, and with --yes
// re-creates the base bdev and closes the mark.
func TestRepairRollsForwardInterruptedReload(t *testing.T) {
	f := newFakeTarget(t, "resurrection.after-restart")
	for _, m := range []string{"bdev_lvol_get_lvstores", "bdev_lvol_get_lvols", "bdev_get_bdevs"} {
		f.s.HandleResult(m, []any{}) // the unload emptied every view
	}
	var mu sync.Mutex
	var created []map[string]any
	f.s.Handle("bdev_aio_create", func(_ context.Context, p json.RawMessage) (any, error) {
		var m map[string]any
		if err := json.Unmarshal(p, &m); err != nil {
			return nil, err
		}
		mu.Lock()
		created = append(created, m)
		mu.Unlock()
		f.views("resurrection.after-restart")
		return "aio0", nil
	})
	state := t.TempDir()
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	_, err = j.RecordEvent(journal.Event{Kind: run.EventReloadBegin, LvstoreUUID: fxLvs,
		Detail: `reload of lvstore lvs-r: bdev_aio_delete aio0, then bdev_aio_create {"name":"aio0","filename":"` + f.img + `","block_size":4096}`})
	require.NoError(t, err)
	require.NoError(t, j.Close())

	out, errText, _ := repairCLI(t, "", false, append([]string{"repair", "--incarnation", "1@1"}, f.args(state)...)...)
	require.Contains(t, out, "the lvstore is NOT loaded", errText)
	require.Contains(t, out, "bdev_aio_create "+f.img+" aio0 4096")
	require.Zero(t, f.s.Calls("bdev_aio_create"), "not without --yes")

	out, errText, code := repairCLI(t, "", false, append([]string{"repair", "--yes", "--incarnation", "1@1"}, f.args(state)...)...)
	require.Equal(t, report.ExitOK, code, "%s\n%s", out, errText)
	require.Contains(t, out, "re-created it")
	mu.Lock()
	require.Equal(t, []map[string]any{{"name": "aio0", "filename": f.img, "block_size": float64(4096)}}, created)
	mu.Unlock()

	j, err = journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	open, err := run.OpenReloads(j)
	require.NoError(t, err)
	require.Empty(t, open, "the mark is closed")
}

// Corruption is listed with advice and never touched, even with --yes.
func TestRepairLeavesCorruptionAlone(t *testing.T) {
	f := newFakeTarget(t, "resurrection.before-delete")
	f.onDelete("real")
	refs, err := adapt.NewDisk(f.img).FindBlob(context.Background(), repair.BlobQuery{LvolName: "bystander"})
	require.NoError(t, err)
	require.Len(t, refs, 1)
	fh, err := os.OpenFile(f.img, os.O_RDWR, 0)
	require.NoError(t, err)
	sb, err := blobstore.ReadSuperBlock(fh)
	require.NoError(t, err)
	_, err = fh.WriteAt([]byte{0x5a}, sb.MDPageOffset(uint32(refs[0].BlobID))+200) // a CRC mismatch
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	before, err := os.ReadFile(f.img)
	require.NoError(t, err)

	out, errText, code := repairCLI(t, "", false, append([]string{"repair", "--yes", "--incarnation", "1@1"}, f.args(t.TempDir())...)...)
	require.Equal(t, report.ExitUncorrected, code&report.ExitUncorrected, "%s\n%s", out, errText)
	require.Contains(t, out, "Not touched (lvfsck does not repair these over RPC)")
	require.Zero(t, f.deleteCalls())
	after, err := os.ReadFile(f.img)
	require.NoError(t, err)
	require.True(t, bytes.Equal(before, after))
}

// repair --yes rolls an interrupted delete forward as a plan step: the
// intent is verified against the live view and the disk and closed with
// what really happened.
func TestRepairFinishesOpenIntent(t *testing.T) {
	f := newFakeTarget(t, "resurrection.after-delete")
	state := t.TempDir()
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	id, err := j.RecordIntent(journal.DeleteIntent{LvolUUID: fxBackup1, Alias: "lvs-r/backup-1", LvstoreUUID: fxLvs, BlobID: f.blob, Incarnation: "1@1"})
	require.NoError(t, err)
	require.NoError(t, j.Close())

	out, errText, code := repairCLI(t, "", false, append([]string{"repair", "--yes", "--json", "--incarnation", "1@1"}, f.args(state)...)...)
	d := jsonDoc[report.RepairDoc](t, out)
	require.Equal(t, report.ExitUncorrected, code&report.ExitUncorrected, "%s\n%s", out, errText)
	require.Equal(t, repair.ActionFinish, d.Plan[0].Action, "%s", out)
	require.Equal(t, repair.OutcomeForcedRemoval, d.Results[0].Outcome)
	require.Zero(t, f.deleteCalls(), "finishing never deletes")

	j, err = journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	recs, err := j.Deletes(fxBackup1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, id, recs[0].Intent.ID)
	require.NotNil(t, recs[0].Outcome)
	require.Equal(t, journal.ResultForcedRemoval, recs[0].Outcome.Result)
}
