package journal

import (
	"fmt"
	"sort"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// EventKind names what happened in a timeline entry.
type EventKind string

const (
	EventSeen             EventKind = "seen"    // appeared in a live view
	EventGone             EventKind = "gone"    // disappeared from a live view
	EventChanged          EventKind = "changed" // listed in both views, attributes differ
	EventDeleteIntent     EventKind = "delete-intent"
	EventDeleteOutcome    EventKind = "delete-outcome"
	EventForcedRemoval    EventKind = "forced-removal"
	EventResurrected      EventKind = "resurrected"
	EventRepaired         EventKind = "repaired"
	EventFindingFirstSeen EventKind = "finding-first-seen"
	EventLogEvidence      EventKind = "log-evidence"
)

// Event is one entry of the timeline. Fields that do not apply stay zero.
type Event struct {
	// ID is "<at>-<seq>" in hex, unique within the journal; set on write.
	ID          string    `json:"id"`
	At          time.Time `json:"at"`
	Kind        EventKind `json:"kind"`
	Incarnation string    `json:"incarnation,omitempty"`
	LvstoreUUID string    `json:"lvstore_uuid,omitempty"`
	LvolUUID    string    `json:"lvol_uuid,omitempty"`
	LvolName    string    `json:"lvol_name,omitempty"` // alias (lvstore/name) when known
	BlobID      uint64    `json:"blob_id,omitempty"`
	// Before/After are the lvol as observed around a seen/gone/changed event.
	Before *LvolObservation `json:"before,omitempty"`
	After  *LvolObservation `json:"after,omitempty"`
	// LastSeen, on a gone event, is the last observation that still listed
	// the lvol: it disappeared somewhere between LastSeen and At.
	LastSeen time.Time `json:"last_seen,omitzero"`
	IntentID string    `json:"intent_id,omitempty"`
	// Result is the delete result on delete-outcome and forced-removal
	// events (Detail repeats it in words).
	Result DeleteResult `json:"result,omitempty"`
	RunID  string       `json:"run_id,omitempty"`
	// Aio, on the mark of an lvstore reload's beginning, is the base bdev
	// the reload removes and must create again.
	Aio *AioBdev `json:"aio,omitempty"`
	// Detail is free text: a delete result, a finding key, a log line.
	Detail string `json:"detail,omitempty"`
}

// AioBdev is what bdev_aio_create is given.
type AioBdev struct {
	Name      string `json:"name"`
	Filename  string `json:"filename"`
	BlockSize uint32 `json:"block_size"`
}

// eventOps assigns e its id and returns the writes that store it and index
// it under its lvol. Callers hold j.mu.
func (j *Journal) eventOps(e *Event) ([]op, error) {
	if e.At.IsZero() {
		e.At = j.now()
	}
	if e.Kind == "" {
		return nil, fmt.Errorf("%w: event without kind", ErrInvalid)
	}
	if len(e.LvolUUID) > maxIDLen || len(e.Incarnation) > maxIDLen || len(e.LvstoreUUID) > maxIDLen {
		return nil, fmt.Errorf("%w: event identifier over %d bytes", ErrInvalid, maxIDLen)
	}
	suffix := evSuffix(e.At, j.nextID())
	e.ID = strings.Replace(suffix, "/", "-", 1)
	main, err := setOp(pEv+suffix, e)
	if err != nil {
		return nil, err
	}
	ops := []op{main}
	if e.LvolUUID != "" {
		ops = append(ops, op{key: pLvolEv + mustEsc(e.LvolUUID) + "/" + suffix, val: emptyVal})
	}
	return ops, nil
}

func applyOps(txn *badger.Txn, ops []op) error {
	for _, o := range ops {
		var err error
		if o.val == nil {
			err = txn.Delete([]byte(o.key))
		} else {
			err = txn.Set([]byte(o.key), o.val)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", o.key, err)
		}
	}
	return nil
}

// RecordEvent appends an event to the timeline: for kinds that other
// packages decide (resurrected, repaired), or anything the journal does not
// record by itself. It returns the event with its id.
func (j *Journal) RecordEvent(e Event) (Event, error) {
	if err := j.begin(); err != nil {
		return Event{}, err
	}
	defer j.mu.Unlock()
	ops, err := j.eventOps(&e)
	if err != nil {
		return Event{}, fmt.Errorf("record %s event: %w", e.Kind, err)
	}
	if err := j.updateSynced(func(txn *badger.Txn) error { return applyOps(txn, ops) }); err != nil {
		return Event{}, fmt.Errorf("record %s event: %w", e.Kind, err)
	}
	return e, nil
}

// Timeline returns every event at or after since, oldest first.
func (j *Journal) Timeline(since time.Time) ([]Event, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	var out []Event
	err := j.db.View(func(txn *badger.Txn) error {
		return scan(txn, pEv, pEv+hex16(nanos(since)), true, func(k string, b []byte) error {
			e, err := decodeEvent(k, b)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return out, nil
}

// LvolTimeline returns the events about one lvol uuid, oldest first.
func (j *Journal) LvolTimeline(lvolUUID string) ([]Event, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	u, err := esc("lvol uuid", lvolUUID)
	if err != nil {
		return nil, fmt.Errorf("lvol timeline: %w", err)
	}
	var out []Event
	err = j.db.View(func(txn *badger.Txn) error {
		prefix := pLvolEv + u + "/"
		return scan(txn, prefix, "", false, func(k string, _ []byte) error {
			var e Event
			ok, err := getJSON(txn, pEv+strings.TrimPrefix(k, prefix), &e)
			if err != nil {
				return err
			}
			if ok { // a dangling index entry (pruned event) is skipped
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("lvol %s timeline: %w", lvolUUID, err)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].At.Before(out[b].At) })
	return out, nil
}

func decodeEvent(k string, b []byte) (Event, error) {
	var e Event
	if err := unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("decode %s: %w", k, err)
	}
	return e, nil
}
