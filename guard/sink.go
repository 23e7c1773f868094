package guard

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/journal"
)

// Sink takes the guard's journal records. Record must not block the data
// path.
type Sink interface {
	Record(journal.GuardRecord)
}

// JournalSink writes records to the badger journal in Dir from a goroutine
// of its own. It opens the journal only to write and closes it at once:
// a journal stays locked while open, and `lvfsck check` must be able to run
// beside a guard that never exits. Records queue (bounded) while another
// lvfsck holds the journal.
type JournalSink struct {
	Dir     string
	Log     zerolog.Logger
	Metrics *Metrics

	q    chan journal.GuardRecord
	done chan struct{}
	idle chan chan struct{}
}

// NewJournalSink starts the writer; Close stops it after writing what is queued.
func NewJournalSink(dir string, log zerolog.Logger, m *Metrics) *JournalSink {
	s := &JournalSink{Dir: dir, Log: log, Metrics: m, q: make(chan journal.GuardRecord, 1024),
		done: make(chan struct{}), idle: make(chan chan struct{})}
	go s.loop()
	return s
}

// Record implements Sink; a full queue drops the record (counted, logged).
func (s *JournalSink) Record(r journal.GuardRecord) {
	select {
	case s.q <- r:
	default:
		s.Metrics.JournalDropped.Add(1)
		s.Log.Error().Str("action", string(r.Action)).Str("lvol", r.Name).Msg("guard: journal queue full; record dropped")
	}
}

// Flush waits until every record queued so far is written (or ctx ends).
func (s *JournalSink) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	select {
	case s.idle <- ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued and stops.
func (s *JournalSink) Close() {
	close(s.q)
	<-s.done
}

func (s *JournalSink) loop() {
	defer close(s.done)
	var waiting []chan struct{}
	for {
		select {
		case r, ok := <-s.q:
			if !ok {
				return
			}
			batch := []journal.GuardRecord{r}
		more:
			for len(batch) < 256 {
				select {
				case r, ok := <-s.q:
					if !ok {
						break more
					}
					batch = append(batch, r)
				default:
					break more
				}
			}
			s.write(batch)
		case ch := <-s.idle:
			waiting = append(waiting, ch)
		}
		if len(s.q) == 0 {
			for _, ch := range waiting {
				close(ch)
			}
			waiting = nil
		}
	}
}

func (s *JournalSink) write(batch []journal.GuardRecord) {
	for attempt := 0; ; attempt++ {
		j, err := journal.Open(s.Dir, journal.Options{Command: "guard"})
		if errors.Is(err, journal.ErrLocked) && attempt < 1200 {
			// another lvfsck (a check) holds it: it is done within seconds
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			s.Metrics.JournalDropped.Add(int64(len(batch)))
			s.Log.Error().Err(err).Int("records", len(batch)).Msg("guard: journal unavailable; records dropped")
			return
		}
		for _, r := range batch {
			if err := j.RecordGuard(r); err != nil {
				s.Metrics.JournalDropped.Add(1)
				s.Log.Error().Err(err).Msg("guard: journal write")
			}
		}
		if err := j.Close(); err != nil {
			s.Log.Error().Err(err).Msg("guard: journal close")
		}
		return
	}
}
