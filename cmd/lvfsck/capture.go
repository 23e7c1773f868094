package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/bundle"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
)

type captureOpts struct {
	socket    string
	devices   []string
	out       string
	log       string
	obfuscate bool
	stateDir  *string
	noJournal bool
	timeout   time.Duration
	tmpDir    string
}

func newCaptureCmd(g *globalOpts) *cobra.Command {
	o := &captureOpts{}
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "write a support bundle: metadata-only images, the target's answers, history (read-only)",
		Long: `capture writes one tar.gz with what an offline check needs: a metadata-only
image of each lvstore's base device (super block, masks and md region; data
clusters are holes), spdk_tgt's answers (bdev_lvol_get_lvstores,
bdev_lvol_get_lvols, bdev_get_bdevs, notify_get_notifications,
rpc_get_methods, spdk_get_version), the target's incarnation, the journal's
history of those lvstores and, with --log, the target's log; and a manifest
with every entry's sha256.

  lvfsck capture --socket /var/tmp/spdk.sock --out bundle.tar.gz
  lvfsck check --bundle bundle.tar.gz        # anywhere, no target needed

Devices are read with O_DIRECT, never written; a device held by a live aio
target is fine. --obfuscate replaces lvol and lvstore names and user xattr
values with same-length tokens (consistently across the image and the
answers; uuids kept); the manifest says what is hidden and what is kept.

Exit: 0 written, 8 operational error (nothing is left at --out), 16 usage,
32 cancelled.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCapture(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", run.DefaultSocket, "spdk_tgt's JSON-RPC unix socket")
	f.StringArrayVar(&o.devices, "device", nil, "base device or image of an lvstore (repeatable; default: found from bdev_get_bdevs)")
	f.StringVar(&o.out, "out", "lvfsck-bundle.tar.gz", "where the bundle is written")
	f.StringVar(&o.log, "log", "", "spdk_tgt's log file, to include (its last 64 MiB)")
	f.BoolVar(&o.obfuscate, "obfuscate", false, "replace lvol and lvstore names and user xattr values by tokens")
	o.stateDir = addStateDirFlag(cmd)
	f.BoolVar(&o.noJournal, "no-journal", false, "do not include the journal's history")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "deadline of each RPC call")
	f.StringVar(&o.tmpDir, "tmpdir", "", "where gzip device images are decompressed (default: $TMPDIR)")
	return cmd
}

func runCapture(cmd *cobra.Command, g *globalOpts, o *captureOpts) error {
	flags := cmd.Flags()
	// --device alone captures images only; with --socket too, the answers
	// come along and the devices given replace the discovered ones.
	useSocket := flags.Changed("socket") || len(o.devices) == 0
	if o.out == "" {
		return usageError("--out: empty")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stderr := cmd.ErrOrStderr()

	opts := bundle.Options{Devices: o.devices, LogFile: o.log, Obfuscate: o.obfuscate, TmpDir: o.tmpDir, Version: version, Now: time.Now}
	if useSocket {
		c, err := run.Dial(ctx, o.socket, o.timeout)
		if err != nil {
			var f *report.Failure
			if errors.As(err, &f) && f.Code == report.ExitOperational {
				err = report.Fail(f.Code, fmt.Errorf("%w; --device alone captures images only", f.Err))
			}
			return exitOf(err)
		}
		defer c.Close()
		opts.Socket, opts.Client = o.socket, c
	}
	if !o.noJournal {
		evs, err := run.JournalEvents(ctx, *o.stateDir, g.log, os.Stderr)
		if err != nil {
			fmt.Fprintf(stderr, "capture: no journal history in the bundle: %v\n", err)
		} else {
			opts.Events = evs
		}
	}
	opts.Estimate = func(devs []string, n int64) {
		fmt.Fprintf(stderr, "capture: reading about %s of metadata from %d device(s); the bundle is usually far smaller\n", humanBytes(n), len(devs))
	}
	if useColor(stderr, false) {
		last := time.Now()
		opts.Progress = func(read, total int64) {
			if time.Since(last) > 200*time.Millisecond || read == total {
				last = time.Now()
				fmt.Fprintf(stderr, "\rcapture: %s / %s", humanBytes(read), humanBytes(total))
				if read == total {
					fmt.Fprintln(stderr)
				}
			}
		}
	}

	// Written beside its final name and renamed at the end: a failed or
	// interrupted capture leaves no bundle that looks whole.
	dir := filepath.Dir(o.out)
	tmp, err := os.CreateTemp(dir, ".lvfsck-bundle-*.tmp")
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("--out: %w", err))
	}
	defer os.Remove(tmp.Name())
	start := time.Now()
	res, err := bundle.Capture(ctx, tmp, opts)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return exitCode(report.ExitCancelled, fmt.Errorf("capture cancelled: %w", err))
		}
		return exitCode(report.ExitOperational, err)
	}
	if err := os.Rename(tmp.Name(), o.out); err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("--out: %w", err))
	}
	fi, err := os.Stat(o.out)
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%d image(s), %s of metadata stored, %d answers) in %s\n",
		o.out, humanBytes(fi.Size()), len(res.Manifest.Images), humanBytes(res.Stored), len(res.Manifest.RPC), time.Since(start).Round(time.Millisecond))
	for _, e := range res.Manifest.Errors {
		fmt.Fprintf(stderr, "capture: not captured: %s\n", e)
	}
	return nil
}

// journalEvents reads the journal's whole timeline, when there is a
// journal: a missing state directory is no journal, not an error.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
