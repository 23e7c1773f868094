package journal

import (
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Guard records: what `lvfsck guard` (the RPC proxy in front of spdk_tgt)
// did with a bdev_lvol_delete. Kept apart from delete intents, which are
// lvfsck's own guarded deletes: the guard carries a client's delete and
// reports what it did with it.
//
//	v1/guard/<at>/<seq>   GuardRecord
const pGuard = "v1/guard/"

// EventGuard is the timeline kind of a guard record (Detail says what).
const EventGuard EventKind = "guard"

// GuardAction is what the guard did with one delete.
type GuardAction string

const (
	// GuardRefused: held by something in flight; not forwarded, answered
	// busy by the guard. The target never saw it: nothing changed.
	GuardRefused GuardAction = "refused"
	// GuardDelayed: held by something in flight; kept until it ended
	// (--delete-wait), then forwarded.
	GuardDelayed GuardAction = "delayed"
	// GuardAnswered: forwarded; Code/Message are the target's answer
	// (Code 0: success).
	GuardAnswered GuardAction = "answered"
)

// GuardRecord is one thing the guard did with a delete.
type GuardRecord struct {
	At       time.Time   `json:"at"`
	Action   GuardAction `json:"action"`
	Method   string      `json:"method"`
	Name     string      `json:"name"`                // as the client named it
	LvolUUID string      `json:"lvol_uuid,omitempty"` // resolved from the target's answers
	// Holders say what held the lvol ("checksum since ...", "shallow copy
	// operation 3 ...").
	Holders []string      `json:"holders,omitempty"`
	Waited  time.Duration `json:"waited,omitempty"`
	Code    int           `json:"code,omitempty"`
	Message string        `json:"message,omitempty"`
	Conn    uint64        `json:"conn,omitempty"`       // the guard's connection number
	ReqID   string        `json:"request_id,omitempty"` // the client's id, as sent
}

// RecordGuard stores r (synced) and adds a guard event to the timeline,
// under the lvol when its uuid is known.
func (j *Journal) RecordGuard(r GuardRecord) error {
	if err := j.begin(); err != nil {
		return err
	}
	defer j.mu.Unlock()
	if r.Action == "" {
		return fmt.Errorf("record guard: %w: empty action", ErrInvalid)
	}
	if r.At.IsZero() {
		r.At = j.now()
	}
	detail := fmt.Sprintf("guard %s %s %s", r.Action, r.Method, r.Name)
	if r.Code != 0 || r.Message != "" {
		detail += fmt.Sprintf(": %d %s", r.Code, r.Message)
	}
	ev, err := j.eventOps(&Event{At: r.At, Kind: EventGuard, LvolUUID: r.LvolUUID, LvolName: r.Name, Detail: detail})
	if err != nil {
		return fmt.Errorf("record guard: %w", err)
	}
	main, err := setOp(pGuard+evSuffix(r.At, j.nextID()), r)
	if err != nil {
		return fmt.Errorf("record guard: %w", err)
	}
	ops := append([]op{main}, ev...)
	if err := j.updateSynced(func(txn *badger.Txn) error { return applyOps(txn, ops) }); err != nil {
		return fmt.Errorf("record guard: %w", err)
	}
	return nil
}

// GuardRecords returns the guard records at or after since, oldest first.
func (j *Journal) GuardRecords(since time.Time) ([]GuardRecord, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	var out []GuardRecord
	err := j.db.View(func(txn *badger.Txn) error {
		return scan(txn, pGuard, pGuard+hex16(nanos(since)), true, func(k string, b []byte) error {
			var r GuardRecord
			if err := unmarshal(b, &r); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("guard records: %w", err)
	}
	return out, nil
}
