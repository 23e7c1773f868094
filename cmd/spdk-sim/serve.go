package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/sim"
)

type simServeOpts struct {
	socket     string
	image      string
	size       string
	bdev       string
	semantics  string
	opDuration time.Duration
	flavor     string
	failOpen   []string
	logFile    string
	stallCopy  bool
}

func newServeCmd(g *globalOpts) *cobra.Command {
	o := &simServeOpts{}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "serve spdk_tgt's JSON-RPC on a unix socket over a blobstore image",
		Long: `serve answers spdk_tgt's lvol, bdev and notify methods on a unix socket, with
--image as its AIO base bdev (created with --size when absent; any lvstore on
it is loaded at start, in recovery mode when it was not shut down cleanly).

A snapshot checksum or shallow copy holds its blob open for --op-duration; a
bdev_lvol_delete meanwhile answers busy and, under --delete-semantics forced
(SPDK up to v24.09), drops the lvol from the live view while its blob stays on
disk: a restart on the same image brings it back. Under fixed (Longhorn's fix,
as the real fixed target behaves) the lvol is hidden just the same but stays in
the lvstore's list: retries answer "Invalid argument", and a clean shutdown or
a reload never finishes until the process is killed (SIGKILL: the image stays
dirty). keep-listed is hypothetical (no captured target does it): busy, and the
lvol stays listed.

SIGINT/SIGTERM (or spdk_kill_instance SIGINT) shut down cleanly (masks and
clean=1 written); spdk_kill_instance SIGKILL kills the process, leaving the
image dirty. The sim-only method sim_lvol_write {name, offset, length}
allocates the clusters a write of that range would.

It also answers NVMe-oF subsystem methods (an exported lvol is claimed
exclusive_write), bdev_get_iostat (the base bdev reads while a checksum or
copy runs; --stall-copy makes copies hold their snapshot with no I/O), and
bdev_aio_delete/bdev_aio_create (an lvstore reload; while a blob is held
the delete never answers and the target cannot shut down until killed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimServe(cmd, g, o) },
	}
	f := serve.Flags()
	f.StringVar(&o.socket, "socket", "/var/tmp/spdk.sock", "unix socket to listen on")
	f.StringVar(&o.image, "image", "", "base bdev image file (required)")
	f.StringVar(&o.size, "size", "", "size of the image to create when absent (bytes, or with K/M/G/T suffix)")
	f.StringVar(&o.bdev, "bdev", sim.DefaultBdevName, "name of the image's AIO bdev")
	f.StringVar(&o.semantics, "delete-semantics", sim.DeleteForced, "delete of a busy lvol: forced (SPDK <= v24.09), fixed (Longhorn's fix, as captured) or keep-listed (hypothetical)")
	f.DurationVar(&o.opDuration, "op-duration", sim.DefaultOpDuration, "how long a checksum or shallow copy holds its blob")
	f.StringVar(&o.flavor, "flavor", sim.FlavorLonghornV2409, "methods offered: longhorn-v24.09, longhorn or upstream")
	f.StringArrayVar(&o.failOpen, "fail-open", nil, "lvol uuid that fails to open at load (repeatable)")
	f.StringVar(&o.logFile, "log-file", "", "write the spdk_tgt-format log here instead of stderr")
	f.BoolVar(&o.stallCopy, "stall-copy", false, "shallow copies stall on their destination: they hold the snapshot open for --op-duration with the base bdev's iostat flat")
	_ = serve.MarkFlagRequired("image")
	return serve
}

// parseSize reads a byte count with an optional binary K/M/G/T suffix.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	u := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B"))
	if u == "" {
		return 0, fmt.Errorf("size %q", s)
	}
	switch u[len(u)-1] {
	case 'K':
		mult = 1 << 10
	case 'M':
		mult = 1 << 20
	case 'G':
		mult = 1 << 30
	case 'T':
		mult = 1 << 40
	}
	if mult > 1 {
		u = u[:len(u)-1]
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("size %q: want a positive byte count", s)
	}
	return n * mult, nil
}

func runSimServe(cmd *cobra.Command, g *globalOpts, o *simServeOpts) error {
	size, err := parseSize(o.size)
	if err != nil {
		return usageError("--size: %v", err)
	}
	if o.opDuration <= 0 {
		return usageError("--op-duration must be positive")
	}
	var logw io.Writer = cmd.ErrOrStderr()
	if o.logFile != "" {
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return exitCode(report.ExitOperational, fmt.Errorf("log file: %w", err))
		}
		defer f.Close()
		logw = f
	}
	cfg := sim.Config{
		Image:           o.image,
		Size:            size,
		BdevName:        o.bdev,
		DeleteSemantics: o.semantics,
		OpDuration:      o.opDuration,
		Flavor:          o.flavor,
		FailOpen:        o.failOpen,
		StallCopy:       o.stallCopy,
		Log:             logw,
		// spdk_kill_instance SIGKILL: the process dies as spdk_tgt does.
		OnKill: func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) },
	}
	switch o.semantics {
	case sim.DeleteForced, sim.DeleteFixed, sim.DeleteKeepListed:
	default:
		return usageError("--delete-semantics %q: want forced, fixed or keep-listed", o.semantics)
	}
	switch o.flavor {
	case sim.FlavorLonghornV2409, sim.FlavorLonghorn, sim.FlavorUpstream:
	default:
		return usageError("--flavor %q: want longhorn-v24.09, longhorn or upstream", o.flavor)
	}
	tgt, err := sim.New(cfg)
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g.log.Info().Str("socket", o.socket).Str("image", o.image).Str("flavor", o.flavor).
		Str("delete_semantics", o.semantics).Msg("sim serving")
	if err := tgt.Serve(ctx, o.socket); err != nil {
		_ = tgt.Shutdown()
		return exitCode(report.ExitOperational, err)
	}
	// Serve returns once the target stopped; make sure the unload is done.
	if err := tgt.Shutdown(); err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("shutdown: %w", err))
	}
	return nil
}
