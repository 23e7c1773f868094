package repairrun

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/session"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

const (
	fixtures  = "../testdata/fixtures/"
	fxLvs     = "6c2f21f7-0843-4fbe-8e23-40fee4c0120a"
	fxBackup1 = "877aaf96-4cfd-4d02-85f9-f345a1de9362"
)

// resurrected is the target after a forced removal of lvs-r/backup-1 and a
// restart: it lists backup-1 again, and the journal remembers the removal.
// The device is not readable here: the plan comes from the views and the
// journal, and nothing may be deleted without a verification read anyway.
func resurrected(t *testing.T) (*rpctest.Server, *session.Session, *journal.Journal) {
	t.Helper()
	srv := rpctest.Start(t)
	for _, m := range []string{"bdev_lvol_get_lvstores", "bdev_lvol_get_lvols", "bdev_get_bdevs"} {
		b, err := os.ReadFile(filepath.Join(fixtures, "resurrection.after-restart."+m+".json"))
		require.NoError(t, err)
		srv.HandleResult(m, json.RawMessage(b))
	}
	srv.HandleResult("nvmf_get_subsystems", []any{})
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	id, err := j.RecordIntent(journal.DeleteIntent{LvolUUID: fxBackup1, Alias: "lvs-r/backup-1", LvstoreUUID: fxLvs, Incarnation: "100@1"})
	require.NoError(t, err)
	require.NoError(t, j.RecordOutcome(id, journal.DeleteOutcome{Result: journal.ResultForcedRemoval, Semantics: journal.SemanticsForced}))
	s, err := session.Open(context.Background(), session.Config{Socket: srv.Path, Incarnation: "1@1",
		Devices: []string{filepath.Join(t.TempDir(), "missing.img")}, Timeout: 5 * time.Second, Journal: j, Log: zerolog.Nop()})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return srv, s, j
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
