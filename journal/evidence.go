package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Evidence kinds found in spdk_tgt logs.
const (
	EvidenceForcedRemoval        = "forced-removal"
	EvidenceCannotRemoveOpenSnap = "cannot-remove-open-snapshot"
	EvidenceErrorOpeningLvol     = "error-opening-lvol"
	EvidenceCannotCreateBdev     = "cannot-create-bdev"
	EvidenceBdevNameExists       = "bdev-name-exists"
)

// Evidence is one log line that says something about an lvol.
type Evidence struct {
	At       time.Time `json:"at,omitzero"` // from the log line; zero when it had none
	Source   string    `json:"source"`      // file it was imported from
	Line     int       `json:"line"`
	Kind     string    `json:"kind"`
	LvolUUID string    `json:"lvol_uuid,omitempty"`
	LvolName string    `json:"lvol_name,omitempty"`
	Text     string    `json:"text"`
	// Imported is when lvfsck recorded it (set by RecordEvidence); Prune
	// uses it for lines without a time of their own.
	Imported time.Time `json:"imported,omitzero"`
}

// maxEvidenceText bounds a stored log line.
const maxEvidenceText = 4096

// id identifies a piece of evidence by content, so that importing the same
// log again (even from another path) adds nothing. Lines without a time
// cannot be told apart by content alone; their file and line number join
// the key.
func (e Evidence) id() string {
	h := sha256.New()
	for _, s := range []string{e.Kind, e.LvolUUID, e.LvolName, e.Text, strconv.FormatUint(nanos(e.At), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if e.At.IsZero() {
		h.Write([]byte(e.Source + "\x00" + strconv.Itoa(e.Line)))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// RecordEvidence stores log evidence and returns how many entries were new
// (already known ones are skipped). Each new entry also becomes a
// log-evidence event on the timeline.
func (j *Journal) RecordEvidence(evs ...Evidence) (int, error) {
	if err := j.begin(); err != nil {
		return 0, err
	}
	defer j.mu.Unlock()
	var ops []op
	added := 0
	pending := map[string]bool{}
	err := j.db.View(func(txn *badger.Txn) error {
		for _, e := range evs {
			if e.Kind == "" {
				return fmt.Errorf("%w: evidence without kind (%s:%d)", ErrInvalid, e.Source, e.Line)
			}
			if e.LvolUUID == "" && e.LvolName == "" {
				return fmt.Errorf("%w: evidence names no lvol (%s:%d)", ErrInvalid, e.Source, e.Line)
			}
			if len(e.LvolUUID) > maxIDLen || len(e.LvolName) > maxIDLen || len(e.Source) > maxIDLen || len(e.Kind) > maxIDLen {
				return fmt.Errorf("%w: evidence field over %d bytes (%s:%d)", ErrInvalid, maxIDLen, e.Source, e.Line)
			}
			e.Imported = j.now()
			if len(e.Text) > maxEvidenceText {
				e.Text = e.Text[:maxEvidenceText]
			}
			id := e.id()
			if pending[id] {
				continue
			}
			exists, err := has(txn, pEvidence+id)
			if err != nil {
				return err
			}
			if exists {
				continue
			}
			pending[id] = true
			ev, err := j.eventOps(&Event{
				At: e.At, Kind: EventLogEvidence, LvolUUID: e.LvolUUID, LvolName: e.LvolName,
				Detail: fmt.Sprintf("%s: %s (%s:%d)", e.Kind, e.Text, e.Source, e.Line),
			})
			if err != nil {
				return err
			}
			ops = append(ops, ev...)
			for _, who := range []string{e.LvolUUID, e.LvolName} {
				if who != "" {
					ops = append(ops, op{key: pEvIdx + mustEsc(who) + "/" + id, val: emptyVal})
				}
			}
			// The record itself last: it is what marks the line as imported.
			o, err := setOp(pEvidence+id, e)
			if err != nil {
				return err
			}
			ops = append(ops, o)
			added++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record evidence: %w", err)
	}
	if err := j.writeBatch(ops); err != nil {
		return 0, fmt.Errorf("record evidence: %w", err)
	}
	return added, nil
}

// Evidence returns the evidence about an lvol, given its uuid or its name
// (either form the log used), oldest first.
func (j *Journal) Evidence(lvol string) ([]Evidence, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	who, err := esc("lvol", lvol)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	var out []Evidence
	err = j.db.View(func(txn *badger.Txn) error {
		return scan(txn, pEvIdx+who+"/", "", false, func(k string, _ []byte) error {
			var e Evidence
			ok, err := getJSON(txn, pEvidence+lastSegment(k), &e)
			if err == nil && ok {
				out = append(out, e)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("evidence of %s: %w", lvol, err)
	}
	sortEvidence(out)
	return out, nil
}

// AllEvidence returns every piece of evidence, oldest first.
func (j *Journal) AllEvidence() ([]Evidence, error) {
	out, err := readAll[Evidence](j, pEvidence, "all evidence")
	if err != nil {
		return nil, err
	}
	sortEvidence(out)
	return out, nil
}

func sortEvidence(out []Evidence) {
	sort.SliceStable(out, func(a, b int) bool {
		if !out[a].At.Equal(out[b].At) {
			return out[a].At.Before(out[b].At)
		}
		if out[a].Source != out[b].Source {
			return strings.Compare(out[a].Source, out[b].Source) < 0
		}
		return out[a].Line < out[b].Line
	})
}
