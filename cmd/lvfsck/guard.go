package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/guard"
	"github.com/lvfsck/lvfsck/report"
)

type guardOpts struct {
	listen     string
	target     string
	deleteWait time.Duration
	stateDir   *string
	noJournal  bool
	prom       string
	copyPoll   time.Duration
	drain      time.Duration
	inherited  time.Duration
}

func newGuardCmd(g *globalOpts) *cobra.Command {
	o := &guardOpts{}
	cmd := &cobra.Command{
		Use:   "guard --listen SOCKET --target SOCKET",
		Short: "JSON-RPC proxy in front of spdk_tgt that refuses a busy delete before the target can hide the lvol",
		Long: `guard listens on --listen and carries every JSON-RPC call to the spdk_tgt
socket --target, bytes unchanged, one target connection per client
connection. It tracks what holds each lvol: checksum registrations in
flight, running shallow copies (polled by the guard when no client asks),
snapshot, clone, inflate, decouple/set parent and resize in flight.

A bdev_lvol_delete of a held lvol is not forwarded: the guard answers the
target's own busy error (-32603 "Device or resource busy") and the lvol
stays listed and deletable later. With --delete-wait the delete is held
until its holders end (then forwarded; busy if they outlast it).

Refused, delayed and answered deletes go to the journal (--state-dir, opened
only to write, so that check runs beside it) and to the log. Running
checksums and copies are kept in --state-dir/guard-holds.json, so that a
restarted guard (same target run) still knows them. SIGTERM or
SIGINT: stop accepting, finish the calls in flight, exit 0.

The guard cannot see a client that talks to the target's socket directly:
start spdk_tgt with -r on a path only the guard uses.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGuard(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "", "socket the clients dial (the path they know as spdk_tgt's)")
	f.StringVar(&o.target, "target", "", "spdk_tgt's own socket (its -r path)")
	f.DurationVar(&o.deleteWait, "delete-wait", 0, "hold the delete of a held lvol until its holders end, at most this long, then forward it (0: refuse it busy at once)")
	o.stateDir = addStateDirFlag(cmd)
	f.BoolVar(&o.noJournal, "no-journal", false, "record nothing in the journal (logs and metrics only)")
	f.StringVar(&o.prom, "prom", "", "write the guard's counters to this Prometheus textfile every 15s and at exit")
	f.DurationVar(&o.copyPoll, "copy-poll", guard.DefaultCopyPoll, "poll a shallow copy whose status no client read for this long")
	f.DurationVar(&o.inherited, "inherited-hold", guard.DefaultInheritedHold, "a checksum taken over from a previous guard run (no answer will come) counts as running this long from its start")
	f.DurationVar(&o.drain, "drain", guard.DefaultDrain, "at exit, or when a client leaves, wait this long at most for the answers of calls in flight")
	_ = cmd.MarkFlagRequired("listen")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}

func runGuard(cmd *cobra.Command, g *globalOpts, o *guardOpts) error {
	if o.listen == o.target {
		return usageError("--listen and --target must differ")
	}
	if o.deleteWait < 0 {
		return usageError("--delete-wait must not be negative")
	}
	if err := positiveDurations(cmd, "copy-poll", "drain", "inherited-hold"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &guard.Metrics{}
	cfg := guard.Config{Target: o.target, DeleteWait: o.deleteWait, Log: g.log, Metrics: m, CopyPoll: o.copyPoll, Drain: o.drain,
		InheritedHold: o.inherited}
	if err := os.MkdirAll(*o.stateDir, 0o700); err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("--state-dir: %w", err))
	}
	// long holds (checksums, copies) survive a restart of the guard here
	cfg.StateFile = filepath.Join(*o.stateDir, "guard-holds.json")
	if !o.noJournal {
		sink := guard.NewJournalSink(*o.stateDir, g.log, m)
		defer sink.Close()
		cfg.Sink = sink
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	p, err := guard.New(dctx, cfg)
	cancel()
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	ln, err := guard.Listen(o.listen)
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	if o.prom != "" {
		go func() {
			t := time.NewTicker(15 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := m.WritePromFile(o.prom); err != nil {
						g.log.Error().Err(err).Msg("--prom")
					}
				}
			}
		}()
	}
	g.log.Info().Str("listen", o.listen).Str("target", o.target).Dur("delete_wait", o.deleteWait).Msg("guard: serving")
	err = p.Serve(ctx, ln)
	if o.prom != "" {
		if perr := m.WritePromFile(o.prom); perr != nil {
			g.log.Error().Err(perr).Msg("--prom")
		}
	}
	g.log.Info().Int64("deletes_refused", m.DeletesRefused.Load()).Int64("deletes_delayed", m.DeletesDelayed.Load()).
		Int64("deletes_forwarded", m.DeletesForwarded.Load()).Msg("guard: stopped")
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("guard: %w", err))
	}
	return nil
}
