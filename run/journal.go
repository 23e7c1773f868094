package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

// StateDirEnv overrides the default --state-dir (not an explicit flag):
// for tests, containers and the demo.
const StateDirEnv = "LVFSCK_STATE_DIR"

// DefaultJournalDir is where the journal is kept unless told otherwise.
const DefaultJournalDir = journal.DefaultDir

// DefaultStateDir is $LVFSCK_STATE_DIR, else journal.DefaultDir.
func DefaultStateDir() string {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d
	}
	return journal.DefaultDir
}

// JournalUse is how a command opens the journal.
type JournalUse struct {
	Command  string // named in the lock file while it holds the journal
	ReadOnly bool
	Wait     time.Duration
	// ReadOnlyIfUnwritable: a directory this process cannot write (a
	// support bundle's) is opened read-only, with a warning, rather than
	// refused.
	ReadOnlyIfUnwritable bool
}

// OpenJournal opens the journal in dir. Every failure is a
// *report.Failure (exit 8) that says what to do: who holds a locked
// journal, how to set a damaged one aside, where to keep it when /var/lib
// is not writable. waiting is told when the journal is held by another
// run and this one waits for it.
func OpenJournal(ctx context.Context, dir string, u JournalUse, log zerolog.Logger, waiting io.Writer) (*journal.Journal, error) {
	j, err := openJournal(ctx, dir, u, log, waiting)
	if err != nil && u.ReadOnlyIfUnwritable && !u.ReadOnly && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		u.ReadOnly = true
		if j, rerr := openJournal(ctx, dir, u, log, waiting); rerr == nil {
			log.Warn().Str("state_dir", dir).Msg("the journal's directory cannot be written: its history is read, this run is not recorded")
			return j, nil
		}
	}
	return j, err
}

func openJournal(ctx context.Context, dir string, u JournalUse, log zerolog.Logger, waiting io.Writer) (*journal.Journal, error) {
	j, err := journal.OpenContext(ctx, dir, journal.Options{
		Logger: &log, ReadOnly: u.ReadOnly, WaitLock: u.Wait, Command: u.Command,
		Waiting: func(h journal.Holder) {
			fmt.Fprintf(waiting, "lvfsck: the journal in %s is held by %s; waiting up to %s\n", dir, h, h.WaitFor(u.Wait))
		},
	})
	if err == nil {
		return j, nil
	}
	log.Debug().Err(err).Str("state_dir", dir).Msg("journal not opened")
	return nil, report.Fail(report.ExitOperational, journalAdvice(err, dir, u))
}

// JournalOpener opens the journal as OpenJournal does, each time it is
// called (watch holds it only while it writes).
func JournalOpener(dir string, u JournalUse, log zerolog.Logger, waiting io.Writer) func(context.Context) (*journal.Journal, error) {
	return func(ctx context.Context) (*journal.Journal, error) { return OpenJournal(ctx, dir, u, log, waiting) }
}

// journalAdvice adds the way forward to an Open error. The error wrapped
// keeps its identity (errors.Is: permission, read-only file system).
func journalAdvice(err error, dir string, u JournalUse) error {
	switch {
	case errors.Is(err, journal.ErrCorrupt):
		return fmt.Errorf("%w\nIts history is what tells a forced removal from a real delete, so nothing is checked against a partial one. "+
			"`lvfsck journal verify --state-dir %s` lists the damage; `lvfsck journal reset --state-dir %s` moves the journal aside "+
			"(kept for forensics) so that the next run starts a new one", err, dir, dir)
	case errors.Is(err, journal.ErrLocked):
		hint := "wait for it (--wait-lock 5m waits up to 5 minutes), or give another --state-dir"
		if u.Wait > 0 {
			hint = "give a longer --wait-lock, or another --state-dir"
		}
		return fmt.Errorf("%w; %s", err, hint)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w\nlvfsck keeps its journal in %s: run it as root, or give --state-dir DIR (or set %s=DIR) for a directory you can write", err, dir, StateDirEnv)
	case u.ReadOnly && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no journal in %s: no lvfsck run has recorded anything there (give --state-dir, or set %s, to read another)", dir, StateDirEnv)
	}
	return err
}

// CloseJournal closes j at the end of a command; a failure is logged, as
// the command's own outcome is already decided.
func CloseJournal(j *journal.Journal, log zerolog.Logger) {
	if err := j.Close(); err != nil {
		log.Error().Err(err).Msg("close journal")
	}
}

// JournalEvents is the whole timeline of the journal in dir, read-only
// (what a support bundle carries).
func JournalEvents(ctx context.Context, dir string, log zerolog.Logger, waiting io.Writer) ([]journal.Event, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist", dir)
	}
	j, err := OpenJournal(ctx, dir, JournalUse{Command: "capture", ReadOnly: true}, log, waiting)
	if err != nil {
		return nil, err
	}
	defer CloseJournal(j, log)
	return j.Timeline(time.Time{})
}

// VerifyJournal reads the whole journal in dir, read-only, waiting up to
// wait for a run that holds it. A damaged one gives the damage in the
// check and a *report.Failure; so does one that cannot be read.
func VerifyJournal(ctx context.Context, dir string, wait time.Duration, log zerolog.Logger) (report.JournalCheck, error) {
	rep, err := journal.Verify(ctx, dir, journal.Options{Logger: &log, WaitLock: wait})
	var ce *journal.CorruptError
	if errors.As(err, &ce) {
		c := report.JournalCheck{Dir: ce.Dir, Damaged: true}
		for _, d := range ce.Damage {
			c.Damage = append(c.Damage, d.String())
		}
		return c, report.Fail(report.ExitOperational, fmt.Errorf("journal in %s is damaged: `lvfsck journal reset --state-dir %s` moves it aside and starts a new one", ce.Dir, ce.Dir))
	}
	if err != nil {
		return report.JournalCheck{}, report.Fail(report.ExitOperational, journalAdvice(err, dir, JournalUse{ReadOnly: true, Wait: wait}))
	}
	return report.JournalCheck{Dir: rep.Dir, Tables: rep.Tables, Blocks: rep.Blocks, Bytes: uint64(rep.Bytes), Keys: rep.Keys}, nil
}

// ResetJournal moves the journal in dir aside (refused for a healthy one
// unless force) and returns where it went. Failures are *report.Failure.
func ResetJournal(ctx context.Context, dir string, wait time.Duration, force bool) (string, error) {
	aside, err := journal.Reset(ctx, dir, journal.Options{WaitLock: wait, Command: "journal reset"}, force)
	if errors.Is(err, journal.ErrHealthy) {
		return "", report.Fail(report.ExitOperational, fmt.Errorf("%w: nothing done (--force moves it aside anyway)", err))
	}
	if err != nil {
		return "", report.Fail(report.ExitOperational, journalAdvice(err, dir, JournalUse{Wait: wait}))
	}
	return aside, nil
}
