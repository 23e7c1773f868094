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
	p := pruning{olderThan: olderThan, bound: nanos(olderThan)}
	err := j.db.View(func(txn *badger.Txn) error {
		p.txn = txn
		for _, step := range []func() error{p.runs, p.events, p.lvolEvents, p.deletes, p.findings, p.evidence, p.incarnations, p.semantics} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return p.st, fmt.Errorf("prune journal: %w", err)
	}
	if err := j.writeBatch(p.ops); err != nil {
		return p.st, fmt.Errorf("prune journal: %w", err)
	}
	n, err := j.gc()
	p.st.GCRewrites = n
	if err != nil {
		return p.st, fmt.Errorf("prune journal: %w", err)
	}
	return p.st, nil
}

// pruning is one Prune: each step reads one table in txn and collects the
// deletes of what is older than olderThan.
type pruning struct {
	txn       *badger.Txn
	olderThan time.Time
	bound     uint64 // olderThan as in keys
	ops       []op
	st        PruneStats
}

func (p *pruning) runs() error {
	return scanJSON(p.txn, pRun, func(k string, r Run) error {
		if r.Started.Before(p.olderThan) {
			p.ops = append(p.ops, delOp(k))
			p.st.Runs++
		}
		return nil
	})
}

func (p *pruning) events() error {
	return scan(p.txn, pEv, "", false, func(k string, _ []byte) error {
		at, ok := parseHex16(strings.SplitN(strings.TrimPrefix(k, pEv), "/", 2)[0])
		if ok && at >= p.bound {
			return errStop // keys are in time order
		}
		p.ops = append(p.ops, delOp(k))
		p.st.Events++
		return nil
	})
}

// lvolEvents drops the per-lvol index of the events pruned.
func (p *pruning) lvolEvents() error {
	return scan(p.txn, pLvolEv, "", false, func(k string, _ []byte) error {
		parts := strings.Split(strings.TrimPrefix(k, pLvolEv), "/")
		if len(parts) == 3 {
			if at, ok := parseHex16(parts[1]); ok && at >= p.bound {
				return nil
			}
		}
		p.ops = append(p.ops, delOp(k))
		return nil
	})
}

// deletes drops intents whose outcome is old, with their index; open
// intents have no outcome and stay.
func (p *pruning) deletes() error {
	return scanJSON(p.txn, pOutcome, func(k string, o DeleteOutcome) error {
		if !o.At.Before(p.olderThan) {
			return nil
		}
		id := strings.TrimPrefix(k, pOutcome)
		var in DeleteIntent
		if _, err := getJSON(p.txn, pIntent+id, &in); err != nil {
			return err
		}
		p.ops = append(p.ops, delOp(pIntent+id), delOp(k))
		if in.LvolUUID != "" {
			p.ops = append(p.ops, delOp(pDelIdx+mustEsc(in.LvolUUID)+"/"+id))
		}
		p.st.Deletes++
		return nil
	})
}

func (p *pruning) findings() error {
	return scanJSON(p.txn, pFinding, func(k string, r FindingRecord) error {
		if !r.Open() && r.ResolvedAt.Before(p.olderThan) {
			p.ops = append(p.ops, delOp(k))
			p.st.Findings++
		}
		return nil
	})
}

func (p *pruning) evidence() error {
	return scanJSON(p.txn, pEvidence, func(k string, e Evidence) error {
		t := e.At
		if t.IsZero() {
			t = e.Imported
		}
		if !t.Before(p.olderThan) {
			return nil
		}
		id := strings.TrimPrefix(k, pEvidence)
		p.ops = append(p.ops, delOp(k))
		for _, who := range []string{e.LvolUUID, e.LvolName} {
			if who != "" {
				p.ops = append(p.ops, delOp(pEvIdx+mustEsc(who)+"/"+id))
			}
		}
		p.st.Evidence++
		return nil
	})
}

// incarnations drops old incarnations with their lvol states, except the
// most recently observed one, which the next observation diffs against.
func (p *pruning) incarnations() error {
	var all []IncarnationInfo
	var keys []string
	err := scanJSON(p.txn, pInc, func(k string, i IncarnationInfo) error {
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
		if i == newest || !inc.LastSeen.Before(p.olderThan) {
			continue
		}
		p.ops = append(p.ops, delOp(pInc+keys[i]))
		for _, prefix := range []string{pObs, pState, pSeen} {
			err := scan(p.txn, prefix+keys[i]+"/", "", false, func(k string, _ []byte) error {
				p.ops = append(p.ops, delOp(k))
				return nil
			})
			if err != nil {
				return err
			}
		}
		p.st.Incarnations++
	}
	return nil
}

// semantics drops old semantics records, except the newest.
func (p *pruning) semantics() error {
	var recs []SemanticsRecord
	var keys []string
	err := scanJSON(p.txn, pSem, func(k string, r SemanticsRecord) error {
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
		if i != newest && r.At.Before(p.olderThan) {
			p.ops = append(p.ops, delOp(keys[i]))
			p.st.Semantics++
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
