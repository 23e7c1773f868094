package run_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/run/runtest"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// target serves the resurrection capture before its delete; the journal
// holds an intent an earlier run left open.
func target(t *testing.T) (*rpctest.Server, *run.Session, *journal.Journal) {
	t.Helper()
	srv := runtest.Target(t, "resurrection.before-delete")
	j := runtest.Journal(t)
	runtest.Intent(t, j)
	return srv, runtest.Open(t, srv, j), j
}

func refs(t *testing.T, args ...string) []repair.Ref {
	var out []repair.Ref
	for _, a := range args {
		r, err := repair.ParseRef(a, "")
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

func TestDryRunChangesNothing(t *testing.T) {
	srv, s, j := target(t)
	rn, err := run.StartDelete(s, run.DeleteOptions{Socket: srv.Path, Refs: refs(t, "lvs-r/backup-1"), DryRun: true, Log: zerolog.Nop()})
	require.NoError(t, err)
	doc := rn.Delete(context.Background())
	require.Zero(t, srv.Calls("bdev_lvol_delete"))
	require.True(t, doc.DryRun)
	require.Empty(t, doc.Finished, "a dry run leaves the open intent alone")
	require.Contains(t, strings.Join(doc.Notes, "\n"), "1 interrupted delete(s) from an earlier run are open")
	require.Len(t, doc.Results, 1)
	// The device cannot be read here: not even a dry run says it would go ahead.
	require.Equal(t, repair.OutcomeUnverified, doc.Results[0].Outcome)
	require.NotZero(t, doc.Exit&report.ExitOperational)
	require.NoError(t, rn.Finish(doc.Exit))
	runs, err := j.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, "delete", runs[0].Command)
	require.False(t, runs[0].Unfinished())
}

// Cancelled: the open intent is still looked at, no lvol is touched.
func TestCancelled(t *testing.T) {
	srv, s, _ := target(t)
	rn, err := run.StartDelete(s, run.DeleteOptions{Socket: srv.Path, Refs: refs(t, "lvs-r/backup-1", "lvs-r/bystander"), Log: zerolog.Nop()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	doc := rn.Delete(ctx)
	require.Empty(t, doc.Results)
	require.NotZero(t, doc.Exit&report.ExitCancelled)
	require.Zero(t, srv.Calls("bdev_lvol_delete"))
	require.Equal(t, report.ExitMeaning(doc.Exit), doc.Meaning)
	require.NoError(t, rn.Finish(doc.Exit))
}
