package journal

import (
	"fmt"
	"maps"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Run is one lvfsck invocation. A run whose Finished is zero began and never
// finished: the process was killed, or is still running.
type Run struct {
	// ID is the start time in UTC at nanosecond precision, bumped so ids
	// strictly increase within a journal: sorting ids sorts runs.
	ID            string         `json:"id"`
	Command       string         `json:"command"`
	Started       time.Time      `json:"started"`
	Finished      time.Time      `json:"finished,omitzero"`
	Incarnation   string         `json:"incarnation,omitempty"`
	Target        string         `json:"target,omitempty"` // socket path
	Devices       []string       `json:"devices,omitempty"`
	Outcome       string         `json:"outcome,omitempty"`
	ExitCode      int            `json:"exit_code"`
	FindingCounts map[string]int `json:"finding_counts,omitempty"` // by finding code
}

// Unfinished reports whether the run never recorded its end.
func (r Run) Unfinished() bool { return r.Finished.IsZero() }

// BeginRun records the start of a run and returns its id. An ID or Started
// already set in r is kept (Started defaults to now; the id is generated
// when empty; an id already used is refused with ErrInvalid). The record is
// synced before BeginRun returns.
func (j *Journal) BeginRun(r Run) (string, error) {
	if err := j.begin(); err != nil {
		return "", err
	}
	defer j.mu.Unlock()
	if r.Started.IsZero() {
		r.Started = j.now()
	}
	if r.ID == "" {
		r.ID = formatID(j.nextID())
	}
	k, err := esc("run id", r.ID)
	if err != nil {
		return "", fmt.Errorf("begin run: %w", err)
	}
	r.Finished = time.Time{}
	err = j.updateSynced(func(txn *badger.Txn) error {
		exists, err := has(txn, pRun+k)
		if err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%w: run id already used", ErrInvalid)
		}
		return putJSON(txn, pRun+k, r)
	})
	if err != nil {
		return "", fmt.Errorf("begin run %s: %w", r.ID, err)
	}
	return r.ID, nil
}

// FinishRun records how run id ended. Synced before it returns.
func (j *Journal) FinishRun(id, outcome string, exitCode int) error {
	return j.updateRun(id, func(r *Run) {
		r.Finished = j.now()
		r.Outcome = outcome
		r.ExitCode = exitCode
	})
}

// SetFindingCounts stores the per-code finding counts of run id (call it
// before FinishRun; it does not finish the run).
func (j *Journal) SetFindingCounts(id string, counts map[string]int) error {
	return j.updateRun(id, func(r *Run) { r.FindingCounts = maps.Clone(counts) })
}

func (j *Journal) updateRun(id string, fn func(*Run)) error {
	if err := j.begin(); err != nil {
		return err
	}
	defer j.mu.Unlock()
	k, err := esc("run id", id)
	if err != nil {
		return fmt.Errorf("update run: %w", err)
	}
	err = j.updateSynced(func(txn *badger.Txn) error {
		var r Run
		ok, err := getJSON(txn, pRun+k, &r)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("run %s: %w", id, ErrNotFound)
		}
		fn(&r)
		return putJSON(txn, pRun+k, r)
	})
	if err != nil {
		return fmt.Errorf("update run %s: %w", id, err)
	}
	return nil
}

// GetRun returns run id.
func (j *Journal) GetRun(id string) (Run, error) {
	if err := j.begin(); err != nil {
		return Run{}, err
	}
	defer j.mu.Unlock()
	k, err := esc("run id", id)
	if err != nil {
		return Run{}, fmt.Errorf("get run: %w", err)
	}
	var r Run
	err = j.db.View(func(txn *badger.Txn) error {
		ok, err := getJSON(txn, pRun+k, &r)
		if err == nil && !ok {
			err = fmt.Errorf("run %s: %w", id, ErrNotFound)
		}
		return err
	})
	return r, err
}

// Runs returns every run, oldest first.
func (j *Journal) Runs() ([]Run, error) {
	return readAll[Run](j, pRun, "list runs")
}
