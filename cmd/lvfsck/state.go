package main

import (
	"errors"
	"fmt"
	"os"

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

// openJournal opens the journal in dir. Every failure is an operational
// error (exit 8); a locked journal says which directory and why.
func openJournal(g *globalOpts, dir string) (*journal.Journal, error) {
	j, err := journal.Open(dir, journal.Options{Logger: &g.log})
	if errors.Is(err, journal.ErrLocked) {
		g.log.Debug().Err(err).Str("state_dir", dir).Msg("journal locked")
		return nil, exitCode(report.ExitOperational, fmt.Errorf(
			"journal in %s: %w, which holds it until it exits (wait for it, or give another --state-dir)", dir, journal.ErrLocked))
	}
	if err != nil {
		return nil, exitCode(report.ExitOperational, err)
	}
	return j, nil
}

// closeJournal closes j at the end of a command; a failure is logged, as
// the command's own outcome is already decided.
func closeJournal(g *globalOpts, j *journal.Journal) {
	if err := j.Close(); err != nil {
		g.log.Error().Err(err).Msg("close journal")
	}
}
