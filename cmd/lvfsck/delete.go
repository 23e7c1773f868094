package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

// writeOpts are the flags delete and repair share.
type writeOpts struct {
	socket        string
	devices       []string
	stateDir      *string
	waitLock      *time.Duration
	command       string // delete or repair, named in the journal's lock file
	wait          time.Duration
	dryRun        bool
	allowExported bool
	json          bool
	timeout       time.Duration
	incarnation   string
	tmpDir        string
	// Hidden, for tests: the first backoff delay of a busy retry.
	backoffInitial time.Duration
}

func addWriteFlags(cmd *cobra.Command, o *writeOpts) {
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", run.DefaultSocket, "spdk_tgt's JSON-RPC unix socket")
	f.StringArrayVar(&o.devices, "device", nil, "base device of an lvstore, read to verify deletions (repeatable; default: found from bdev_get_bdevs)")
	o.stateDir = addStateDirFlag(cmd)
	o.waitLock = addWaitLockFlag(cmd, 0)
	o.command = cmd.Name()
	f.DurationVar(&o.wait, "wait", 0, "on a target with the fixed semantics, retry a busy delete (capped exponential backoff with jitter) this long")
	f.BoolVar(&o.dryRun, "dry-run", false, "say what would be done; change nothing")
	f.BoolVar(&o.allowExported, "allow-exported", false, "delete an lvol exported as an NVMe-oF namespace (a connected host loses the disk)")
	f.BoolVar(&o.json, "json", false, "write a JSON document instead of text")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of each RPC call and disk read")
	f.StringVar(&o.incarnation, "incarnation", "", "target incarnation id (default: the socket peer's pid and start time)")
	f.StringVar(&o.tmpDir, "tmpdir", "", "where gzip images given with --device are decompressed (default: $TMPDIR)")
	f.DurationVar(&o.backoffInitial, "backoff-initial", 0, "first retry delay of a busy delete (default 200ms)")
	_ = f.MarkHidden("backoff-initial")
}

// openSession starts a run that writes: a context ended by SIGINT or
// SIGTERM, then the journal (a second delete or repair on it fails at
// once, naming the directory), then the session on the target. closeAll
// releases all three.
func openSession(cmd *cobra.Command, g *globalOpts, o *writeOpts) (ctx context.Context, s *run.Session, closeAll func(), err error) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	j, err := run.OpenJournal(ctx, *o.stateDir, run.JournalUse{Command: o.command, Wait: *o.waitLock}, g.log, os.Stderr)
	if err != nil {
		stop()
		return nil, nil, nil, exitOf(err)
	}
	s, err = run.OpenSession(ctx, run.SessionConfig{
		Socket: o.socket, Devices: o.devices, Incarnation: o.incarnation, Timeout: o.timeout, TmpDir: o.tmpDir,
		BackoffInitial: o.backoffInitial, Journal: j, Log: g.log,
	})
	if err != nil {
		run.CloseJournal(j, g.log)
		stop()
		return nil, nil, nil, exitOf(err)
	}
	return ctx, s, func() { s.Close(); run.CloseJournal(j, g.log); stop() }, nil
}

type deleteOpts struct {
	writeOpts
	lvstore string
}

func newDeleteCmd(g *globalOpts) *cobra.Command {
	o := &deleteOpts{}
	cmd := &cobra.Command{
		Use:   "delete LVOL...",
		Short: "delete lvols with non-forced semantics, verified on disk",
		Long: `delete removes each LVOL (alias lvstore/name, uuid, or name with --lvstore)
through spdk_tgt, and never reports a deletion that did not happen:

  1. the intent is recorded in the journal (--state-dir) before anything is sent;
  2. preflight over RPC: a snapshot with more than one clone, a claimed bdev,
     or an lvol exported as an NVMe-oF namespace (unless --allow-exported) is
     refused, nothing changed;
  3. where the target offers bdev_lvol_stop_snapshot_checksum, a running
     checksum of a snapshot is stopped first;
  4. bdev_lvol_delete; a success is verified: gone from the live view and its
     metadata pages gone from the device;
  5. on a busy answer lvfsck looks at once: still listed means the target has
     the fix (retried until --wait runs out); gone from the view with its blob
     still on disk is a FORCED REMOVAL: the target dropped it from memory
     only, it comes back at the next restart or lvstore reload, and
     ` + "`lvfsck repair`" + ` finishes it after the restart.

Deletes that an earlier run left unfinished (killed mid-way) are verified
and recorded first.

Exit: 0 deleted and verified (or a dry run that would go ahead); 4 refused,
busy after --wait, or forced removal; 8 operational (target or device
unreachable, journal locked, not found, not verifiable); 16 usage; 32
cancelled. Several LVOLs OR their codes.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runDelete(cmd, g, o, args) },
	}
	addWriteFlags(cmd, &o.writeOpts)
	cmd.Flags().StringVar(&o.lvstore, "lvstore", "", "lvstore (name or uuid) of LVOLs given by bare name")
	return cmd
}

func runDelete(cmd *cobra.Command, g *globalOpts, o *deleteOpts, args []string) error {
	refs, err := run.ParseRefs(args, o.lvstore)
	if err != nil {
		return exitOf(err)
	}
	if o.wait < 0 {
		return usageError("--wait must not be negative")
	}
	out := cmd.OutOrStdout()
	ctx, s, closeAll, err := openSession(cmd, g, &o.writeOpts)
	if err != nil {
		return err
	}
	defer closeAll()
	dr, err := run.StartDelete(s, run.DeleteOptions{Socket: o.socket, Refs: refs, DryRun: o.dryRun, Wait: o.wait,
		AllowExported: o.allowExported, Log: g.log})
	if err != nil {
		return exitOf(err)
	}
	doc := dr.Delete(ctx)
	code := doc.Exit
	defer func() {
		if ferr := dr.Finish(code); ferr != nil {
			g.log.Error().Err(ferr).Msg("journal: finish run")
		}
	}()
	if werr := report.WriteDelete(out, doc, o.json); werr != nil {
		code |= report.ExitOperational
		return exitCode(code, fmt.Errorf("write report: %w", werr))
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}
