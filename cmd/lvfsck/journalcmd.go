package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

func init() {
	subcommands = append(subcommands, newJournalCmd)
}

func newJournalCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "verify lvfsck's journal, or set a damaged one aside",
		Long: `The journal (--state-dir, default ` + journal.DefaultDir + `) is lvfsck's
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
			rep, err := journal.Verify(cmd.Context(), *stateDir, journal.Options{Logger: &g.log, WaitLock: *wait})
			out := cmd.OutOrStdout()
			var ce *journal.CorruptError
			if errors.As(err, &ce) {
				fmt.Fprintf(out, "journal in %s is DAMAGED:\n", ce.Dir)
				for _, d := range ce.Damage {
					fmt.Fprintf(out, "  %s\n", d)
				}
				return exitCode(report.ExitOperational, fmt.Errorf("journal in %s is damaged: `lvfsck journal reset --state-dir %s` moves it aside and starts a new one", ce.Dir, ce.Dir))
			}
			if err != nil {
				return exitCode(report.ExitOperational, journalAdvice(err, *stateDir, journalUse{readOnly: true, wait: *wait}))
			}
			fmt.Fprintf(out, "journal in %s reads whole: %d table(s), %d block(s) of %s verified, %d record(s) read\n",
				rep.Dir, rep.Tables, rep.Blocks, report.Bytes(uint64(rep.Bytes)), rep.Keys)
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
			aside, err := journal.Reset(cmd.Context(), *stateDir, journal.Options{WaitLock: *wait, Command: "journal reset"}, force)
			if errors.Is(err, journal.ErrHealthy) {
				return exitCode(report.ExitOperational, fmt.Errorf("%w: nothing done (--force moves it aside anyway)", err))
			}
			if err != nil {
				return exitCode(report.ExitOperational, journalAdvice(err, *stateDir, journalUse{wait: *wait}))
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
