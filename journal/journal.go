// Package journal is lvfsck's memory between runs: an embedded badger
// database holding the runs, the lvol sets each target incarnation showed
// (stored as changes), delete intents and their outcomes, findings with
// first-seen/last-seen times, evidence imported from spdk_tgt logs, the
// notify events `lvfsck watch` followed and the deletes `lvfsck guard`
// carried; Timeline reads what happened as one list of Events (events.go).
//
// A pending resurrection needs positive evidence ("listed earlier in this
// incarnation", "a delete ended busy"); only a history can give it, so the
// journal is written with care: intents, outcomes and run ends are synced
// before the call returns, and two lvfsck processes can never write the
// same journal (badger's directory lock plus our own lock file, which names
// its holder; see ErrLocked). Readers share it (Options.ReadOnly). Every
// table is verified before badger opens the journal: a damaged one is
// ErrCorrupt, never a shorter history (verify.go, wal.go).
//
// Values are JSON; keys are text under a versioned prefix ("v1/..."), see
// keys.go for the layout. A journal written by an older schema is migrated
// in place on Open.
package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rs/zerolog"
)

// DefaultDir is where the CLI keeps the journal unless --state-dir says
// otherwise.
const DefaultDir = "/var/lib/lvfsck"

// lockFileName is our own lock next to badger's: flock on it gives an error
// we can recognise reliably (badger flattens its own lock error to a string).
const lockFileName = "lvfsck.lock"

var (
	// ErrLocked means another process (or another Open in this one) holds
	// the journal. The error message names the directory.
	ErrLocked = errors.New("journal is locked by another lvfsck")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("journal is closed")
	// ErrSchemaTooNew means the journal was written by a newer lvfsck; it is
	// left untouched rather than misread.
	ErrSchemaTooNew = errors.New("journal schema is newer than this lvfsck")
	// ErrNotFound is returned when a run or intent id is unknown.
	ErrNotFound = errors.New("not found in journal")
	// ErrInvalid is returned for arguments the journal refuses to store
	// (empty or oversized identifiers, duplicate lvols in one observation).
	ErrInvalid = errors.New("invalid journal input")
)

// Options tune Open. The zero value is fine.
type Options struct {
	// Logger receives badger's own messages at debug level. Nil discards.
	Logger *zerolog.Logger
	// Now is the clock for times the caller does not pass (run start and
	// finish, intent times left zero). Nil means time.Now.
	Now func() time.Time
	// ReadOnly opens for reading only: a shared lock (readers do not keep
	// each other out), nothing written, the directory never created. A
	// journal that badger cannot open read-only as it is (a WAL left by a
	// killed run, an older schema) is read from a private copy, so a
	// journal from a support bundle, in a directory this process cannot
	// write, reads as well.
	ReadOnly bool
	// WaitLock is how long Open waits for another process holding the
	// journal before it fails with ErrLocked. Zero fails at once.
	WaitLock time.Duration
	// Waiting, when set, is called once if Open has to wait for the lock,
	// with who holds it: a reader that pauses can say why.
	Waiting func(Holder)
	// Command names the holder in the lock file ("check", "repair"), for
	// the error another lvfsck gets while this one holds the journal.
	Command string
}

// Journal is an open journal. Methods are safe for concurrent use.
type Journal struct {
	dir    string
	db     *badger.DB
	lock   *os.File // nil: a read-only journal without a lock file
	now    func() time.Time
	log    zerolog.Logger
	copy   string       // the private copy a read-only Open reads, removed at Close
	tables TablesReport // what Open verified
	ro     bool

	mu     sync.Mutex // guards closed, lastID; serialises read-modify-write
	closed bool
	lastID int64
}

// Open opens (creating if needed) the journal in dir. A second Open of the
// same dir while the first is open fails with ErrLocked (a *LockedError),
// after waiting up to o.WaitLock; a damaged journal fails with ErrCorrupt
// (a *CorruptError).
func Open(dir string, o Options) (*Journal, error) {
	return OpenContext(context.Background(), dir, o)
}

// OpenContext is Open whose wait for the lock ends when ctx does.
func OpenContext(ctx context.Context, dir string, o Options) (*Journal, error) {
	if dir == "" {
		return nil, fmt.Errorf("open journal: %w: empty directory", ErrInvalid)
	}
	if o.ReadOnly {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open journal: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: create %s: %w", dir, err)
	}
	lock, err := lockDir(ctx, dir, o)
	if err != nil {
		return nil, err
	}
	lg := zerolog.Nop()
	if o.Logger != nil {
		lg = *o.Logger
	}
	j := &Journal{dir: dir, lock: lock, now: o.Now, log: lg, ro: o.ReadOnly}
	if j.now == nil {
		j.now = time.Now
	}
	// Verified before badger opens it: badger skips a damaged table
	// silently, and a damaged index panics it.
	var dmg []Damage
	j.tables, dmg, err = verifyFiles(dir, lg)
	switch {
	case err != nil:
	case len(dmg) > 0:
		err = &CorruptError{Dir: dir, Damage: dmg}
	case o.ReadOnly:
		err = j.openReadOnly()
	default:
		err = j.openWritable(dir)
	}
	if err != nil {
		j.unlock()
		return nil, err
	}
	if err := j.initIDs(); err != nil {
		_ = j.Close()
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	return j, nil
}

// unlock lets go of the lock file, cleared first by a writer.
func (j *Journal) unlock() error {
	if j.lock == nil {
		return nil
	}
	if !j.ro {
		clearHolder(j.lock)
	}
	return j.lock.Close()
}

// openWritable opens badger on dir and brings its schema up to date.
func (j *Journal) openWritable(dir string) error {
	if err := removeEmptyWALs(dir, j.log); err != nil {
		return err
	}
	db, err := badger.Open(badgerOptions(dir, j.log))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return &LockedError{Dir: j.dir}
		}
		return fmt.Errorf("open journal %s: %w", j.dir, err)
	}
	j.db = db
	if err := j.migrate(); err != nil {
		_ = db.Close()
		return fmt.Errorf("open journal %s: %w", j.dir, err)
	}
	return nil
}

// openReadOnly opens badger read-only on the journal, or on a private
// copy when badger refuses (a WAL to truncate, an empty file to remove) or
// the schema needs migrating.
func (j *Journal) openReadOnly() error {
	db, err := badger.Open(badgerOptions(j.dir, j.log).WithReadOnly(true))
	if err != nil && strings.Contains(err.Error(), "Cannot acquire directory lock") {
		return &LockedError{Dir: j.dir}
	}
	if err == nil {
		var v int
		err = db.View(func(txn *badger.Txn) error {
			var serr error
			v, serr = schemaOf(txn)
			return serr
		})
		if err == nil && v == schemaVersion {
			j.db = db
			return nil
		}
		_ = db.Close()
		if err == nil && v > schemaVersion {
			return fmt.Errorf("open journal %s: %w: schema %d, this lvfsck reads up to %d", j.dir, ErrSchemaTooNew, v, schemaVersion)
		}
		if err == nil {
			err = fmt.Errorf("schema %d needs migrating", v)
		}
	}
	j.log.Debug().Err(err).Str("dir", j.dir).Msg("journal not readable in place; reading a private copy")
	cp, cerr := copyJournal(j.dir)
	if cerr != nil {
		return fmt.Errorf("open journal %s read-only: %w", j.dir, errors.Join(err, cerr))
	}
	j.copy = cp
	if err := j.openWritable(cp); err != nil {
		_ = os.RemoveAll(cp)
		j.copy = ""
		return err
	}
	return nil
}

// copyJournal copies the journal's files (not its locks) into a new
// temporary directory.
func copyJournal(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	cp, err := os.MkdirTemp("", "lvfsck-journal-*")
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == lockFileName || e.Name() == "LOCK" {
			continue
		}
		if err := copyFile(filepath.Join(dir, e.Name()), filepath.Join(cp, e.Name())); err != nil {
			_ = os.RemoveAll(cp)
			return "", err
		}
	}
	return cp, nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return dst.Close()
}

// removeEmptyWALs deletes zero-length memtable WALs (*.mem) and value logs
// (*.vlog). Badger creates a new one of each at every Open, and sizes the
// file only after creating it; a process killed in between leaves an empty
// file that badger (v4.9) refuses at the next Open ("while opening fid: N
// err: Create a new file", "Open existing file: ... Create a new file").
// An empty file holds no entry, so removing it loses nothing. Runs under
// our lock, before badger takes its own.
func removeEmptyWALs(dir string, lg zerolog.Logger) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("open journal %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".mem") || strings.HasSuffix(e.Name(), ".vlog")) {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() != 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("open journal %s: remove empty log file: %w", dir, err)
		}
		lg.Debug().Str("file", p).Msg("removed empty badger log file left by a killed run")
	}
	return nil
}

// badgerOptions sizes badger for a database of a few MB: badger's defaults
// (64 MB memtables, 1 GB value-log files, 256 MB block cache) are for
// servers. The memtable's WAL is preallocated at twice MemTableSize (sparse
// on most file systems), so that is the figure that shows in `ls -l`.
func badgerOptions(dir string, lg zerolog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{lg}).
		// Writes reach badger's memory-mapped WAL at commit, which a killed
		// process cannot lose; the writes that must also survive a power
		// cut (runs, intents, outcomes) call db.Sync, see updateSynced.
		// Syncing every observation would cost an fsync per lvstore per run.
		WithSyncWrites(false).
		WithNumVersionsToKeep(1).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithValueLogFileSize(1 << 20).
		WithValueThreshold(64 << 10). // our values are small; keep them in the LSM
		WithBaseTableSize(1 << 20).
		WithBaseLevelSize(4 << 20).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithBlockCacheSize(2 << 20).
		WithIndexCacheSize(0).
		WithCompression(options.Snappy).
		WithMetricsEnabled(false).
		WithCompactL0OnClose(true).
		WithDetectConflicts(false). // one writer, serialised by j.mu
		// Open verifies every table first (verify.go); this catches a
		// block damaged after that.
		WithChecksumVerificationMode(options.OnBlockRead)
}

// badgerLogger routes badger's chatter to zerolog at debug level: a journal
// that works is silent.
type badgerLogger struct{ l zerolog.Logger }

func (b badgerLogger) emit(level, f string, a ...any) {
	b.l.Debug().Str("component", "badger").Str("badger_level", level).
		Msg(strings.TrimRight(fmt.Sprintf(f, a...), "\n"))
}
func (b badgerLogger) Errorf(f string, a ...any)   { b.emit("error", f, a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.emit("warning", f, a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.emit("info", f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.emit("debug", f, a...) }

// Dir returns the directory the journal lives in.
func (j *Journal) Dir() string { return j.dir }

// Close flushes and closes the journal and releases the lock. Calling it
// again is a no-op.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	err := j.db.Close()
	if lerr := j.unlock(); lerr != nil && err == nil {
		err = lerr
	}
	if j.copy != "" {
		if rerr := os.RemoveAll(j.copy); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("close journal %s: %w", j.dir, err)
	}
	return nil
}

// updateSynced is db.Update followed by an fsync of everything written so
// far: for the records that must not be lost (run start and end, delete
// intents and outcomes, target semantics).
func (j *Journal) updateSynced(fn func(txn *badger.Txn) error) error {
	if err := j.db.Update(fn); err != nil {
		return err
	}
	if err := j.db.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// begin takes the journal mutex for a read-modify-write and fails after
// Close. Callers defer j.mu.Unlock().
func (j *Journal) begin() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Size reports badger's own accounting of the LSM tree and value log, in
// bytes.
func (j *Journal) Size() (lsm, vlog int64) {
	if err := j.begin(); err != nil {
		return 0, 0
	}
	defer j.mu.Unlock()
	return j.db.Size()
}

// ReadOnly reports whether the journal was opened for reading only: its
// writes fail, so callers that would record skip it.
func (j *Journal) ReadOnly() bool { return j.ro }
