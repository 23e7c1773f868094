package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/bundle"
	"github.com/lvfsck/lvfsck/history"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

// HistorySchema names the JSON document of `lvfsck history --json`.
const HistorySchema = history.Schema

type historyOpts struct {
	json     bool
	since    string
	bundle   string
	tmpDir   string
	stateDir *string
	waitLock *time.Duration
	now      func() time.Time
}

// historyWaitLock is how long history waits, by default, for a run that
// holds the journal: a check holds it for seconds, and badger lets no
// reader in beside a writer.
const historyWaitLock = 30 * time.Second

// historyClock is what --since counts back from; tests pin it.
var historyClock = time.Now

func newHistoryCmd(g *globalOpts) *cobra.Command {
	o := &historyOpts{now: historyClock}
	cmd := &cobra.Command{
		Use:   "history [LVOL]",
		Short: "print what the journal remembers about one lvol, or about every lvol",
		Long: `history prints the journal's timeline, oldest first, one line per event:
when the target listed an lvol (seen), stopped listing it (gone), changed it;
delete intents and how they ended; forced removals; lvols that came back
after a restart (resurrected); repairs; and evidence imported from spdk_tgt
logs (log:<kind>).

LVOL is a uuid, an alias (lvstore/name) or a bare name; every lvol that ever
had that name is shown, with a short uuid where names repeat. Log lines that
give only a bare name match that name in any lvstore. Without LVOL, the
whole journal.

Times are UTC; times from spdk_tgt logs are as the log wrote them, read in the
zone given to log import --tz.

The journal is opened read-only (a copy from a support bundle reads as
well); while another lvfsck writes it, history waits for it (--wait-lock).
--bundle reads the journal's history a support bundle carries instead
(lvfsck capture; names as the bundle has them, obfuscated or not).

Exit: 0, 8 the journal cannot be read (missing, damaged, or held by another
lvfsck past --wait-lock; a bundle damaged or without a journal excerpt),
16 usage.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lvol := ""
			if len(args) == 1 {
				lvol = args[0]
			}
			return runHistory(cmd, g, o, lvol)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "write the "+HistorySchema+" JSON document")
	cmd.Flags().StringVar(&o.since, "since", "", "only events newer than this (e.g. 36h, 7d, 90m)")
	cmd.Flags().StringVar(&o.bundle, "bundle", "", "read the journal history of this support bundle (lvfsck capture) instead of the journal")
	cmd.Flags().StringVar(&o.tmpDir, "tmp-dir", "", "where --bundle is extracted (default $TMPDIR)")
	o.stateDir = addStateDirFlag(cmd)
	o.waitLock = addWaitLockFlag(cmd, historyWaitLock)
	return cmd
}

// bundleHistory builds the history from the journal history --bundle
// carries.
func bundleHistory(cmd *cobra.Command, o *historyOpts, lvol string, since time.Time) (history.History, error) {
	if cmd.Flags().Changed("state-dir") {
		return history.History{}, usageError("--bundle and --state-dir exclude each other")
	}
	b, err := bundle.Open(cmd.Context(), o.bundle, o.tmpDir)
	if err != nil {
		return history.History{}, exitCode(report.ExitOperational, err)
	}
	defer b.Close()
	if b.Journal == "" {
		return history.History{}, exitCode(report.ExitOperational, fmt.Errorf("%s: %w: it holds no journal history (captured without a journal?)", o.bundle, bundle.ErrBundle))
	}
	f, err := os.Open(b.Journal)
	if err != nil {
		return history.History{}, exitCode(report.ExitOperational, err)
	}
	defer f.Close()
	evs, err := history.ReadEvents(f)
	if err != nil {
		return history.History{}, exitCode(report.ExitOperational, fmt.Errorf("%s: %w", o.bundle, err))
	}
	return history.Build(evs, lvol, since), nil
}

func runHistory(cmd *cobra.Command, g *globalOpts, o *historyOpts, lvol string) error {
	var since time.Time
	if o.since != "" {
		d, err := history.ParseSince(o.since)
		if err != nil {
			return usageError("--since: %v", err)
		}
		since = o.now().Add(-d)
	}
	if len(lvol) > 512 {
		return usageError("LVOL: over 512 bytes")
	}
	// The whole timeline: a name is resolved over all of it, even when only
	// the recent part is printed.
	var h history.History
	where := "bundle " + o.bundle
	if o.bundle != "" {
		var err error
		if h, err = bundleHistory(cmd, o, lvol, since); err != nil {
			return err
		}
	} else {
		j, err := run.OpenJournal(cmd.Context(), *o.stateDir, run.JournalUse{ReadOnly: true, Wait: *o.waitLock}, g.log, os.Stderr)
		if err != nil {
			return exitOf(err)
		}
		defer run.CloseJournal(j, g.log)
		all, err := j.Timeline(time.Time{})
		if err != nil {
			return exitCode(report.ExitOperational, err)
		}
		h, where = history.Build(all, lvol, since), "the journal in "+j.Dir()
	}
	out := cmd.OutOrStdout()
	write := history.WriteText
	if o.json {
		write = history.WriteJSON
	}
	if err := write(out, h); err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("write output: %w", err))
	}
	if lvol != "" && len(h.UUIDs) == 0 && len(h.Events) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "lvfsck: %s has nothing about %s\n", where, report.Printable(lvol))
	}
	return nil
}
