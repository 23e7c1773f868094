package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
)

const (
	histBackupUUID = "877aaf96-4cfd-4d02-85f9-f345a1de9362"
	histLvsUUID    = "6c2f21f7-0843-4fbe-8e23-40fee4c0120a"
	histIncA       = "pid30476@1764022493"
	histIncB       = "pid30480@1764022497"
)

// resAt is a time of the resurrection capture (its log runs 22:14:50–22:15:00).
func resAt(sec, msec int) time.Time {
	return time.Date(2026, 11, 24, 22, 14, sec, msec*int(time.Millisecond), time.UTC)
}

// capturedLvols reads a captured bdev_lvol_get_lvols answer as observations.
func capturedLvols(t *testing.T, name string) []journal.LvolObservation {
	t.Helper()
	raw, err := os.ReadFile(tgtFixtureDir + name + ".bdev_lvol_get_lvols.json")
	require.NoError(t, err)
	var lvols []struct {
		Alias, UUID, Name string
		Thin              bool `json:"is_thin_provisioned"`
		Snapshot          bool `json:"is_snapshot"`
		Clone             bool `json:"is_clone"`
		Lvs               struct{ Name, UUID string }
	}
	require.NoError(t, json.Unmarshal(raw, &lvols))
	var out []journal.LvolObservation
	for _, l := range lvols {
		out = append(out, journal.LvolObservation{
			UUID: l.UUID, Name: l.Name, Alias: l.Alias, LvstoreUUID: l.Lvs.UUID, LvstoreName: l.Lvs.Name,
			Thin: l.Thin, Snapshot: l.Snapshot, Clone: l.Clone,
		})
	}
	return out
}

// histResurrectionJournal replays the resurrection capture into a journal the
// way check and delete would record it, then imports the target's log.
func histResurrectionJournal(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	j, err := journal.Open(dir, journal.Options{Now: func() time.Time { return resAt(59, 900) }})
	require.NoError(t, err)
	_, err = j.ObserveLvols(histIncA, histLvsUUID, resAt(54, 500), capturedLvols(t, "resurrection.before-delete"))
	require.NoError(t, err)
	id, err := j.RecordIntent(journal.DeleteIntent{
		LvolUUID: histBackupUUID, Alias: "lvs-r/backup-1", LvstoreUUID: histLvsUUID, Incarnation: histIncA,
		At: resAt(54, 840), Reason: "retention", By: "operator",
	})
	require.NoError(t, err)
	require.NoError(t, j.RecordOutcome(id, journal.DeleteOutcome{
		At: resAt(54, 870), Result: journal.ResultForcedRemoval, Semantics: journal.SemanticsForced,
		Detail: "(-32603 Device or resource busy)",
	}))
	_, err = j.ObserveLvols(histIncA, histLvsUUID, resAt(55, 0), capturedLvols(t, "resurrection.after-delete"))
	require.NoError(t, err)
	_, err = j.ObserveLvols(histIncB, histLvsUUID, resAt(59, 0), capturedLvols(t, "resurrection.after-restart"))
	require.NoError(t, err)
	_, err = j.RecordEvent(journal.Event{
		At: resAt(59, 100), Kind: journal.EventResurrected, Incarnation: histIncB, LvstoreUUID: histLvsUUID,
		LvolUUID: histBackupUUID, LvolName: "lvs-r/backup-1", Detail: "its delete of 22:14:54 was a forced removal",
	})
	require.NoError(t, err)
	require.NoError(t, j.Close())
	r := runLvfsck(t, nil, "log", "import", "--state-dir", dir, tgtFixtureDir+"resurrection.spdk_tgt.log")
	require.Equal(t, 0, r.code, r.errText)
	return dir
}

// histEventIDs masks the journal's event ids, which carry the write time.
var histEventIDs = regexp.MustCompile(`"id": "[0-9a-f-]+"`)

func TestHistoryGolden(t *testing.T) {
	dir := histResurrectionJournal(t)

	one := runLvfsck(t, nil, "history", "--state-dir", dir, "lvs-r/backup-1")
	require.Equal(t, 0, one.code, one.errText)
	golden(t, "history-backup-1.txt.golden", one.out)
	// The same lvol by bare name and by uuid.
	for _, arg := range []string{"backup-1", histBackupUUID} {
		r := runLvfsck(t, nil, "history", "--state-dir", dir, arg)
		require.Equal(t, 0, r.code, r.errText)
		require.Equal(t, one.out, r.out, arg)
	}

	all := runLvfsck(t, nil, "history", "--state-dir", dir)
	require.Equal(t, 0, all.code, all.errText)
	golden(t, "history-all.txt.golden", all.out)

	js := runLvfsck(t, nil, "history", "--state-dir", dir, "--json", "lvs-r/backup-1")
	require.Equal(t, 0, js.code, js.errText)
	golden(t, "history-backup-1.json.golden", histEventIDs.ReplaceAllString(js.out, `"id": "X"`))
	var doc struct {
		Schema string
		UUIDs  []string
		Events []struct {
			Kind    string
			Lvol    string
			Summary string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(js.out), &doc))
	require.Equal(t, HistorySchema, doc.Schema)
	require.Equal(t, []string{histBackupUUID}, doc.UUIDs)
	var kinds []string
	for _, e := range doc.Events {
		kinds = append(kinds, e.Kind)
		require.Equal(t, "lvs-r/backup-1", e.Lvol)
	}
	require.Equal(t, []string{"seen", "delete-intent", "log-evidence", "log-evidence", "delete-outcome", "forced-removal",
		"gone", "log-evidence", "seen", "resurrected"}, kinds)
}

// TestHistoryBareNameEvidence: a log line that names only "replica-a" (no
// uuid, no lvstore) shows in replica-a's history under the name the log
// gave.
func TestHistoryBareNameEvidence(t *testing.T) {
	dir := histResurrectionJournal(t)
	r := runLvfsck(t, nil, "history", "--state-dir", dir, "lvs-r/replica-a")
	require.Equal(t, 0, r.code, r.errText)
	require.Contains(t, r.out, "replica-a        log:lost-parent-name  Cannot obtain parent snapshots name for lvol replica-a")
	require.Equal(t, 2, strings.Count(r.out, "lvs-r/replica-a  seen"), r.out) // unchanged by the delete: no event then
	require.NotContains(t, r.out, "backup-1")
}

func TestHistorySince(t *testing.T) {
	dir := histResurrectionJournal(t)
	defer func(c func() time.Time) { historyClock = c }(historyClock)
	historyClock = func() time.Time { return resAt(59, 500) }
	r := runLvfsck(t, nil, "history", "--state-dir", dir, "--since", "2s", "backup-1")
	require.Equal(t, 0, r.code, r.errText)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	require.Len(t, lines, 3, r.out)
	require.Contains(t, lines[0], "22:14:58Z  lvs-r/backup-1  log:lvol-loaded")
	require.Contains(t, lines[1], "22:14:59Z  lvs-r/backup-1  seen")
	require.Regexp(t, `resurrected +back after a target restart: its delete of 22:14:54 was a forced removal$`, lines[2])

	r = runLvfsck(t, nil, "history", "--state-dir", dir, "--since", "1d")
	require.Equal(t, 0, r.code, r.errText)
	all := runLvfsck(t, nil, "history", "--state-dir", dir)
	require.Equal(t, all.out, r.out)
}

func TestHistoryUnknownAndErrors(t *testing.T) {
	dir := histResurrectionJournal(t)
	r := runLvfsck(t, nil, "history", "--state-dir", dir, "lvs-r/nobody")
	require.Equal(t, 0, r.code)
	require.Equal(t, "no events for lvs-r/nobody\n", r.out)
	require.Contains(t, r.errText, "has nothing about lvs-r/nobody")

	for _, args := range [][]string{
		{"history", "--state-dir", dir, "a", "b"},
		{"history", "--state-dir", dir, "--since", "yesterday"},
		{"history", "--state-dir", dir, "--since", "-5m"},
		{"history", "--state-dir", dir, "--since", "99999999d"},
		{"history", "--state-dir", dir, "--bogus"},
	} {
		r := runLvfsck(t, nil, args...)
		require.Equal(t, 16, r.code, "%v: %s", args, r.errText)
	}

	j, err := journal.Open(dir, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	r = runLvfsck(t, nil, "history", "--state-dir", dir, "--wait-lock", "100ms")
	require.Equal(t, 8, r.code)
	require.Contains(t, r.errText, "journal in "+dir+" is locked by pid "+strconv.Itoa(os.Getpid())+" since ")
	require.Contains(t, r.errText, ", still after waiting 100ms")
	require.Contains(t, r.errText, "give a longer --wait-lock")
}
