package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/history"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/watch"
)

type watchOpts struct {
	socket     string
	stateDir   *string
	listen     string
	fullEvery  time.Duration
	poll       time.Duration
	timeout    time.Duration
	keep       string
	tmpDir     string
	rescan     time.Duration
	targetPID  int
	targetProc string
}

func newWatchCmd(g *globalOpts) *cobra.Command {
	o := &watchOpts{}
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "run beside spdk_tgt: follow its notify events, catch forced removals at once, check on a schedule",
		Long: `watch stays beside one target (--socket). It follows notify_get_notifications,
journals every lvol bdev_register/bdev_unregister with the target's
incarnation (so a later check knows lvols it never listed itself), and on an
unregister re-reads the lvol's first md page: still valid and the lvol not
listed is a pending resurrection, reported within a second, without a full
scan. A full check runs at start, after every target restart and every
--full-every. Each finding is logged once. --listen serves /metrics and
/healthz.

The journal is held only while the watch writes to it (and two seconds
after), so check, delete, repair and history run beside it.

It runs until SIGTERM or SIGINT (ends within a second, journal closed). A
target that is down, a socket that is gone or a device that is missing is
logged and counted (lvfsck_watch_target_up, lvfsck_watch_errors_total); the
watch carries on and recovers when they return. With --target-process the
watch exits 8 when that process ends: the restarted target is a new pid,
which the next run (a DaemonSet's restarted container) finds by name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWatch(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", run.DefaultSocket, "spdk_tgt's JSON-RPC unix socket")
	o.stateDir = addStateDirFlag(cmd)
	f.StringVar(&o.listen, "listen", "", "serve /metrics and /healthz on this address (e.g. :9643); none when empty")
	f.DurationVar(&o.fullEvery, "full-every", time.Hour, "period of the scheduled full check")
	f.DurationVar(&o.poll, "poll", 100*time.Millisecond, "notify ring poll interval (SPDK keeps 1024 events)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of each RPC call")
	f.StringVar(&o.keep, "keep", "90d", "journal retention, applied after each full check")
	f.StringVar(&o.tmpDir, "tmpdir", "", "temporary directory (default: $TMPDIR)")
	f.IntVar(&o.targetPID, "target-pid", 0, "the target's pid, in another container: its --socket and AIO files are reached through /proc/PID/root; watch keeps that pid: once it ends, errors are logged and counted until stopped")
	f.StringVar(&o.targetProc, "target-process", "", targetProcessHelp+"; when that process ends, watch exits 8 (a DaemonSet restarts it and it finds the new one)")
	f.DurationVar(&o.rescan, "rescan-after", 2*time.Second, "full check this long after lvols unknown to the last one register")
	_ = f.MarkHidden("rescan-after") // for tests: a lvol never seen by a full check
	return cmd
}

func runWatch(cmd *cobra.Command, g *globalOpts, o *watchOpts) (rerr error) {
	if o.fullEvery <= 0 || o.poll <= 0 {
		return usageError("--full-every and --poll must be positive")
	}
	if o.poll > 5*time.Second {
		return usageError("--poll %s: over 5s the notify ring (1024 events) may wrap between polls", o.poll)
	}
	if o.targetPID < 0 {
		return usageError("--target-pid: a positive pid")
	}
	byName := cmd.Flags().Changed("target-process")
	var err error
	if o.targetPID, err = resolveTargetProcess(cmd, o.targetProc, o.targetPID); err != nil {
		return err
	}
	socket := o.socket
	if o.targetPID > 0 {
		socket = run.SocketThroughProc(o.targetPID, o.socket)
	}
	keep, err := history.ParseSince(o.keep)
	if err != nil || keep <= 0 {
		return usageError("--keep %q: want a positive duration such as 90d or 720h", o.keep)
	}
	lg := g.log
	if !cmd.Root().PersistentFlags().Changed("log-level") {
		lg = lg.Level(zerolog.InfoLevel) // a daemon says what it does
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if byName {
		// The pid (and the socket path through /proc/PID/root) is fixed for
		// this run: a restarted target is a new process, found by a new run.
		var ended func() bool
		ctx, ended = run.CancelWhenGone(ctx, o.targetPID)
		defer func() {
			if ended() && rerr == nil {
				lg.Error().Str("process", o.targetProc).Int("pid", o.targetPID).Msg("target process ended: exiting so that a restart finds the new one")
				rerr = exitCode(report.ExitOperational, fmt.Errorf("target process %s (pid %d) ended", o.targetProc, o.targetPID))
			}
		}()
	}

	// The journal is opened now, so that a locked or damaged one fails the
	// start; then the watch holds it only while it writes.
	open := run.JournalOpener(*o.stateDir, run.JournalUse{Command: "watch", Wait: time.Minute}, g.log, os.Stderr)
	j, err := run.OpenJournal(ctx, *o.stateDir, run.JournalUse{Command: "watch"}, g.log, os.Stderr)
	if err != nil {
		return exitOf(err)
	}
	run.CloseJournal(j, g.log)

	m := watch.NewMetrics()
	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			return exitCode(report.ExitOperational, err)
		}
		srv := &http.Server{Handler: m.Handler(30 * time.Second), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				lg.Error().Err(err).Msg("metrics server")
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		lg.Info().Str("listen", ln.Addr().String()).Msg("serving /metrics and /healthz")
	}

	w := watch.New(watch.Config{
		Socket: socket, Open: open, FullEvery: o.fullEvery, Poll: o.poll, Timeout: o.timeout,
		Rescan: o.rescan, Metrics: m, Log: lg,
		Check: run.CheckConfig{
			Mode: scanner.ModeRecovery, TmpDir: o.tmpDir, Keep: keep, Version: version, Now: time.Now, TargetPID: o.targetPID,
		},
	})
	lg.Info().Str("socket", socket).Str("state_dir", *o.stateDir).Dur("full_every", o.fullEvery).Msg("watching")
	if err := w.Run(ctx); err != nil {
		return exitCode(report.ExitOperational, err)
	}
	lg.Info().Msg("stopped")
	return nil
}
