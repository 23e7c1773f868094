package journal

import (
	"fmt"
	"sort"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// DeleteResult is how a guarded delete ended.
type DeleteResult string

const (
	ResultDeletedVerified DeleteResult = "deleted-verified" // gone from the view and from disk
	ResultRefusedBusy     DeleteResult = "refused-busy"     // target said busy and kept the lvol
	ResultRefusedGuard    DeleteResult = "refused-guard"    // lvfsck's preflight refused
	ResultForcedRemoval   DeleteResult = "forced-removal"   // gone from the view, blob still on disk
	// ResultHiddenZombie: a fixed target answered busy and hid the lvol
	// (kept in its lvstore, closed): undeletable until a restart.
	ResultHiddenZombie DeleteResult = "hidden-zombie"
	ResultNotFound     DeleteResult = "not-found"
	ResultError        DeleteResult = "error"
)

// Semantics is how a target behaves when a delete hits a busy blob.
type Semantics string

const (
	SemanticsForced Semantics = "forced" // drops the lvol anyway (SPDK up to v24.09)
	SemanticsFixed  Semantics = "fixed"  // Longhorn's fix: busy, the lvol hidden but kept (a zombie)
	// SemanticsKeepListed: busy and the lvol stays listed (no captured
	// target does this).
	SemanticsKeepListed Semantics = "keep-listed"
	SemanticsUnknown    Semantics = "unknown" // not observed yet
)

// DeleteIntent is written, and synced, before lvfsck sends bdev_lvol_delete.
type DeleteIntent struct {
	ID          string    `json:"id"`
	LvolUUID    string    `json:"lvol_uuid"`
	Alias       string    `json:"alias,omitempty"`
	LvstoreUUID string    `json:"lvstore_uuid,omitempty"`
	BlobID      uint64    `json:"blob_id,omitempty"`
	Incarnation string    `json:"incarnation,omitempty"`
	At          time.Time `json:"at"`
	Reason      string    `json:"reason,omitempty"`
	By          string    `json:"by,omitempty"` // user or command that asked
	RunID       string    `json:"run_id,omitempty"`
}

// DeleteOutcome is how the delete of an intent ended.
type DeleteOutcome struct {
	At        time.Time    `json:"at"`
	Result    DeleteResult `json:"result"`
	Semantics Semantics    `json:"semantics,omitempty"`
	Detail    string       `json:"detail,omitempty"`
	Attempts  int          `json:"attempts,omitempty"`
}

// DeleteRecord is an intent and, once known, its outcome.
type DeleteRecord struct {
	Intent  DeleteIntent   `json:"intent"`
	Outcome *DeleteOutcome `json:"outcome,omitempty"` // nil: lvfsck stopped mid-delete
}

// SemanticsRecord is what a target (or incarnation) showed.
type SemanticsRecord struct {
	Target    string    `json:"target"`
	Semantics Semantics `json:"semantics"`
	At        time.Time `json:"at"`
}

// RecordIntent stores a delete intent and syncs it before returning; call
// it before sending the delete. An empty ID is generated and returned.
func (j *Journal) RecordIntent(in DeleteIntent) (string, error) {
	if err := j.begin(); err != nil {
		return "", err
	}
	defer j.mu.Unlock()
	if in.ID == "" {
		in.ID = formatID(j.nextID())
	}
	if in.At.IsZero() {
		in.At = j.now()
	}
	id, err := esc("intent id", in.ID)
	if err != nil {
		return "", fmt.Errorf("record delete intent: %w", err)
	}
	u, err := esc("lvol uuid", in.LvolUUID)
	if err != nil {
		return "", fmt.Errorf("record delete intent %s: %w", in.ID, err)
	}
	ev, err := j.eventOps(&Event{
		At: in.At, Kind: EventDeleteIntent, Incarnation: in.Incarnation, LvstoreUUID: in.LvstoreUUID,
		LvolUUID: in.LvolUUID, LvolName: in.Alias, BlobID: in.BlobID, IntentID: in.ID, RunID: in.RunID,
		Detail: strings.TrimSpace(in.Reason + " " + in.By),
	})
	if err != nil {
		return "", fmt.Errorf("record delete intent %s: %w", in.ID, err)
	}
	err = j.updateSynced(func(txn *badger.Txn) error {
		exists, err := has(txn, pIntent+id)
		if err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%w: intent %s already recorded", ErrInvalid, in.ID)
		}
		if err := putJSON(txn, pIntent+id, in); err != nil {
			return err
		}
		if err := txn.Set([]byte(pDelIdx+u+"/"+id), emptyVal); err != nil {
			return fmt.Errorf("index intent: %w", err)
		}
		return applyOps(txn, ev)
	})
	if err != nil {
		return "", fmt.Errorf("record delete intent %s: %w", in.ID, err)
	}
	return in.ID, nil
}

// RecordOutcome stores how intent intentID ended, synced. A result of
// forced-removal also adds a forced-removal event; a known semantics is
// recorded for the intent's incarnation.
func (j *Journal) RecordOutcome(intentID string, out DeleteOutcome) error {
	if err := j.begin(); err != nil {
		return err
	}
	defer j.mu.Unlock()
	id, err := esc("intent id", intentID)
	if err != nil {
		return fmt.Errorf("record delete outcome: %w", err)
	}
	if out.Result == "" {
		return fmt.Errorf("record delete outcome %s: %w: empty result", intentID, ErrInvalid)
	}
	if out.At.IsZero() {
		out.At = j.now()
	}
	if out.Semantics == "" {
		out.Semantics = SemanticsUnknown
	}
	err = j.updateSynced(func(txn *badger.Txn) error {
		var in DeleteIntent
		ok, err := getJSON(txn, pIntent+id, &in)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("intent %s: %w", intentID, ErrNotFound)
		}
		if err := putJSON(txn, pOutcome+id, out); err != nil {
			return err
		}
		base := Event{
			At: out.At, Incarnation: in.Incarnation, LvstoreUUID: in.LvstoreUUID, LvolUUID: in.LvolUUID,
			LvolName: in.Alias, BlobID: in.BlobID, IntentID: in.ID, RunID: in.RunID, Result: out.Result,
		}
		kinds := []EventKind{EventDeleteOutcome}
		if out.Result == ResultForcedRemoval {
			kinds = append(kinds, EventForcedRemoval)
		}
		for _, k := range kinds {
			e := base
			e.Kind = k
			e.Detail = strings.TrimSpace(fmt.Sprintf("%s %s", out.Result, out.Detail))
			ops, err := j.eventOps(&e)
			if err != nil {
				return err
			}
			if err := applyOps(txn, ops); err != nil {
				return err
			}
		}
		if in.Incarnation != "" && out.Semantics != SemanticsUnknown {
			return putJSON(txn, pSem+mustEsc(in.Incarnation), SemanticsRecord{Target: in.Incarnation, Semantics: out.Semantics, At: out.At})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record delete outcome %s: %w", intentID, err)
	}
	return nil
}

// OpenIntents returns the intents without an outcome (lvfsck stopped
// mid-delete), oldest first.
func (j *Journal) OpenIntents() ([]DeleteIntent, error) {
	recs, err := j.deletes("")
	if err != nil {
		return nil, fmt.Errorf("open intents: %w", err)
	}
	var out []DeleteIntent
	for _, r := range recs {
		if r.Outcome == nil {
			out = append(out, r.Intent)
		}
	}
	return out, nil
}

// Deletes returns every delete recorded for one lvol uuid, oldest first.
func (j *Journal) Deletes(lvolUUID string) ([]DeleteRecord, error) {
	if _, err := esc("lvol uuid", lvolUUID); err != nil {
		return nil, fmt.Errorf("deletes: %w", err)
	}
	recs, err := j.deletes(lvolUUID)
	if err != nil {
		return nil, fmt.Errorf("deletes of %s: %w", lvolUUID, err)
	}
	return recs, nil
}

// AllDeletes returns every delete recorded, oldest first.
func (j *Journal) AllDeletes() ([]DeleteRecord, error) {
	recs, err := j.deletes("")
	if err != nil {
		return nil, fmt.Errorf("all deletes: %w", err)
	}
	return recs, nil
}

// deletes lists the records of one lvol, or all when lvolUUID is "".
func (j *Journal) deletes(lvolUUID string) ([]DeleteRecord, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	var out []DeleteRecord
	err := j.db.View(func(txn *badger.Txn) error {
		add := func(id string) error {
			var r DeleteRecord
			ok, err := getJSON(txn, pIntent+id, &r.Intent)
			if err != nil || !ok {
				return err
			}
			var o DeleteOutcome
			ok, err = getJSON(txn, pOutcome+id, &o)
			if err != nil {
				return err
			}
			if ok {
				r.Outcome = &o
			}
			out = append(out, r)
			return nil
		}
		if lvolUUID == "" {
			return scan(txn, pIntent, "", false, func(k string, _ []byte) error {
				return add(strings.TrimPrefix(k, pIntent))
			})
		}
		return scan(txn, pDelIdx+mustEsc(lvolUUID)+"/", "", false, func(k string, _ []byte) error {
			return add(lastSegment(k))
		})
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Intent.At.Before(out[b].Intent.At) })
	return out, nil
}

// RecordTargetSemantics stores what a target (an incarnation id, or a
// socket path) showed. Synced.
func (j *Journal) RecordTargetSemantics(target string, s Semantics, at time.Time) error {
	if err := j.begin(); err != nil {
		return err
	}
	defer j.mu.Unlock()
	k, err := esc("target", target)
	if err != nil {
		return fmt.Errorf("record target semantics: %w", err)
	}
	if at.IsZero() {
		at = j.now()
	}
	err = j.updateSynced(func(txn *badger.Txn) error {
		return putJSON(txn, pSem+k, SemanticsRecord{Target: target, Semantics: s, At: at})
	})
	if err != nil {
		return fmt.Errorf("record semantics of %s: %w", target, err)
	}
	return nil
}

// TargetSemantics returns what target last showed; ok is false when the
// journal knows nothing about it.
func (j *Journal) TargetSemantics(target string) (SemanticsRecord, bool, error) {
	if err := j.begin(); err != nil {
		return SemanticsRecord{}, false, err
	}
	defer j.mu.Unlock()
	k, err := esc("target", target)
	if err != nil {
		return SemanticsRecord{}, false, fmt.Errorf("target semantics: %w", err)
	}
	var r SemanticsRecord
	var ok bool
	err = j.db.View(func(txn *badger.Txn) error {
		var err error
		ok, err = getJSON(txn, pSem+k, &r)
		return err
	})
	if err != nil {
		return SemanticsRecord{}, false, fmt.Errorf("semantics of %s: %w", target, err)
	}
	return r, ok, nil
}
