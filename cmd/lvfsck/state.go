package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

// stateDirEnv overrides the default --state-dir (not an explicit flag):
// for tests, containers and the demo.
const stateDirEnv = "LVFSCK_STATE_DIR"

// defaultStateDir is $LVFSCK_STATE_DIR, else journal.DefaultDir.
func defaultStateDir() string {
	if d := os.Getenv(stateDirEnv); d != "" {
		return d
	}
	return journal.DefaultDir
}

// addStateDirFlag registers --state-dir on cmd; the returned pointer holds
// its value once flags are parsed.
func addStateDirFlag(cmd *cobra.Command) *string {
	p := new(string)
	cmd.Flags().StringVar(p, "state-dir", defaultStateDir(), "directory of lvfsck's journal ($"+stateDirEnv+" overrides the default)")
	return p
}

// addWaitLockFlag registers --wait-lock on cmd, with the command's default.
func addWaitLockFlag(cmd *cobra.Command, def time.Duration) *time.Duration {
	p := new(time.Duration)
	cmd.Flags().DurationVar(p, "wait-lock", def, "wait this long for another lvfsck holding the journal (cron runs that overlap)")
	return p
}

// journalUse is how a command opens the journal.
type journalUse struct {
	command  string // named in the lock file while it holds the journal
	readOnly bool
	wait     time.Duration
}

// openJournal opens the journal in dir. Every failure is an operational
// error (exit 8) that says what to do: who holds a locked journal, how to
// set a damaged one aside, where to keep it when /var/lib is not writable.
func openJournal(ctx context.Context, g *globalOpts, dir string, u journalUse) (*journal.Journal, error) {
	j, err := journal.OpenContext(ctx, dir, journal.Options{
		Logger: &g.log, ReadOnly: u.readOnly, WaitLock: u.wait, Command: u.command,
		Waiting: func(h journal.Holder) {
			fmt.Fprintf(os.Stderr, "lvfsck: the journal in %s is held by %s; waiting up to %s\n", dir, h, u.wait)
		},
	})
	if err == nil {
		return j, nil
	}
	g.log.Debug().Err(err).Str("state_dir", dir).Msg("journal not opened")
	return nil, exitCode(report.ExitOperational, journalAdvice(err, dir, u))
}

// journalAdvice adds the way forward to an Open error.
func journalAdvice(err error, dir string, u journalUse) error {
	switch {
	case errors.Is(err, journal.ErrCorrupt):
		return fmt.Errorf("%w\nIts history is what tells a forced removal from a real delete, so nothing is checked against a partial one. "+
			"`lvfsck journal verify --state-dir %s` lists the damage; `lvfsck journal reset --state-dir %s` moves the journal aside "+
			"(kept for forensics) so that the next run starts a new one", err, dir, dir)
	case errors.Is(err, journal.ErrLocked):
		hint := "wait for it (--wait-lock 5m waits up to 5 minutes), or give another --state-dir"
		if u.wait > 0 {
			hint = "give a longer --wait-lock, or another --state-dir"
		}
		return fmt.Errorf("%w; %s", err, hint)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w\nlvfsck keeps its journal in %s: run it as root, or give --state-dir DIR (or set %s=DIR) for a directory you can write", err, dir, stateDirEnv)
	case u.readOnly && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no journal in %s: no lvfsck run has recorded anything there (give --state-dir, or set %s, to read another)", dir, stateDirEnv)
	}
	return err
}

// closeJournal closes j at the end of a command; a failure is logged, as
// the command's own outcome is already decided.
func closeJournal(g *globalOpts, j *journal.Journal) {
	if err := j.Close(); err != nil {
		g.log.Error().Err(err).Msg("close journal")
	}
}
