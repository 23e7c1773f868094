package main

import (
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/prompt"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

type repairOpts struct {
	writeOpts
	yes    bool
	reload bool
	// Hidden knobs of the reload, for tests and for targets slower than
	// the captured one.
	unloadTimeout time.Duration
	ioSample      time.Duration
	ioEvery       time.Duration
}

// stdinIsTerminal tells whether a typed confirmation can be asked for;
// tests replace it.
var stdinIsTerminal = func() bool {
	fd := os.Stdin.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}

func newRepairCmd(g *globalOpts) *cobra.Command {
	o := &repairOpts{}
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "plan and apply the repairs RPC can make (guarded deletes of resurrected lvols)",
		Long: `repair gathers the findings exactly as ` + "`lvfsck check`" + ` does, plans what
JSON-RPC can repair, shows the plan, and applies it only with --yes (or after
typing the lvstore name or "yes" at a terminal prompt):

  finish-intent   an interrupted delete is verified and recorded
  delete          an lvol whose deletion the journal records and that came
                  back after a restart gets a guarded delete, verified on disk
  wait-restart    a pending resurrection (dropped from the target's memory,
                  blob on disk): restart the target, then run repair again
  reload-delete   with --reload, in a maintenance window: remove and re-add
                  the lvstore's AIO base bdev so the lvol loads again, then
                  delete it. Refused while any lvol of the lvstore is claimed
                  or exported over NVMe-oF, or while the base bdev shows I/O
                  the lvols do not explain; a quiet base bdev is not a proof
                  that nothing holds a blob, and an unload that does not
                  answer in time is reported with what to do.

Findings RPC cannot repair (corruption) are listed with advice, never touched.

Exit: 0 nothing to do; 1 errors corrected, none left; 4 errors left (ORed
with 1 when some were corrected; also when the plan was not applied); 8
operational (a wedged reload among them); 16 usage; 32 cancelled at the
prompt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRepair(cmd, g, o) },
	}
	addWriteFlags(cmd, &o.writeOpts)
	f := cmd.Flags()
	f.BoolVar(&o.yes, "yes", false, "apply the plan without asking")
	f.BoolVar(&o.reload, "reload", false, "finish pending resurrections now by reloading their lvstore (maintenance window)")
	f.DurationVar(&o.unloadTimeout, "unload-timeout", 30*time.Second, "deadline of the lvstore unload (bdev_aio_delete) of --reload")
	f.DurationVar(&o.ioSample, "io-sample", 3*time.Second, "how long --reload watches the base bdev's I/O before unloading")
	f.DurationVar(&o.ioEvery, "io-every", 500*time.Millisecond, "bdev_get_iostat interval while sampling")
	for _, h := range []string{"unload-timeout", "io-sample", "io-every"} {
		_ = f.MarkHidden(h)
	}
	return cmd
}

func runRepair(cmd *cobra.Command, g *globalOpts, o *repairOpts) (err error) {
	switch {
	case o.wait < 0:
		return usageError("--wait must not be negative")
	case o.unloadTimeout <= 0 || o.ioSample <= 0 || o.ioEvery <= 0:
		return usageError("--unload-timeout, --io-sample and --io-every must be positive")
	case o.yes && o.dryRun:
		return usageError("--yes and --dry-run exclude each other")
	}
	out := cmd.OutOrStdout()
	ctx, s, closeAll, err := openSession(cmd, g, &o.writeOpts)
	if err != nil {
		return err
	}
	defer closeAll()
	rr, err := run.StartRepair(s, run.RepairOptions{
		Socket: o.socket, Yes: o.yes, DryRun: o.dryRun, Reload: o.reload, Wait: o.wait, AllowExported: o.allowExported,
		UnloadTimeout: o.unloadTimeout, IOSample: o.ioSample, IOEvery: o.ioEvery, RPCTimeout: o.timeout,
	})
	if err != nil {
		return exitOf(err)
	}
	defer func() {
		if ferr := rr.Finish(finalCode(rr.Code, err)); ferr != nil {
			g.log.Error().Err(ferr).Msg("journal: finish run")
		}
	}()
	if err := rr.Prepare(ctx, cmd.ErrOrStderr()); err != nil {
		return exitOf(err)
	}

	if rr.NeedsConfirmation() && !o.json && stdinIsTerminal() {
		// The plan is shown before the prompt, the outcome after it.
		if err := report.WriteRepairPlan(out, rr.Doc); err != nil {
			return exitCode(rr.Code|report.ExitOperational, fmt.Errorf("write report: %w", err))
		}
		ok, perr := prompt.Confirm(ctx, out, cmd.InOrStdin(), rr.Plan)
		if perr != nil || !ok {
			rr.Decline()
			_ = report.WriteRepairOutcome(out, rr.Doc)
			return exitCode(rr.Code, nil)
		}
		rr.Apply(ctx, true)
		err = report.WriteRepairOutcome(out, rr.Doc)
	} else {
		rr.Apply(ctx, o.yes)
		err = report.WriteRepair(out, rr.Doc, o.json)
	}
	code := rr.Code
	if err != nil {
		code |= report.ExitOperational
		return exitCode(code, fmt.Errorf("write report: %w", err))
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}
