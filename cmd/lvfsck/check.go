package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/history"
	"github.com/lvfsck/lvfsck/owner"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/scanner"
)

type checkOpts struct {
	socket      string
	devices     []string
	images      []string
	bundle      string
	owner       string
	target      string // what the report names an offline check's target
	files       collect.Files
	stateDir    *string
	waitLock    *time.Duration
	noRecord    bool
	noJournal   bool
	incarnation string
	keep        string
	json        bool
	prom        string
	mode        string
	tmpDir      string
	timeout     time.Duration
	deadline    time.Duration
	noColor     bool
	targetPID   int
	targetProc  string
	npd         time.Duration
	now         func() time.Time // tests pin the clock
}

func newCheckCmd(g *globalOpts) *cobra.Command {
	o := &checkOpts{now: time.Now}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "compare the persisted lvstores, spdk_tgt's live view and the journal (read-only)",
		Long: `check asks spdk_tgt (over --socket) which lvstores and lvols it holds, reads
each lvstore's base device (--device, or the AIO bdev's file that
bdev_get_bdevs names) as SPDK would load it after a restart, remembers what
it saw in the journal (--state-dir), and reports what does not add up:

  pending resurrection  an lvol the target dropped (a forced removal) whose
                        blob is still on disk: it comes back at the next start
  resurrected           an lvol whose deletion was recorded earlier is back
  not opened at load    on disk, never given a bdev in this target run
  name collision        a dropped lvol and a live one share a name
  phantom, attribute mismatches, lvstores in one view only, and every
  integrity finding of ` + "`lvfsck scan`" + `.

Offline forensics: --lvstores-json and --lvols-json (and optionally
--bdevs-json, --notify-json) with --image run the same comparison on
captured RPC answers and an image, with no target; the journal is used only
when --state-dir (or $LVFSCK_STATE_DIR) is given, and only read with
--no-record or when its directory cannot be written (a support bundle's).

Devices are read in recovery mode by default beside a live target (what
would load if it restarted now), in auto mode offline.

Exit: 0 consistent, 4 errors found, 8 operational error (target unreachable,
device unreadable, journal locked, no result within --deadline; ORed with
4 when findings were made anyway), 16 usage, 32 cancelled.

--deadline (default 4m, below a 5-minute cron interval) bounds the whole
run, so that a target that accepts and never answers cannot stack cron runs;
--timeout bounds each RPC call.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", run.DefaultSocket, "spdk_tgt's JSON-RPC unix socket")
	f.StringArrayVar(&o.devices, "device", nil, "base device or image of an lvstore (repeatable; default: found from bdev_get_bdevs)")
	f.StringArrayVar(&o.images, "image", nil, "image file (gzip allowed) for an offline check (repeatable)")
	f.StringVar(&o.owner, "owner", "", "only the lvols of one control plane: "+strings.Join(owner.Systems, ", "))
	f.StringVar(&o.bundle, "bundle", "", "a bundle of `lvfsck capture`, for an offline check (no target needed)")
	f.StringVar(&o.files.Lvstores, "lvstores-json", "", "captured bdev_lvol_get_lvstores answer (offline)")
	f.StringVar(&o.files.Lvols, "lvols-json", "", "captured bdev_lvol_get_lvols answer (offline)")
	f.StringVar(&o.files.Bdevs, "bdevs-json", "", "captured bdev_get_bdevs answer (offline, optional)")
	f.StringVar(&o.files.Notify, "notify-json", "", "captured notify_get_notifications answer (offline, optional)")
	o.stateDir = addStateDirFlag(cmd)
	f.BoolVar(&o.noJournal, "no-journal", false, "do not open the journal (no history, nothing recorded)")
	f.BoolVar(&o.noRecord, "no-record", false, "offline: read the journal's history, record nothing (opens it read-only: a journal from a support bundle)")
	o.waitLock = addWaitLockFlag(cmd, 0)
	f.StringVar(&o.incarnation, "incarnation", "", "target incarnation id (default: the socket peer's pid and start time)")
	f.StringVar(&o.keep, "keep", "90d", "journal retention: history older than this is pruned after the run")
	f.BoolVar(&o.json, "json", false, "write the "+report.Schema+" JSON document instead of the human report")
	f.StringVar(&o.prom, "prom", "", "also write a Prometheus textfile (node_exporter textfile collector) here")
	f.StringVar(&o.mode, "mode", "", "device read mode: auto, clean or recovery (default: recovery live, auto offline)")
	f.StringVar(&o.tmpDir, "tmpdir", "", "where gzip images are decompressed (default: $TMPDIR)")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "deadline of each RPC call")
	f.DurationVar(&o.deadline, "deadline", defaultCheckDeadline, "deadline of the whole run: past it the run ends, exit 8")
	f.BoolVar(&o.noColor, "no-color", false, "no ANSI colors in the human report")
	f.IntVar(&o.targetPID, "target-pid", 0, "the target's pid, in another container: its --socket and AIO files are reached through /proc/PID/root")
	f.StringVar(&o.targetProc, "target-process", "", targetProcessHelp)
	f.DurationVar(&o.npd, "npd", 0, "node-problem-detector plugin: judge the journal's last completed check if younger than this (e.g. 3h), no check run; one line, exit 0 ok, 1 problem, 2 unknown")
	return cmd
}

// defaultCheckDeadline fits a check run from cron every 5 minutes.
const defaultCheckDeadline = 4 * time.Minute

func runCheck(cmd *cobra.Command, g *globalOpts, o *checkOpts) (err error) {
	if o.npd > 0 {
		return runNPD(cmd, g, o)
	}
	flags := cmd.Flags()
	started := o.now()
	// Whatever ends the run before the check could (bad flags, a journal
	// locked or damaged), machines still get what they read: --prom is
	// rewritten, so monitoring sees a failure rather than the last good
	// run's file, and --json prints an "incomplete" document. Once
	// run.Check returns, the paths below write both.
	reported := false
	defer func() {
		if reported {
			return
		}
		code := finalCode(report.ExitOK, err)
		s := report.FailedSummary("check", version, started, o.now(), code, err)
		if o.json && code != report.ExitUsage {
			if werr := report.WriteJSON(cmd.OutOrStdout(), s); werr != nil {
				g.log.Error().Err(werr).Msg("write report")
			}
		}
		if o.prom != "" {
			if perr := report.WritePromFile(o.prom, s, report.PromLastSuccess(o.prom)); perr != nil {
				g.log.Error().Err(perr).Msg("--prom")
			}
		}
	}()
	if o.owner != "" && !owner.Valid(o.owner) {
		return usageError("--owner %q: want one of %s", o.owner, strings.Join(owner.Systems, ", "))
	}
	if o.bundle != "" {
		b, err := openBundle(cmd, o)
		if err != nil {
			return err
		}
		defer b.Close()
	}
	cfg := run.CheckConfig{
		Socket: o.socket, Files: o.files, Images: o.images, Devices: o.devices, Incarnation: o.incarnation,
		TmpDir: o.tmpDir, Timeout: o.timeout, Owner: o.owner, Target: o.target, Version: version, Now: o.now, Log: g.log, Progress: cmd.ErrOrStderr(),
	}
	offline := cfg.Offline()
	switch {
	case offline && flags.Changed("socket"):
		return usageError("--socket and captured answers (--lvstores-json, --lvols-json...) exclude each other")
	case offline && (o.files.Lvstores == "" || o.files.Lvols == ""):
		return usageError("an offline check needs both --lvstores-json and --lvols-json")
	case !offline && o.noRecord:
		return usageError("--no-record is for an offline check; beside a live target the journal records what it sees (--no-journal to use none)")
	case !offline && len(o.images) > 0:
		return usageError("--image is for an offline check (with --lvstores-json and --lvols-json); beside a live target use --device")
	}
	if o.targetPID, err = resolveTargetProcess(cmd, o.targetProc, o.targetPID); err != nil {
		return err
	}
	if o.targetPID != 0 {
		if offline || o.targetPID < 0 {
			return usageError("--target-pid: a positive pid, beside a live target")
		}
		cfg.Socket, cfg.TargetPID = run.SocketThroughProc(o.targetPID, o.socket), o.targetPID
	}
	cfg.Mode = scanner.Mode(o.mode)
	switch cfg.Mode {
	case "":
		cfg.Mode = scanner.ModeRecovery
		if offline {
			cfg.Mode = scanner.ModeAuto
		}
	case scanner.ModeAuto, scanner.ModeClean, scanner.ModeRecovery:
	default:
		return usageError("--mode %q: want auto, clean or recovery", o.mode)
	}
	cfg.Keep, err = history.ParseSince(o.keep)
	if err != nil || cfg.Keep <= 0 {
		return usageError("--keep %q: want a positive duration such as 90d or 720h", o.keep)
	}
	if len(o.incarnation) > 256 {
		return usageError("--incarnation: over 256 bytes")
	}
	// The journal is the default beside a live target; offline it is used
	// only when asked for, so a laptop checking a bundle needs no /var/lib.
	useJournal := !o.noJournal && (!offline || flags.Changed("state-dir") || os.Getenv(run.StateDirEnv) != "")

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The deadline cancels rather than sets a context deadline: the RPC
	// client applies --timeout only to calls whose context has none.
	ctx, cancel := context.WithCancelCause(ctx)
	errDeadline := fmt.Errorf("no result within --deadline %s (a target that does not answer?)", o.deadline)
	timer := time.AfterFunc(o.deadline, func() { cancel(errDeadline) })
	defer timer.Stop()
	defer cancel(nil)
	out := cmd.OutOrStdout()

	// The journal first: a locked one fails before anything else is done,
	// and a failed run can still report the last success.
	if useJournal {
		// Offline, a journal whose directory cannot be written (a support
		// bundle's) is read without recording this run.
		j, err := run.OpenJournal(ctx, *o.stateDir, run.JournalUse{Command: "check", Wait: *o.waitLock,
			ReadOnly: offline && o.noRecord, ReadOnlyIfUnwritable: offline}, g.log, os.Stderr)
		if err != nil {
			return exitOf(err)
		}
		cfg.Journal = j
		defer run.CloseJournal(j, g.log)
	}

	res, err := run.Check(ctx, cfg)
	reported = true
	if err != nil && errors.Is(context.Cause(ctx), errDeadline) {
		// Out of time is an operational failure, not an operator's ^C.
		res.Summary.Exit = report.ExitOperational
		res.Summary.Notes = append(res.Summary.Notes, errDeadline.Error())
		err = report.Fail(report.ExitOperational, errDeadline)
	}
	code := res.Summary.Exit
	// Whatever happens from here, the run is closed in the journal.
	defer func() { res.Finish(finalCode(code, err)) }()
	s := res.Summary
	var cerr *report.Failure
	if errors.As(err, &cerr) {
		// Machines still get what they read — the JSON document and the
		// Prometheus file, with status "incomplete" and the last success —
		// so monitoring sees the failure.
		if o.json {
			if werr := report.WriteJSON(out, s); werr != nil {
				g.log.Error().Err(werr).Msg("write report")
			}
		}
		if o.prom != "" {
			last := res.LastSuccess()
			if prev := report.PromLastSuccess(o.prom); prev.After(last) {
				last = prev // without a journal, the file remembers
			}
			if perr := report.WritePromFile(o.prom, s, last); perr != nil {
				g.log.Error().Err(perr).Msg("--prom")
			}
		}
		return exitCode(cerr.Code, cerr.Err)
	}

	if o.json {
		err = report.WriteJSON(out, s)
	} else {
		err = report.WriteText(out, s, report.TextOptions{Color: useColor(out, o.noColor)})
	}
	if err != nil {
		code |= report.ExitOperational
		return exitCode(code, fmt.Errorf("write report: %w", err))
	}
	if o.prom != "" {
		if perr := report.WritePromFile(o.prom, s, res.LastSuccess()); perr != nil {
			code |= report.ExitOperational
			return exitCode(code, fmt.Errorf("--prom: %w", perr))
		}
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}

// runNPD answers node-problem-detector from the journal only (read-only, no
// device read), so it fits NPD's 5 s plugin timeout on any store.
func runNPD(cmd *cobra.Command, g *globalOpts, o *checkOpts) error {
	code, line := run.NPDUnknown, ""
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	j, err := run.OpenJournal(ctx, *o.stateDir, run.JournalUse{Command: "check --npd", ReadOnly: true, Wait: 2 * time.Second}, g.log, os.Stderr)
	if err != nil {
		line = run.NPDLine("lvfsck: journal: %v", err)
	} else {
		code, line = run.NPD(j, o.now(), o.npd)
		run.CloseJournal(j, g.log)
	}
	fmt.Fprintln(cmd.OutOrStdout(), line)
	if code != run.NPDOK {
		return exitCode(code, nil)
	}
	return nil
}
