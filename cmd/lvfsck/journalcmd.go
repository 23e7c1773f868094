package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

func newJournalCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "verify lvfsck's journal, or set a damaged one aside",
		Long: `The journal (--state-dir, default ` + run.DefaultJournalDir + `) is lvfsck's
history: which lvols each target run listed, delete intents and outcomes,
findings. It is what tells a forced removal from a real delete, so a
journal that cannot be read whole stops every command (exit 8) rather
than let it report from a partial history.

  verify   read every table and record, read-only; list what is damaged
  reset    move the journal aside to DIR.damaged-<UTC time> (kept, for
           forensics) and start a new, empty one in DIR`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("journal: give a subcommand (verify, reset)")
		},
	}
	cmd.AddCommand(newJournalVerifyCmd(g), newJournalResetCmd(g))
	return cmd
}

func newJournalVerifyCmd(g *globalOpts) *cobra.Command {
	var stateDir *string
	var wait *time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "read the whole journal and say whether it is damaged",
		Long: `verify opens the journal read-only (waiting, up to --wait-lock, for a run
that holds it), checks the checksum of every table block and reads every
record.

Exit: 0 the journal reads whole, 8 damaged (the damaged files are listed)
or not readable, 16 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := run.VerifyJournal(cmd.Context(), *stateDir, *wait, g.log)
			if c.Dir != "" {
				if werr := report.WriteJournalCheck(cmd.OutOrStdout(), c); werr != nil && err == nil {
					err = report.Fail(report.ExitOperational, fmt.Errorf("write output: %w", werr))
				}
			}
			if err != nil {
				return exitOf(err)
			}
			return nil
		},
	}
	stateDir = addStateDirFlag(cmd)
	wait = addWaitLockFlag(cmd, historyWaitLock)
	return cmd
}

func newJournalResetCmd(g *globalOpts) *cobra.Command {
	var stateDir *string
	var wait *time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "move a damaged journal aside and start a new one",
		Long: `reset renames the journal directory DIR to DIR.damaged-<UTC time> and
creates a new, empty DIR: the next run starts a new history, and the old
one is kept for forensics. It takes the journal's lock first (waiting up to
--wait-lock), so no run is writing it.

A journal that verifies whole is refused unless --force: its history is
what finds the lvols a forced removal left on disk.

After a reset, lvfsck knows nothing of what happened before: an lvol
dropped earlier and still on disk shows as "not opened at load" rather than
"pending resurrection" until it is seen again.

Exit: 0 moved aside, 8 refused or failed, 16 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			aside, err := run.ResetJournal(cmd.Context(), *stateDir, *wait, force)
			if err != nil {
				return exitOf(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "moved the journal in %s to %s (kept); the next lvfsck run starts a new journal in %s\n", *stateDir, aside, *stateDir)
			return nil
		},
	}
	stateDir = addStateDirFlag(cmd)
	wait = addWaitLockFlag(cmd, 0)
	cmd.Flags().BoolVar(&force, "force", false, "move the journal aside even when it verifies whole")
	return cmd
}
