package journal

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
)

// TestLayoutGolden pins the on-disk format: every key and value a scripted
// story writes (the real resurrection, a forced delete, a finding, log
// evidence). A change here is a schema change: it needs a migration and a
// schemaVersion bump, not just `-update`.
func TestLayoutGolden(t *testing.T) {
	dir := t.TempDir()
	j, clk := openAt(t, dir)
	t0 := clk.Now()

	run, err := j.BeginRun(Run{Command: "check", Incarnation: "pid:100@1", Target: "/var/tmp/spdk.sock", Devices: []string{"/dev/sdb"}})
	require.NoError(t, err)
	_, err = j.ObserveLvols("pid:100@1", lvsR, t0, fixtureLvols(t, "resurrection.before-delete.bdev_get_bdevs.json"))
	require.NoError(t, err)
	in, err := j.RecordIntent(DeleteIntent{LvolUUID: backup1, Alias: "lvs-r/backup-1", LvstoreUUID: lvsR, Incarnation: "pid:100@1", Reason: "retention", By: "cron", RunID: run})
	require.NoError(t, err)
	clk.Advance(time.Second)
	require.NoError(t, j.RecordOutcome(in, DeleteOutcome{Result: ResultForcedRemoval, Semantics: SemanticsForced, Detail: "busy", Attempts: 1}))
	_, err = j.ObserveLvols("pid:100@1", lvsR, clk.Advance(time.Second), fixtureLvols(t, "resurrection.after-delete.bdev_get_bdevs.json"))
	require.NoError(t, err)
	_, err = j.UpsertFindings(clk.Now(), []finding.Finding{{Code: "pending-resurrection", Severity: finding.Error, LvstoreUUID: lvsR, LvolUUID: backup1, Message: "back at next restart"}})
	require.NoError(t, err)
	_, err = j.RecordEvidence(Evidence{At: t0, Source: "spdk_tgt.log", Line: 21, Kind: EvidenceForcedRemoval, LvolUUID: backup1,
		Text: "Could not remove blob on lvol gracefully - forced removal"})
	require.NoError(t, err)
	require.NoError(t, j.SetFindingCounts(run, map[string]int{"pending-resurrection": 1}))
	clk.Advance(time.Second)
	require.NoError(t, j.FinishRun(run, "errors", 4))
	require.NoError(t, j.Close())

	db, err := badger.Open(badgerOptions(dir, nopLogger()).WithReadOnly(true))
	require.NoError(t, err)
	defer db.Close()
	var b strings.Builder
	require.NoError(t, db.View(func(txn *badger.Txn) error {
		return scan(txn, "", "", true, func(k string, v []byte) error {
			fmt.Fprintf(&b, "%s\n\t%s\n", k, v)
			return nil
		})
	}))
	testfix.Golden(t, filepath.Join("testdata", "layout.golden"), []byte(b.String()))
}
