package journal

import (
	"errors"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// PruneStats counts what Prune removed.
type PruneStats struct {
	Runs         int `json:"runs"`
	Events       int `json:"events"`
	Deletes      int `json:"deletes"` // intents with their outcomes
	Findings     int `json:"findings"`
	Evidence     int `json:"evidence"`
	Incarnations int `json:"incarnations"`
	Semantics    int `json:"semantics"`
	GCRewrites   int `json:"gc_rewrites"` // value-log files badger rewrote
}

// Prune removes history older than olderThan:
//   - runs that started before it;
//   - timeline events before it;
//   - deletes whose outcome is before it (open intents are always kept);
//   - findings resolved before it (open findings are kept however old);
//   - evidence from before it (its log time, or import time when the line
//     had none);
//   - incarnations last observed before it, with their lvol states, except
//     the most recently observed one, which the next observation diffs
//     against;
//   - semantics records before it, except the newest.
//
// Then it compacts the tree and runs badger's value-log GC until there is
// nothing left to rewrite.
func (j *Journal) Prune(olderThan time.Time) (PruneStats, error) {
	if err := j.begin(); err != nil {
		return PruneStats{}, err
	}
	defer j.mu.Unlock()
	var st PruneStats
	var ops []op
	bound := nanos(olderThan)
	err := j.db.View(func(txn *badger.Txn) error {
		err := scanJSON(txn, pRun, func(k string, r Run) error {
			if r.Started.Before(olderThan) {
				ops = append(ops, delOp(k))
				st.Runs++
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(txn, pEv, "", false, func(k string, _ []byte) error {
			at, ok := parseHex16(strings.SplitN(strings.TrimPrefix(k, pEv), "/", 2)[0])
			if ok && at >= bound {
				return errStop // keys are in time order
			}
			ops = append(ops, delOp(k))
			st.Events++
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(txn, pLvolEv, "", false, func(k string, _ []byte) error {
			parts := strings.Split(strings.TrimPrefix(k, pLvolEv), "/")
			if len(parts) == 3 {
				if at, ok := parseHex16(parts[1]); ok && at >= bound {
					return nil
				}
			}
			ops = append(ops, delOp(k))
			return nil
		})
		if err != nil {
			return err
		}
		err = scanJSON(txn, pOutcome, func(k string, o DeleteOutcome) error {
			if !o.At.Before(olderThan) {
				return nil
			}
			id := strings.TrimPrefix(k, pOutcome)
			var in DeleteIntent
			if _, err := getJSON(txn, pIntent+id, &in); err != nil {
				return err
			}
			ops = append(ops, delOp(pIntent+id), delOp(k))
			if in.LvolUUID != "" {
				ops = append(ops, delOp(pDelIdx+mustEsc(in.LvolUUID)+"/"+id))
			}
			st.Deletes++
			return nil
		})
		if err != nil {
			return err
		}
		err = scanJSON(txn, pFinding, func(k string, r FindingRecord) error {
			if !r.Open() && r.ResolvedAt.Before(olderThan) {
				ops = append(ops, delOp(k))
				st.Findings++
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = scanJSON(txn, pEvidence, func(k string, e Evidence) error {
			t := e.At
			if t.IsZero() {
				t = e.Imported
			}
			if !t.Before(olderThan) {
				return nil
			}
			id := strings.TrimPrefix(k, pEvidence)
			ops = append(ops, delOp(k))
			for _, who := range []string{e.LvolUUID, e.LvolName} {
				if who != "" {
					ops = append(ops, delOp(pEvIdx+mustEsc(who)+"/"+id))
				}
			}
			st.Evidence++
			return nil
		})
		if err != nil {
			return err
		}
		if err := j.pruneIncarnations(txn, olderThan, &ops, &st); err != nil {
			return err
		}
		return j.pruneSemantics(txn, olderThan, &ops, &st)
	})
	if err != nil {
		return st, fmt.Errorf("prune journal: %w", err)
	}
	if err := j.writeBatch(ops); err != nil {
		return st, fmt.Errorf("prune journal: %w", err)
	}
	n, err := j.gc()
	st.GCRewrites = n
	if err != nil {
		return st, fmt.Errorf("prune journal: %w", err)
	}
	return st, nil
}

func (j *Journal) pruneIncarnations(txn *badger.Txn, olderThan time.Time, ops *[]op, st *PruneStats) error {
	var all []IncarnationInfo
	var keys []string
	err := scanJSON(txn, pInc, func(k string, i IncarnationInfo) error {
		all = append(all, i)
		keys = append(keys, strings.TrimPrefix(k, pInc))
		return nil
	})
	if err != nil {
		return err
	}
	newest := -1
	for i, inc := range all {
		if newest < 0 || inc.LastSeen.After(all[newest].LastSeen) {
			newest = i
		}
	}
	for i, inc := range all {
		if i == newest || !inc.LastSeen.Before(olderThan) {
			continue
		}
		*ops = append(*ops, delOp(pInc+keys[i]))
		for _, p := range []string{pObs, pState, pSeen} {
			err := scan(txn, p+keys[i]+"/", "", false, func(k string, _ []byte) error {
				*ops = append(*ops, delOp(k))
				return nil
			})
			if err != nil {
				return err
			}
		}
		st.Incarnations++
	}
	return nil
}

func (j *Journal) pruneSemantics(txn *badger.Txn, olderThan time.Time, ops *[]op, st *PruneStats) error {
	var recs []SemanticsRecord
	var keys []string
	err := scanJSON(txn, pSem, func(k string, r SemanticsRecord) error {
		recs = append(recs, r)
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return err
	}
	newest := -1
	for i, r := range recs {
		if newest < 0 || r.At.After(recs[newest].At) {
			newest = i
		}
	}
	for i, r := range recs {
		if i != newest && r.At.Before(olderThan) {
			*ops = append(*ops, delOp(keys[i]))
			st.Semantics++
		}
	}
	return nil
}

// gc flattens the LSM tree (cheap at our size) and rewrites value-log files
// until badger finds nothing worth rewriting.
func (j *Journal) gc() (int, error) {
	if err := j.db.Flatten(1); err != nil {
		return 0, fmt.Errorf("flatten: %w", err)
	}
	n := 0
	for n < 1000 { // bound: each round rewrites one file
		err := j.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("value log gc: %w", err)
		}
		n++
	}
	return n, nil
}
