package journal

import (
	"encoding/json"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

// fuzzKeys are the places a damaged record can sit; the fuzzed value is
// stored under one of them and every reader must answer with an error or a
// value, never a panic.
var fuzzKeys = []string{
	pRun + "r1",
	pInc + "inc",
	pObs + "inc/lvs",
	pState + "inc/lvs/u",
	pSeen + "inc/u",
	pEv + "0000000000000001/0000000000000001",
	pLvolEv + "u/0000000000000001/0000000000000001",
	pIntent + "i1",
	pOutcome + "i1",
	pDelIdx + "u/i1",
	pSem + "t",
	pFinding + "k",
	pEvidence + "h",
	pEvIdx + "u/h",
	pEv + "zz/", // malformed timeline keys: the suffix is fuzzed
	pLvolEv + "u/",
}

// FuzzStoredRecords feeds damaged values (and key suffixes) to every
// reader. Seeds are real records: the lvols of the resurrection fixture as
// the journal stores them, a run, an intent, an event.
func FuzzStoredRecords(f *testing.F) {
	lvols := fixtureLvols(f, "resurrection.before-delete.bdev_get_bdevs.json")
	at := time.Date(2026, 11, 24, 22, 14, 54, 0, time.UTC)
	seeds := []any{
		lvols[0],
		Run{ID: "r1", Command: "check", Started: at, Devices: []string{"/dev/sdb"}, FindingCounts: map[string]int{"x": 1}},
		DeleteIntent{ID: "i1", LvolUUID: "u", At: at},
		DeleteOutcome{At: at, Result: ResultForcedRemoval, Semantics: SemanticsForced},
		Event{At: at, Kind: EventGone, LvolUUID: "u", Before: &lvols[2]},
		seenRec{LvstoreUUID: "lvs", FirstSeen: at},
		obsMarker{FirstSeen: at, LastSeen: at, Count: 3},
		FindingRecord{Key: "k", FirstSeen: at, LastSeen: at, Count: 1},
		Evidence{At: at, Kind: EvidenceForcedRemoval, LvolUUID: "u", Text: "forced removal"},
	}
	for i, s := range seeds {
		b, err := json.Marshal(s)
		require.NoError(f, err)
		f.Add(uint8(i), "", b)
	}
	f.Add(uint8(14), "0000000000000002", []byte(`{}`))
	f.Add(uint8(3), "", []byte(`{"uuid":`))
	f.Add(uint8(5), "", []byte(`null`))

	j, err := Open(f.TempDir(), Options{})
	require.NoError(f, err)
	f.Cleanup(func() { _ = j.Close() })

	f.Fuzz(func(t *testing.T, which uint8, suffix string, val []byte) {
		if len(suffix) > 64 || len(val) > 1<<16 {
			return
		}
		key := fuzzKeys[int(which)%len(fuzzKeys)]
		if key[len(key)-1] == '/' {
			key += suffix
		}
		if val == nil {
			val = []byte{}
		}
		require.NoError(t, j.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(key), val) }))
		defer func() {
			require.NoError(t, j.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(key)) }))
		}()
		// Errors are fine; panics and hangs are not.
		_, _ = j.Runs()
		_, _ = j.GetRun("r1")
		_, _ = j.Incarnations()
		_, _ = j.LastState("inc", "lvs")
		_, _, _, _ = j.SeenIn("inc", "u")
		_, _ = j.Timeline(time.Time{})
		_, _ = j.LvolTimeline("u")
		_, _ = j.OpenIntents()
		_, _ = j.Deletes("u")
		_, _ = j.AllDeletes()
		_, _ = j.Findings()
		_, _ = j.Evidence("u")
		_, _, _ = j.TargetSemantics("t")
		_, _ = j.ObserveLvols("inc", "lvs", time.Time{}, []LvolObservation{{UUID: "u"}})
		_, _ = j.UpsertFindings(time.Time{}, []finding.Finding{{Code: "c", LvolUUID: "u"}})
		_ = j.RecordOutcome("i1", DeleteOutcome{Result: ResultError})
	})
}
