package journal

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/lvfsck/lvfsck/finding"
)

// FindingRecord is a finding with its history. Key is finding.Key().
type FindingRecord struct {
	Key       string          `json:"key"`
	Finding   finding.Finding `json:"finding"` // as last reported
	FirstSeen time.Time       `json:"first_seen"`
	LastSeen  time.Time       `json:"last_seen"`
	Count     int             `json:"count"` // runs that reported it
	// ResolvedAt is set when a run that covered the finding's lvstore no
	// longer reported it; cleared if it comes back (FirstSeen is kept, so
	// a flapping finding shows its whole age).
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Incarnation is the target run whose check last reported it ("" when
	// unknown): a finding is evidence about that run, and reconcile must
	// tell an earlier run's drop from this one's.
	Incarnation string `json:"incarnation,omitempty"`
}

// Open reports whether the finding is still unresolved.
func (r FindingRecord) Open() bool { return r.ResolvedAt.IsZero() }

// UpsertFindings records the findings of a complete check at `at`: known
// ones keep FirstSeen and get LastSeen=at and Count+1; new ones get a
// finding-first-seen event; every open finding not in fs is marked resolved
// at `at`. It returns the records of fs, in fs order. A check that covered
// only some lvstores must use UpsertFindingsIn instead, or it resolves the
// findings of the others.
func (j *Journal) UpsertFindings(at time.Time, fs []finding.Finding) ([]FindingRecord, error) {
	return j.upsertFindings(at, "", fs, func(FindingRecord) bool { return true })
}

// UpsertFindingsIn is UpsertFindings for a check that covered only the
// lvstores in lvstoreUUIDs: only open findings of those lvstores (and
// findings with no lvstore) are resolved when absent from fs.
func (j *Journal) UpsertFindingsIn(at time.Time, lvstoreUUIDs []string, fs []finding.Finding) ([]FindingRecord, error) {
	return j.UpsertFindingsOf("", at, lvstoreUUIDs, fs)
}

// UpsertFindingsOf is UpsertFindingsIn for a check of target incarnation
// inc: each record of fs keeps inc as the incarnation that last reported it.
func (j *Journal) UpsertFindingsOf(inc string, at time.Time, lvstoreUUIDs []string, fs []finding.Finding) ([]FindingRecord, error) {
	if len(inc) > maxIDLen {
		return nil, fmt.Errorf("upsert findings: %w: incarnation of %d bytes", ErrInvalid, len(inc))
	}
	return j.upsertFindings(at, inc, fs, func(r FindingRecord) bool {
		return r.Finding.LvstoreUUID == "" || slices.Contains(lvstoreUUIDs, r.Finding.LvstoreUUID)
	})
}

func (j *Journal) upsertFindings(at time.Time, inc string, fs []finding.Finding, covered func(FindingRecord) bool) ([]FindingRecord, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	if at.IsZero() {
		at = j.now()
	}
	known := map[string]FindingRecord{}
	var damaged []string
	err := j.db.View(func(txn *badger.Txn) error {
		return scan(txn, pFinding, "", true, func(k string, b []byte) error {
			var r FindingRecord
			if err := unmarshal(b, &r); err != nil || r.Key == "" {
				// Findings are recomputed every run: a damaged record is
				// dropped rather than failing every later run.
				j.log.Warn().Err(err).Str("key", k).Msg("journal: damaged finding record dropped")
				damaged = append(damaged, k)
				return nil
			}
			known[r.Key] = r
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("upsert findings: %w", err)
	}
	var ops []op
	for _, k := range damaged {
		ops = append(ops, delOp(k))
	}
	out := make([]FindingRecord, 0, len(fs))
	inRun := map[string]int{} // key -> index in out, so duplicates in fs count once
	for _, f := range fs {
		key := f.Key()
		if len(key) > maxIDLen {
			return nil, fmt.Errorf("upsert findings: %w: finding key of %d bytes", ErrInvalid, len(key))
		}
		if i, dup := inRun[key]; dup {
			out[i].Finding = f
			out = append(out, out[i])
			continue
		}
		r, ok := known[key]
		if !ok {
			r = FindingRecord{Key: key, FirstSeen: at}
			ev, err := j.eventOps(&Event{
				At: at, Kind: EventFindingFirstSeen, LvstoreUUID: f.LvstoreUUID, LvolUUID: f.LvolUUID,
				LvolName: findingAlias(f), BlobID: f.BlobID, Detail: key,
			})
			if err != nil {
				return nil, fmt.Errorf("upsert finding %s: %w", key, err)
			}
			ops = append(ops, ev...)
		}
		r.Finding, r.LastSeen, r.ResolvedAt = f, at, time.Time{}
		if inc != "" { // a writer that does not know it keeps what a check recorded
			r.Incarnation = inc
		}
		r.Count++
		o, err := setOp(pFinding+mustEsc(key), r)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
		inRun[key] = len(out)
		out = append(out, r)
	}
	for _, k := range sortedKeys(known) {
		r := known[k]
		if _, seen := inRun[k]; seen || !r.Open() || !covered(r) {
			continue
		}
		r.ResolvedAt = at
		o, err := setOp(pFinding+mustEsc(k), r)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	if err := j.writeBatch(ops); err != nil {
		return nil, fmt.Errorf("upsert findings: %w", err)
	}
	return out, nil
}

// Findings returns every finding the journal holds, open and resolved,
// most recently seen first.
func (j *Journal) Findings() ([]FindingRecord, error) {
	out, err := readAll[FindingRecord](j, pFinding, "list findings")
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].LastSeen.After(out[b].LastSeen) })
	return out, nil
}

// FindingsWith returns the finding records of the given codes, open and
// resolved, in key order. It decodes only those: a journal can hold
// thousands of records of other codes (a not-opened storm, integrity
// findings), and reading history for every check must stay cheap.
func (j *Journal) FindingsWith(codes ...finding.Code) ([]FindingRecord, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	want := make(map[finding.Code]bool, len(codes))
	for _, c := range codes {
		want[c] = true
	}
	// The key is finding.Key(), "<lvstore>|<code>|<object>"; names from
	// data may hold "|" too, so the key only preselects (a superset) and
	// the decoded code decides.
	mayBe := func(key string) bool {
		for c := range want {
			if strings.Contains(key, "|"+string(c)+"|") {
				return true
			}
		}
		return false
	}
	var out []FindingRecord
	err := j.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte(pFinding)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if !mayBe(unesc(strings.TrimPrefix(string(item.Key()), pFinding))) {
				continue
			}
			if item.ValueSize() > maxValueLen {
				continue // not ours to decode; UpsertFindings drops what it cannot read
			}
			b, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read %s: %w", item.Key(), err)
			}
			var r FindingRecord
			if err := unmarshal(b, &r); err != nil || r.Key == "" {
				continue // damaged: UpsertFindings drops it at the next check
			}
			if want[r.Finding.Code] {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	return out, nil
}

// findingAlias names a finding's lvol as the timeline names lvols,
// lvstore/name, when the finding names both: `history lvs/name` then finds
// an lvol only a finding ever named (dropped before any run listed it).
func findingAlias(f finding.Finding) string {
	if f.Lvstore != "" && f.LvolName != "" && !strings.Contains(f.LvolName, "/") {
		return f.Lvstore + "/" + f.LvolName
	}
	return f.LvolName
}
