package run_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/run/runtest"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// resurrected is the target after a forced removal of lvs-r/backup-1 and a
// restart: it lists backup-1 again, and the journal remembers the removal.
func resurrected(t *testing.T) (*rpctest.Server, *run.Session, *journal.Journal) {
	t.Helper()
	srv := runtest.Target(t, "resurrection.after-restart")
	j := runtest.Journal(t)
	id := runtest.Intent(t, j)
	require.NoError(t, j.RecordOutcome(id, journal.DeleteOutcome{Result: journal.ResultForcedRemoval, Semantics: journal.SemanticsForced}))
	return srv, runtest.Open(t, srv, j), j
}

func options(srv *rpctest.Server) run.RepairOptions {
	return run.RepairOptions{Socket: srv.Path, UnloadTimeout: time.Second, IOSample: 10 * time.Millisecond,
		IOEvery: 5 * time.Millisecond, RPCTimeout: 5 * time.Second}
}

// text is the human report of the run so far.
func text(t *testing.T, rn *run.RepairRun) string {
	var b strings.Builder
	require.NoError(t, report.WriteRepair(&b, rn.Doc, false))
	return b.String()
}

func TestNotConfirmedChangesNothing(t *testing.T) {
	srv, s, j := resurrected(t)
	rn, err := run.StartRepair(s, options(srv))
	require.NoError(t, err)
	require.NoError(t, rn.Prepare(context.Background(), nil))
	require.True(t, rn.NeedsConfirmation())
	require.NotEmpty(t, rn.Plan.Steps)
	require.Equal(t, repair.ActionDelete, rn.Plan.Steps[0].Action)
	require.Contains(t, text(t, rn), "backup-1")

	rn.Apply(context.Background(), false)
	require.False(t, rn.Doc.Applied)
	require.Zero(t, srv.Calls("bdev_lvol_delete"))
	require.NotZero(t, rn.Code&report.ExitUncorrected, "errors left")
	require.Equal(t, rn.Code, rn.Doc.Exit)
	require.Equal(t, report.ExitMeaning(rn.Code), rn.Doc.Meaning)

	require.NoError(t, rn.Finish(rn.Code))
	runs, err := j.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "repair", runs[0].Command)
	require.Equal(t, rn.Code, runs[0].ExitCode)
	require.False(t, runs[0].Unfinished())
}

func TestDryRun(t *testing.T) {
	srv, s, _ := resurrected(t)
	o := options(srv)
	o.DryRun = true
	rn, err := run.StartRepair(s, o)
	require.NoError(t, err)
	require.NoError(t, rn.Prepare(context.Background(), nil))
	require.False(t, rn.NeedsConfirmation(), "a dry run asks nothing")
	rn.Apply(context.Background(), false)
	require.Contains(t, text(t, rn), "Dry run: nothing was changed.")
	require.False(t, rn.Doc.Applied)
	require.True(t, rn.Doc.DryRun)
	require.Zero(t, srv.Calls("bdev_lvol_delete"))
	require.NoError(t, rn.Finish(rn.Code))
}

func TestPrepareCancelled(t *testing.T) {
	srv, s, _ := resurrected(t)
	rn, err := run.StartRepair(s, options(srv))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = rn.Prepare(ctx, nil)
	var f *report.Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, report.ExitCancelled, f.Code)
	require.NoError(t, rn.Finish(f.Code))
}
