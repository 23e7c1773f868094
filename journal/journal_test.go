package journal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(t, err)

	start := time.Now()
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), dir, "the message must name the directory")
	require.Less(t, time.Since(start), 10*time.Second, "a locked journal must fail fast (not wait for the lock)")

	require.NoError(t, j.Close())
	require.NoError(t, j.Close(), "Close twice is safe")
	_, err = j.Runs()
	require.ErrorIs(t, err, ErrClosed)

	j2, err := Open(dir, Options{})
	require.NoError(t, err, "the lock is released by Close")
	require.NoError(t, j2.Close())
}

// Badger's own lock must also hold when our lock file is bypassed (someone
// deleted it while a journal was open): a second Open still fails typed.
func TestOpenLockedByBadger(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(t, err)
	defer j.Close()
	require.NoError(t, os.Remove(filepath.Join(dir, lockFileName)))
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), dir)
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("", Options{})
	require.ErrorIs(t, err, ErrInvalid)

	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, []byte("x"), 0o600))
	_, err = Open(f, Options{})
	require.Error(t, err, "a regular file is not a journal directory")
}

// A fresh journal must not preallocate badger's server-sized files.
func TestOpenIsSmallOnDisk(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(t, err)
	_, err = j.BeginRun(Run{Command: "check"})
	require.NoError(t, err)
	alloc, apparent := dirBytes(t, dir)
	t.Logf("open journal: %d bytes allocated, %d apparent", alloc, apparent)
	require.Less(t, apparent, int64(32<<20), "apparent size (preallocated WAL/vlog)")
	require.Less(t, alloc, int64(4<<20))
	require.NoError(t, j.Close())
	alloc, apparent = dirBytes(t, dir)
	t.Logf("closed journal: %d bytes allocated, %d apparent", alloc, apparent)
	require.Less(t, alloc, int64(1<<20))
}

func TestSchemaTooNew(t *testing.T) {
	dir := t.TempDir()
	rawUpdate(t, dir, func(txn *badger.Txn) error {
		return txn.Set([]byte(schemaKey), []byte("99"))
	})
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, ErrSchemaTooNew)

	// The refused journal is left as it was, and unlocked.
	requireSchema(t, dir, 99)
}

func TestMigrateV0(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2025, 3, 1, 4, 0, 0, 0, time.UTC)
	rawUpdate(t, dir, func(txn *badger.Txn) error {
		// Two runs as the unversioned prototype wrote them, no meta/schema.
		if err := txn.Set([]byte("runs/old-1"), []byte(`{"id":"old-1","cmd":"check","start":"2025-03-01T04:00:00Z","end":"2025-03-01T04:00:02Z","target":"/var/tmp/spdk.sock","status":"ok","exit":0}`)); err != nil {
			return err
		}
		return txn.Set([]byte("runs/old-2"), []byte(`{"cmd":"check","start":"2025-03-01T05:00:00Z","status":"errors","exit":4}`))
	})

	j, err := Open(dir, Options{})
	require.NoError(t, err)
	runs, err := j.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, Run{ID: "old-1", Command: "check", Started: start, Finished: start.Add(2 * time.Second),
		Target: "/var/tmp/spdk.sock", Outcome: "ok"}, runs[0])
	require.Equal(t, "old-2", runs[1].ID, "id taken from the key when the record had none")
	require.Equal(t, 4, runs[1].ExitCode)
	require.True(t, runs[1].Unfinished())
	require.NoError(t, j.Close())

	// Migrated once: the old keys are gone and the schema is current.
	requireSchema(t, dir, schemaVersion)
	rawView(t, dir, func(txn *badger.Txn) error {
		_, err := txn.Get([]byte("runs/old-1"))
		require.ErrorIs(t, err, badger.ErrKeyNotFound)
		return nil
	})
}

func TestMigrateV0Corrupt(t *testing.T) {
	dir := t.TempDir()
	rawUpdate(t, dir, func(txn *badger.Txn) error {
		return txn.Set([]byte("runs/bad"), []byte(`{"cmd":`))
	})
	_, err := Open(dir, Options{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "runs/bad")

	// Nothing was half-migrated, and the journal is not left locked.
	requireSchema(t, dir, 0)
}

// rawUpdate writes the badger database in dir directly, as an older lvfsck
// (or damage) would, bypassing Open.
func rawUpdate(t *testing.T, dir string, fn func(*badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badgerOptions(dir, nopLogger()))
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
}

// rawView reads the badger database in dir directly; opening it also
// shows that no lock was left behind.
func rawView(t *testing.T, dir string, fn func(*badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badgerOptions(dir, nopLogger()))
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(fn))
}

// requireSchema requires the schema version stored in dir.
func requireSchema(t *testing.T, dir string, want int) {
	t.Helper()
	rawView(t, dir, func(txn *badger.Txn) error {
		v, err := schemaOf(txn)
		require.Equal(t, want, v)
		return err
	})
}

func TestRuns(t *testing.T) {
	j, c := openTest(t)
	t0 := c.Now()
	id1, err := j.BeginRun(Run{Command: "check", Incarnation: "pid:10@1", Target: "/var/tmp/spdk.sock", Devices: []string{"/dev/sdb"}})
	require.NoError(t, err)
	c.Advance(time.Second)
	require.NoError(t, j.SetFindingCounts(id1, map[string]int{"pending-resurrection": 1}))
	require.NoError(t, j.FinishRun(id1, "errors", 4))

	// The clock steps back: ids still increase.
	c.Set(t0.Add(-time.Hour))
	id2, err := j.BeginRun(Run{Command: "repair"})
	require.NoError(t, err)
	require.Greater(t, id2, id1)

	_, err = j.BeginRun(Run{ID: id1})
	require.ErrorIs(t, err, ErrInvalid, "an id already used is refused")
	id3, err := j.BeginRun(Run{ID: "caller-chosen"})
	require.NoError(t, err)
	require.Equal(t, "caller-chosen", id3)

	tests := []struct {
		name string
		id   string
		want func(t *testing.T, r Run, err error)
	}{
		{"finished", id1, func(t *testing.T, r Run, err error) {
			require.NoError(t, err)
			require.False(t, r.Unfinished())
			require.Equal(t, t0.Add(time.Second), r.Finished)
			require.Equal(t, "errors", r.Outcome)
		}},
		{"unfinished", id2, func(t *testing.T, r Run, err error) {
			require.NoError(t, err)
			require.True(t, r.Unfinished())
			require.Equal(t, "repair", r.Command)
			require.Equal(t, t0.Add(-time.Hour), r.Started)
		}},
		{"unknown", "nope", func(t *testing.T, _ Run, err error) { require.ErrorIs(t, err, ErrNotFound) }},
		{"empty", "", func(t *testing.T, _ Run, err error) { require.ErrorIs(t, err, ErrInvalid) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := j.GetRun(tc.id)
			tc.want(t, r, err)
		})
	}
	require.ErrorIs(t, j.FinishRun("nope", "ok", 0), ErrNotFound)
}

func TestRunFields(t *testing.T) {
	j, c := openTest(t)
	id, err := j.BeginRun(Run{Command: "check", Incarnation: "pid:10@1", Target: "/s", Devices: []string{"/dev/sdb", "/dev/sdc"}})
	require.NoError(t, err)
	c.Advance(3 * time.Second)
	require.NoError(t, j.SetFindingCounts(id, map[string]int{"pending-resurrection": 2}))
	require.NoError(t, j.FinishRun(id, "errors", 4))
	runs, err := j.Runs()
	require.NoError(t, err)
	require.Len(t, runs, 1)
	r := runs[0]
	require.Equal(t, id, r.ID)
	require.False(t, r.Unfinished())
	require.Equal(t, 3*time.Second, r.Finished.Sub(r.Started))
	require.Equal(t, []string{"/dev/sdb", "/dev/sdc"}, r.Devices)
	require.Equal(t, map[string]int{"pending-resurrection": 2}, r.FindingCounts)
	require.Equal(t, 4, r.ExitCode)
	require.Equal(t, "errors", r.Outcome)
	n, ok := parseID(id)
	require.True(t, ok)
	require.Equal(t, r.Started.UnixNano(), n, "the id is the start time")
}

// Ids keep increasing across Close/Open even when the clock went back.
func TestIDsAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	j, c := openAt(t, dir)
	id1, err := j.BeginRun(Run{Command: "check"})
	require.NoError(t, err)
	require.NoError(t, j.Close())
	c2 := newClock()
	c2.Set(c.Now().Add(-24 * time.Hour))
	j2, err := Open(dir, Options{Now: c2.Now})
	require.NoError(t, err)
	defer j2.Close()
	id2, err := j2.BeginRun(Run{Command: "check"})
	require.NoError(t, err)
	require.Greater(t, id2, id1)
}

func TestClosedJournal(t *testing.T) {
	j, _ := openTest(t)
	require.NoError(t, j.Close())
	calls := map[string]func() error{
		"BeginRun":     func() error { _, err := j.BeginRun(Run{}); return err },
		"ObserveLvols": func() error { _, err := j.ObserveLvols("i", "l", time.Time{}, nil); return err },
		"RecordIntent": func() error { _, err := j.RecordIntent(DeleteIntent{LvolUUID: "u"}); return err },
		"OpenIntents":  func() error { _, err := j.OpenIntents(); return err },
		"Findings":     func() error { _, err := j.Findings(); return err },
		"Evidence":     func() error { _, err := j.Evidence("u"); return err },
		"Timeline":     func() error { _, err := j.Timeline(time.Time{}); return err },
		"Prune":        func() error { _, err := j.Prune(time.Now()); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.True(t, errors.Is(err, ErrClosed), "got %v", err)
		})
	}
}
