package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/run"
)

// addStateDirFlag registers --state-dir on cmd; the returned pointer holds
// its value once flags are parsed.
func addStateDirFlag(cmd *cobra.Command) *string {
	p := new(string)
	cmd.Flags().StringVar(p, "state-dir", run.DefaultStateDir(), "directory of lvfsck's journal ($"+run.StateDirEnv+" overrides the default)")
	return p
}

// addWaitLockFlag registers --wait-lock on cmd, with the command's default.
func addWaitLockFlag(cmd *cobra.Command, def time.Duration) *time.Duration {
	p := new(time.Duration)
	cmd.Flags().DurationVar(p, "wait-lock", def, "wait this long for another lvfsck holding the journal (cron runs that overlap)")
	return p
}
