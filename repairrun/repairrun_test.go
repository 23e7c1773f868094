package repairrun

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/session"
	"github.com/lvfsck/lvfsck/session/sessiontest"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// resurrected is the target after a forced removal of lvs-r/backup-1 and a
// restart: it lists backup-1 again, and the journal remembers the removal.
func resurrected(t *testing.T) (*rpctest.Server, *session.Session, *journal.Journal) {
	t.Helper()
	srv := sessiontest.Target(t, "resurrection.after-restart")
	j := sessiontest.Journal(t)
	id := sessiontest.Intent(t, j)
	require.NoError(t, j.RecordOutcome(id, journal.DeleteOutcome{Result: journal.ResultForcedRemoval, Semantics: journal.SemanticsForced}))
	return srv, sessiontest.Open(t, srv, j), j
}

func options(srv *rpctest.Server) Options {
	return Options{Socket: srv.Path, UnloadTimeout: time.Second, IOSample: 10 * time.Millisecond,
		IOEvery: 5 * time.Millisecond, RPCTimeout: 5 * time.Second}
}

func TestNotConfirmedChangesNothing(t *testing.T) {
	srv, s, j := resurrected(t)
	run, err := Start(s, options(srv))
	require.NoError(t, err)
	require.NoError(t, run.Prepare(context.Background(), nil))
	require.True(t, run.NeedsConfirmation())
	require.NotEmpty(t, run.Plan.Steps)
	require.Equal(t, repair.ActionDelete, run.Plan.Steps[0].Action)
	require.Contains(t, run.Text.String(), "backup-1")

	require.NoError(t, run.Apply(context.Background(), false))
	require.False(t, run.Doc.Applied)
	require.Zero(t, srv.Calls("bdev_lvol_delete"))
	require.NotZero(t, run.Code&report.ExitUncorrected, "errors left")
	require.Equal(t, run.Code, run.Doc.Exit)
	require.Equal(t, report.ExitMeaning(run.Code), run.Doc.Meaning)

	require.NoError(t, run.Finish(run.Code))
	runs, err := j.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "repair", runs[0].Command)
	require.Equal(t, run.Code, runs[0].ExitCode)
	require.False(t, runs[0].Unfinished())
}

func TestDryRun(t *testing.T) {
	srv, s, _ := resurrected(t)
	o := options(srv)
	o.DryRun = true
	run, err := Start(s, o)
	require.NoError(t, err)
	require.NoError(t, run.Prepare(context.Background(), nil))
	require.False(t, run.NeedsConfirmation(), "a dry run asks nothing")
	require.NoError(t, run.Apply(context.Background(), false))
	require.Contains(t, run.Text.String(), "Dry run: nothing was changed.")
	require.False(t, run.Doc.Applied)
	require.True(t, run.Doc.DryRun)
	require.Zero(t, srv.Calls("bdev_lvol_delete"))
	require.NoError(t, run.Finish(run.Code))
}

func TestPrepareCancelled(t *testing.T) {
	srv, s, _ := resurrected(t)
	run, err := Start(s, options(srv))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = run.Prepare(ctx, nil)
	var f *report.Failure
	require.ErrorAs(t, err, &f)
	require.Equal(t, report.ExitCancelled, f.Code)
	require.NoError(t, run.Finish(f.Code))
}
