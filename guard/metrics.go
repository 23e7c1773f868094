package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Metrics are the guard's counters since it started.
type Metrics struct {
	Conns            atomic.Int64 // client connections accepted
	ConnsOpen        atomic.Int64
	Requests         atomic.Int64 // request frames forwarded
	Unframed         atomic.Int64 // streams passed raw after a framing error
	Untracked        atomic.Int64 // calls not tracked: per-connection bound reached
	Holds            atomic.Int64 // holds begun
	DeletesForwarded atomic.Int64
	DeletesRefused   atomic.Int64
	DeletesDelayed   atomic.Int64
	DeleteAnswers    atomic.Int64 // answers of forwarded deletes
	DeleteBusy       atomic.Int64 // of which busy: a holder the guard did not see
	CopyPolls        atomic.Int64
	JournalDropped   atomic.Int64
}

// WriteProm writes the counters in Prometheus' text format (for
// node_exporter's textfile collector).
func (m *Metrics) WriteProm(w io.Writer) error {
	for _, c := range []struct {
		name, help string
		v          int64
	}{
		{"lvfsck_guard_connections_total", "client connections accepted", m.Conns.Load()},
		{"lvfsck_guard_connections_open", "client connections open", m.ConnsOpen.Load()},
		{"lvfsck_guard_requests_total", "request frames forwarded", m.Requests.Load()},
		{"lvfsck_guard_unframed_streams_total", "streams passed raw after a framing error", m.Unframed.Load()},
		{"lvfsck_guard_untracked_calls_total", "calls not tracked (per-connection bound)", m.Untracked.Load()},
		{"lvfsck_guard_holds_total", "holds begun (checksums, shallow copies, locked operations)", m.Holds.Load()},
		{"lvfsck_guard_deletes_forwarded_total", "bdev_lvol_delete forwarded to the target", m.DeletesForwarded.Load()},
		{"lvfsck_guard_deletes_refused_total", "bdev_lvol_delete refused busy by the guard", m.DeletesRefused.Load()},
		{"lvfsck_guard_deletes_delayed_total", "bdev_lvol_delete held until the holder ended", m.DeletesDelayed.Load()},
		{"lvfsck_guard_delete_answers_total", "answers of forwarded deletes", m.DeleteAnswers.Load()},
		{"lvfsck_guard_delete_busy_answers_total", "forwarded deletes the target answered busy", m.DeleteBusy.Load()},
		{"lvfsck_guard_copy_polls_total", "bdev_lvol_check_shallow_copy calls of the guard's own", m.CopyPolls.Load()},
		{"lvfsck_guard_journal_dropped_total", "journal records dropped (queue full)", m.JournalDropped.Load()},
	} {
		kind := "counter"
		if c.name == "lvfsck_guard_connections_open" {
			kind = "gauge"
		}
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", c.name, c.help, c.name, kind, c.name, c.v); err != nil {
			return err
		}
	}
	return nil
}

// WritePromFile replaces path with WriteProm's text: a temporary file in
// the same directory (hidden, never *.prom), renamed over it.
func (m *Metrics) WritePromFile(path string) error {
	var buf bytes.Buffer
	if err := m.WriteProm(&buf); err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, werr := f.Write(buf.Bytes())
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o644)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
