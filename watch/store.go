package watch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lvfsck/lvfsck/journal"
)

// store holds the journal only while the watch writes to it, and for an
// idle moment after: the journal takes one writer at a time, and a watch
// that held it for ever would lock out every `check`, `delete`, `repair`
// and `history` an operator runs beside it.
type store struct {
	open func(ctx context.Context) (*journal.Journal, error)
	idle time.Duration

	mu    sync.Mutex
	j     *journal.Journal
	dir   string
	timer *time.Timer
	gen   uint64 // bumped on each use, so a stale timer closes nothing
}

// use runs fn with the journal open, opening it if needed.
func (s *store) use(ctx context.Context, fn func(*journal.Journal) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.j == nil {
		j, err := s.open(ctx)
		if err != nil {
			return fmt.Errorf("open journal: %w", err)
		}
		s.j, s.dir = j, j.Dir()
	}
	s.gen++
	gen := s.gen
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(s.idle, func() { s.release(gen) })
	return fn(s.j)
}

// release closes the journal if nothing used it since use number gen.
func (s *store) release(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen == s.gen {
		s.closeLocked()
	}
}

// Close closes the journal now (at the end of the watch).
func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	return s.closeLocked()
}

func (s *store) closeLocked() error {
	if s.j == nil {
		return nil
	}
	err := s.j.Close()
	s.j = nil
	return err
}

// Dir is the journal's directory, once it was opened.
func (s *store) Dir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir
}
