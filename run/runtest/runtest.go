// Package runtest gives tests of the write commands (package run) a
// session on a fake target that answers with a captured moment of the
// resurrection scenario (testdata/fixtures), and a journal of their own.
package runtest

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
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// The resurrection scenario's lvstore and the lvol a forced removal hit.
const (
	Lvstore = "6c2f21f7-0843-4fbe-8e23-40fee4c0120a"
	Backup1 = "877aaf96-4cfd-4d02-85f9-f345a1de9362"
)

// Fixtures is the captures' directory, from a package directory.
const Fixtures = "../testdata/fixtures/"

// Target starts a fake target answering the views of moment (see Views)
// and no NVMe-oF subsystems.
func Target(t *testing.T, moment string) *rpctest.Server {
	t.Helper()
	srv := rpctest.Start(t)
	Views(t, srv, moment)
	srv.HandleResult("nvmf_get_subsystems", []any{})
	return srv
}

// Views makes srv answer the lvstore, lvol and bdev views captured at
// moment ("resurrection.after-restart"), or empty ones for "".
func Views(t *testing.T, srv *rpctest.Server, moment string) {
	t.Helper()
	for _, m := range []string{"bdev_lvol_get_lvstores", "bdev_lvol_get_lvols", "bdev_get_bdevs"} {
		if moment == "" {
			srv.HandleResult(m, []any{})
			continue
		}
		b, err := os.ReadFile(filepath.Join(Fixtures, moment+"."+m+".json"))
		require.NoError(t, err)
		srv.HandleResult(m, json.RawMessage(b))
	}
}

// Journal opens a journal of the test's own, closed at cleanup.
func Journal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	return j
}

// Open opens a session on srv as target run "1@1", verifying on devices;
// with none given, on a device that cannot be read (nothing may then be
// deleted, and the plan comes from the views and the journal alone).
func Open(t *testing.T, srv *rpctest.Server, j *journal.Journal, devices ...string) *run.Session {
	t.Helper()
	if len(devices) == 0 {
		devices = []string{filepath.Join(t.TempDir(), "missing.img")}
	}
	s, err := run.OpenSession(context.Background(), run.SessionConfig{Socket: srv.Path, Incarnation: "1@1", Devices: devices,
		Timeout: 5 * time.Second, Journal: j, Log: zerolog.Nop()})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// Intent records a delete of lvs-r/backup-1 begun by an earlier target run
// ("100@1") and returns its id; the test records the outcome, if any.
func Intent(t *testing.T, j *journal.Journal) string {
	t.Helper()
	id, err := j.RecordIntent(journal.DeleteIntent{LvolUUID: Backup1, Alias: "lvs-r/backup-1", LvstoreUUID: Lvstore, Incarnation: "100@1"})
	require.NoError(t, err)
	return id
}
