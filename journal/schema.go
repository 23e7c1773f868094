package journal

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// migrations[n] upgrades a journal from schema n to n+1, inside one
// transaction that also bumps meta/schema, so a crash mid-migration leaves
// the old schema intact and the next Open retries.
var migrations = map[int]func(txn *badger.Txn) error{
	0: migrate0to1,
}

// schemaOf reads the schema version: meta/schema when present; 0 for a
// journal with data but no version (written before keys were versioned);
// -1 for an empty database.
func schemaOf(txn *badger.Txn) (int, error) {
	it, err := txn.Get([]byte(schemaKey))
	if err == nil {
		var v int
		err = it.Value(func(b []byte) error {
			n, perr := strconv.Atoi(strings.TrimSpace(string(b)))
			v = n
			return perr
		})
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", schemaKey, err)
		}
		return v, nil
	}
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	iter := txn.NewIterator(opt)
	defer iter.Close()
	iter.Rewind()
	if iter.Valid() {
		return 0, nil
	}
	return -1, nil
}

func (j *Journal) migrate() error {
	var v int
	if err := j.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = schemaOf(txn)
		return err
	}); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("%w: schema %d, this lvfsck reads up to %d", ErrSchemaTooNew, v, schemaVersion)
	}
	if v < 0 {
		return j.updateSynced(func(txn *badger.Txn) error {
			return txn.Set([]byte(schemaKey), []byte(strconv.Itoa(schemaVersion)))
		})
	}
	for ; v < schemaVersion; v++ {
		m, ok := migrations[v]
		if !ok {
			return fmt.Errorf("no migration from journal schema %d", v)
		}
		next := v + 1
		err := j.updateSynced(func(txn *badger.Txn) error {
			if err := m(txn); err != nil {
				return err
			}
			return txn.Set([]byte(schemaKey), []byte(strconv.Itoa(next)))
		})
		if err != nil {
			return fmt.Errorf("migrate journal schema %d to %d: %w", v, next, err)
		}
		j.log.Info().Int("from", v).Int("to", next).Str("dir", j.dir).Msg("journal schema migrated")
	}
	return nil
}

// runV0 is a run as the unversioned prototype journal stored it under
// "runs/<id>": no incarnation, devices or counts, and a "status" where
// schema 1 has Outcome.
type runV0 struct {
	ID       string    `json:"id"`
	Cmd      string    `json:"cmd"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Target   string    `json:"target"`
	Status   string    `json:"status"`
	ExitCode int       `json:"exit"`
}

const prefixV0Run = "runs/"

func migrate0to1(txn *badger.Txn) error {
	var old []string
	var runs []Run
	err := scan(txn, prefixV0Run, "", true, func(k string, b []byte) error {
		var r runV0
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		if r.ID == "" {
			r.ID = strings.TrimPrefix(k, prefixV0Run)
		}
		old = append(old, k)
		runs = append(runs, Run{
			ID: r.ID, Command: r.Cmd, Started: r.Start, Finished: r.End,
			Target: r.Target, Outcome: r.Status, ExitCode: r.ExitCode,
		})
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if len(r.ID) > maxIDLen {
			return fmt.Errorf("%w: v0 run id of %d bytes", ErrInvalid, len(r.ID))
		}
		if err := putJSON(txn, pRun+mustEsc(r.ID), r); err != nil {
			return err
		}
	}
	for _, k := range old {
		if err := txn.Delete([]byte(k)); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}

// initIDs starts the id generator after the newest id already stored, so
// ids keep increasing across runs even if the clock went back.
func (j *Journal) initIDs() error {
	return j.db.View(func(txn *badger.Txn) error {
		for _, p := range []string{pRun, pIntent} {
			if k := lastKey(txn, p); k != "" {
				if n, ok := parseID(unesc(strings.TrimPrefix(k, p))); ok && n > j.lastID {
					j.lastID = n
				}
			}
		}
		if k := lastKey(txn, pEv); k != "" {
			if n, ok := parseHex16(lastSegment(k)); ok && int64(n) > j.lastID {
				j.lastID = int64(n)
			}
		}
		return nil
	})
}
