package journal

import (
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/lvfsck/lvfsck/finding"
)

// Notify records (written by `lvfsck watch`):
//
//	v1/notify/<incarnation>/<notify id>  NotifyRecord
//
// A notify id is unique within one target run, so (incarnation, id) names
// one event: a watch restarted on the same target re-reads the ring and
// records nothing twice.
const pNotify = "v1/notify/"

// NotifyRecord is one lvol bdev_register or bdev_unregister event of the
// target's notify ring, as `lvfsck watch` saw it.
type NotifyRecord struct {
	Incarnation string    `json:"incarnation"`
	ID          uint64    `json:"id"`
	Type        string    `json:"type"` // bdev_register or bdev_unregister
	LvolUUID    string    `json:"lvol_uuid"`
	LvstoreUUID string    `json:"lvstore_uuid,omitempty"`
	LvolName    string    `json:"lvol_name,omitempty"` // alias, when known
	BlobID      uint64    `json:"blob_id,omitempty"`
	At          time.Time `json:"at"` // when the watch read it
}

// Notify event types (spdk's names).
const (
	NotifyRegister   = "bdev_register"
	NotifyUnregister = "bdev_unregister"
)

// RecordNotify stores n once per (incarnation, id) and, the first time, a
// timeline event in the terms the history already folds: a register is
// the lvol seen in that incarnation, an unregister is it gone. So a
// `check` after a restart knows an lvol it never listed itself. It
// reports whether n was new.
func (j *Journal) RecordNotify(n NotifyRecord) (bool, error) {
	if n.Type != NotifyRegister && n.Type != NotifyUnregister {
		return false, fmt.Errorf("%w: notify type %q", ErrInvalid, n.Type)
	}
	inc, err := esc("incarnation", n.Incarnation)
	if err != nil {
		return false, fmt.Errorf("record notify: %w", err)
	}
	if n.LvolUUID == "" {
		return false, fmt.Errorf("%w: notify event without lvol", ErrInvalid)
	}
	if err := j.begin(); err != nil {
		return false, err
	}
	defer j.mu.Unlock()
	if n.At.IsZero() {
		n.At = j.now()
	}
	key := pNotify + inc + "/" + hex16(n.ID)
	e := Event{
		At: n.At, Incarnation: n.Incarnation, LvstoreUUID: n.LvstoreUUID, LvolUUID: n.LvolUUID,
		LvolName: n.LvolName, BlobID: n.BlobID, Kind: EventSeen,
		Detail: fmt.Sprintf("%s (notify id %d)", n.Type, n.ID),
	}
	if n.Type == NotifyUnregister {
		e.Kind, e.LastSeen = EventGone, n.At
	}
	ops, err := j.eventOps(&e)
	if err != nil {
		return false, fmt.Errorf("record notify: %w", err)
	}
	fresh := false
	err = j.updateSynced(func(txn *badger.Txn) error {
		ok, err := has(txn, key)
		if err != nil || ok {
			return err
		}
		fresh = true
		if err := putJSON(txn, key, n); err != nil {
			return err
		}
		return applyOps(txn, ops)
	})
	if err != nil {
		return false, fmt.Errorf("record notify %s/%d: %w", n.Incarnation, n.ID, err)
	}
	return fresh, nil
}

// NotifyRecords returns the notify records of incarnation, in id order.
func (j *Journal) NotifyRecords(incarnation string) ([]NotifyRecord, error) {
	inc, err := esc("incarnation", incarnation)
	if err != nil {
		return nil, fmt.Errorf("notify records: %w", err)
	}
	return readAll[NotifyRecord](j, pNotify+inc+"/", "notify records of "+incarnation)
}

// PruneNotify drops notify records read before olderThan; the timeline
// events they made are pruned with the timeline.
func (j *Journal) PruneNotify(olderThan time.Time) (int, error) {
	if err := j.begin(); err != nil {
		return 0, err
	}
	defer j.mu.Unlock()
	var old []string
	err := j.db.View(func(txn *badger.Txn) error {
		return scanJSON(txn, pNotify, func(k string, n NotifyRecord) error {
			if n.At.Before(olderThan) {
				old = append(old, k)
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("prune notify: %w", err)
	}
	if len(old) == 0 {
		return 0, nil
	}
	err = j.updateSynced(func(txn *badger.Txn) error {
		for _, k := range old {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune notify: %w", err)
	}
	return len(old), nil
}

// RecordFinding files one finding found between full checks (by an
// event): a known one gets LastSeen and Count+1, a new one its first-seen
// event. Unlike UpsertFindings it resolves nothing: one event says nothing
// of the other findings.
func (j *Journal) RecordFinding(at time.Time, f finding.Finding) (FindingRecord, error) {
	// No incarnation here: a record keeps the one a check gave it, and a
	// new one is placed by its time (collect: before the target's start).
	recs, err := j.upsertFindings(at, "", []finding.Finding{f}, func(FindingRecord) bool { return false })
	if err != nil {
		return FindingRecord{}, err
	}
	if len(recs) != 1 {
		return FindingRecord{}, fmt.Errorf("record finding: %d records for one finding", len(recs))
	}
	return recs[0], nil
}
