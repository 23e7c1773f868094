package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/repair/adapt"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

const (
	fxLvs     = "6c2f21f7-0843-4fbe-8e23-40fee4c0120a"
	fxBackup1 = "877aaf96-4cfd-4d02-85f9-f345a1de9362"
)

// fakeTarget answers with the resurrection scenario's captured views and
// plays bdev_lvol_delete of lvs-r/backup-1 the way the test asks: a real
// delete zeroes the blob's first md page in the test's own copy of the
// image (as SPDK does), a forced removal only drops it from the views.
type fakeTarget struct {
	t    *testing.T
	s    *rpctest.Server
	img  string
	blob uint64

	mu      sync.Mutex
	deletes int
}

func newFakeTarget(t *testing.T, views string) *fakeTarget {
	t.Helper()
	f := &fakeTarget{t: t, s: rpctest.Start(t), img: inflated(t, t.TempDir(), "resurrection-pending.img.gz")}
	refs, err := adapt.NewDisk(f.img).FindBlob(context.Background(), repair.BlobQuery{LvolUUID: fxBackup1})
	require.NoError(t, err)
	require.Len(t, refs, 1)
	f.blob = refs[0].BlobID
	f.views(views)
	var methods []string
	b, err := os.ReadFile(filepath.Join(checkFixtures, "notify.rpc_get_methods.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &methods))
	f.s.HandleResult("rpc_get_methods", methods)
	f.s.HandleResult("nvmf_get_subsystems", []any{})
	return f
}

// views serves the captured answers of one moment ("resurrection.before-delete").
func (f *fakeTarget) views(moment string) {
	for _, m := range []string{"bdev_lvol_get_lvstores", "bdev_lvol_get_lvols", "bdev_get_bdevs"} {
		b, err := os.ReadFile(filepath.Join(checkFixtures, moment+"."+m+".json"))
		require.NoError(f.t, err)
		f.s.HandleResult(m, json.RawMessage(b))
	}
}

// onDelete sets what bdev_lvol_delete does: "real", "forced" (busy, the
// lvol dropped; a retry answers -19, as fixtures/resurrection) or "busy"
// (keep-listed: answer busy, keep the lvol).
func (f *fakeTarget) onDelete(how string) {
	f.s.Handle("bdev_lvol_delete", func(context.Context, json.RawMessage) (any, error) {
		f.mu.Lock()
		f.deletes++
		again := f.deletes > 1
		f.mu.Unlock()
		if how == "forced" && again {
			return nil, &rpctest.Error{Code: -19, Message: "No such device"}
		}
		switch how {
		case "real":
			f.zeroBlob()
			f.views("resurrection.after-delete")
			return true, nil
		case "forced":
			f.views("resurrection.after-delete")
		}
		return nil, &rpctest.Error{Code: -32603, Message: "Device or resource busy"}
	})
}

func (f *fakeTarget) deleteCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deletes
}

func (f *fakeTarget) zeroBlob() {
	fh, err := os.OpenFile(f.img, os.O_RDWR, 0)
	require.NoError(f.t, err)
	defer fh.Close()
	sb, err := blobstore.ReadSuperBlock(fh)
	require.NoError(f.t, err)
	_, err = fh.WriteAt(make([]byte, blobstore.PageSize), sb.MDPageOffset(uint32(f.blob)))
	require.NoError(f.t, err)
}

func (f *fakeTarget) args(state string, more ...string) []string {
	return append([]string{"--socket", f.s.Path, "--device", f.img, "--state-dir", state, "--timeout", "5s"}, more...)
}

func TestDeleteUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"no lvol":           {"delete"},
		"bare name":         {"delete", "backup-1"},
		"alias vs lvstore":  {"delete", "--lvstore", "other", "lvs-r/backup-1"},
		"empty name":        {"delete", "lvs-r/"},
		"negative wait":     {"delete", "--wait", "-1s", "lvs-r/backup-1"},
		"unknown flag":      {"delete", "--force", "lvs-r/backup-1"},
		"repair argument":   {"repair", "lvs-r/backup-1"},
		"yes and dry run":   {"repair", "--yes", "--dry-run"},
		"zero unload limit": {"repair", "--unload-timeout", "0s"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			// No socket, no journal: a usage error is found before either.
			_, errText, code := checkCLI(t, append(args, "--socket", "/nonexistent.sock", "--state-dir", t.TempDir())...)
			require.Equal(t, report.ExitUsage, code, errText)
		})
	}
}

// A second delete or repair on a journal that another lvfsck holds fails
// at once, naming the directory, before it talks to the target.
func TestWriteCommandsFailFastOnLockedJournal(t *testing.T) {
	f := newFakeTarget(t, "resurrection.before-delete")
	f.onDelete("real")
	state := t.TempDir()
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	for _, cmd := range [][]string{{"delete", "lvs-r/backup-1"}, {"repair", "--yes"}} {
		start := time.Now()
		_, errText, code := checkCLI(t, append(cmd, f.args(state)...)...)
		require.Equal(t, report.ExitOperational, code, errText)
		require.Contains(t, errText, state)
		require.Contains(t, errText, "locked")
		require.Less(t, time.Since(start), 2*time.Second)
	}
	require.Zero(t, f.s.Calls("bdev_lvol_get_lvols"), "the target was not even asked")
	require.Zero(t, f.deleteCalls())
}

func TestDeleteDryRunChangesNothing(t *testing.T) {
	f := newFakeTarget(t, "resurrection.before-delete")
	f.onDelete("real")
	before, err := os.ReadFile(f.img)
	require.NoError(t, err)
	state := t.TempDir()
	out, errText, code := checkCLI(t, append([]string{"delete", "--dry-run", "--json", "lvs-r/backup-1"}, f.args(state)...)...)
	require.Equal(t, report.ExitOK, code, errText)
	d := jsonDoc[report.DeleteDoc](t, out)
	require.Len(t, d.Results, 1)
	require.Equal(t, repair.OutcomeDryRun, d.Results[0].Outcome)
	require.Equal(t, fxBackup1, d.Results[0].LvolUUID)
	require.Equal(t, f.blob, d.Results[0].BlobID)
	require.Zero(t, f.deleteCalls())
	after, err := os.ReadFile(f.img)
	require.NoError(t, err)
	require.Equal(t, before, after)

	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	recs, err := j.AllDeletes()
	require.NoError(t, err)
	require.Empty(t, recs, "a dry run records no intent")
}

func TestDeleteOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		how      string
		args     []string
		code     int
		outcome  repair.Outcome
		result   journal.DeleteResult
		deletes  int
		contains string
	}{
		{"real delete, verified on disk", "real", nil, report.ExitOK, repair.OutcomeDeletedVerified, journal.ResultDeletedVerified, 1, "deleted and verified"},
		{"forced removal", "forced", nil, report.ExitUncorrected, repair.OutcomeForcedRemoval, journal.ResultForcedRemoval, 2, // the busy delete, then a retry by uuid
			"the target dropped it from memory only; it comes back at the next restart or lvstore reload; run `lvfsck repair` after the restart"},
		{"keep-listed semantics, busy past --wait", "busy", []string{"--wait", "300ms", "--backoff-initial", "50ms"}, report.ExitUncorrected,
			repair.OutcomeRefusedBusy, journal.ResultRefusedBusy, 0, "nothing changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTarget(t, "resurrection.before-delete")
			f.onDelete(tc.how)
			state := t.TempDir()
			out, errText, code := checkCLI(t, append(append([]string{"delete", "--json", "lvs-r/backup-1"}, tc.args...), f.args(state)...)...)
			require.Equal(t, tc.code, code, "%s\n%s", out, errText)
			d := jsonDoc[report.DeleteDoc](t, out)
			require.Equal(t, tc.outcome, d.Results[0].Outcome)
			require.Contains(t, d.Results[0].Summary, tc.contains)
			require.Equal(t, tc.code, d.Exit)
			if tc.deletes > 0 {
				require.Equal(t, tc.deletes, f.deleteCalls())
			} else {
				require.Greater(t, f.deleteCalls(), 1, "retried with backoff")
			}

			j, err := journal.Open(state, journal.Options{})
			require.NoError(t, err)
			defer j.Close()
			recs, err := j.Deletes(fxBackup1)
			require.NoError(t, err)
			require.Len(t, recs, 1)
			require.NotNil(t, recs[0].Outcome)
			require.Equal(t, tc.result, recs[0].Outcome.Result)
			require.Equal(t, "lvs-r/backup-1", recs[0].Intent.Alias)
		})
	}
}

// An exported lvol is refused and nothing is sent; --allow-exported lets
// the delete go ahead.
func TestDeleteRefusesExported(t *testing.T) {
	f := newFakeTarget(t, "resurrection.before-delete")
	f.onDelete("real")
	f.s.HandleResult("nvmf_get_subsystems", []map[string]any{{"nqn": "nqn.2016-06.io.spdk:test", "subtype": "NVMe",
		"namespaces": []map[string]any{{"nsid": 1, "bdev_name": fxBackup1, "name": fxBackup1, "uuid": fxBackup1}}}})
	state := t.TempDir()
	out, errText, code := checkCLI(t, append([]string{"delete", "--json", fxBackup1}, f.args(state)...)...)
	require.Equal(t, report.ExitUncorrected, code, errText)
	d := jsonDoc[report.DeleteDoc](t, out)
	require.Equal(t, repair.OutcomeRefused, d.Results[0].Outcome)
	require.Contains(t, d.Results[0].Error, "nqn.2016-06.io.spdk:test nsid 1")
	require.Zero(t, f.deleteCalls())

	out, errText, code = checkCLI(t, append([]string{"delete", "--allow-exported", fxBackup1}, f.args(state)...)...)
	require.Equal(t, report.ExitOK, code, "%s\n%s", out, errText)
	require.Equal(t, 1, f.deleteCalls())
}

// A delete intent left open (lvfsck killed mid-delete) is verified and
// recorded by the next run before it does anything else.
func TestDeleteFinishesInterruptedIntent(t *testing.T) {
	f := newFakeTarget(t, "resurrection.after-delete")
	state := t.TempDir()
	j, err := journal.Open(state, journal.Options{})
	require.NoError(t, err)
	id, err := j.RecordIntent(journal.DeleteIntent{LvolUUID: fxBackup1, Alias: "lvs-r/backup-1", LvstoreUUID: fxLvs, BlobID: f.blob})
	require.NoError(t, err)
	require.NoError(t, j.Close())

	// The earlier run got as far as a forced removal: gone from the view,
	// blob on disk. The new run's own delete meets a busy target.
	f.onDelete("busy")
	out, errText, code := checkCLI(t, append([]string{"delete", "--dry-run", "lvs-r/bystander"}, f.args(state)...)...)
	require.Equal(t, report.ExitOK, code, "%s\n%s", out, errText)
	require.Contains(t, out, "an earlier run are open")

	out, errText, code = checkCLI(t, append([]string{"delete", "--json", "lvs-r/bystander"}, f.args(state)...)...)
	d := jsonDoc[report.DeleteDoc](t, out)
	require.Len(t, d.Finished, 1, errText)
	require.Equal(t, repair.OutcomeForcedRemoval, d.Finished[0].Outcome)
	require.Equal(t, id, d.Finished[0].IntentID)
	require.Equal(t, "lvs-r/backup-1", d.Finished[0].Ref)
	require.Equal(t, report.ExitUncorrected, code, "bystander: busy, kept")
	require.Equal(t, repair.OutcomeRefusedBusy, d.Results[0].Outcome)

	j, err = journal.Open(state, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	open, err := j.OpenIntents()
	require.NoError(t, err)
	for _, in := range open {
		require.NotEqual(t, id, in.ID, "the interrupted intent is closed")
	}
	recs, err := j.Deletes(fxBackup1)
	require.NoError(t, err)
	require.Equal(t, journal.ResultForcedRemoval, recs[0].Outcome.Result)
	require.True(t, strings.Contains(recs[0].Outcome.Detail, "still present"), recs[0].Outcome.Detail)
}
