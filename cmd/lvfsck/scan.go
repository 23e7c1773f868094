package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
)

// ScanSchema names the JSON document of `lvfsck scan --json`.
const ScanSchema = report.ScanSchema

type scanOpts struct {
	mode    string
	json    bool
	tmpDir  string
	noColor bool
	// bundle, bundleImage: scan one image of a capture bundle.
	bundle      string
	bundleImage int
}

func newScanCmd(g *globalOpts) *cobra.Command {
	o := &scanOpts{}
	cmd := &cobra.Command{
		Use:   "scan PATH",
		Short: "decode and check the lvstore persisted on a device or image (read-only)",
		Long: `scan reads the SPDK blobstore on PATH (a block device, an image file, or a
gzip-compressed image) without SPDK, decodes every blob's metadata, and
checks it like fsck checks a file system. Every finding says what spdk_tgt
will do at its next load: load, load degraded, skip the lvol, refuse the
lvstore, or crash.

Mode "auto" follows the super block: a clean store is read through its
masks, as SPDK's clean load does; a dirty one (clean=0, e.g. held by a
running spdk_tgt) is walked page by page, as SPDK's recovery does — what
would load if the target restarted now.

Exit: 0 clean, 4 findings of error severity or worse, 8 cannot read, 16 usage.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.bundle != "" {
				return runScanBundle(cmd, g, o, args)
			}
			if len(args) != 1 {
				return usageError("scan needs a PATH (or --bundle)")
			}
			return runScan(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", "auto", "auto, clean or recovery")
	f.StringVar(&o.bundle, "bundle", "", "scan an image of a bundle of `lvfsck capture` instead of PATH")
	f.IntVar(&o.bundleImage, "bundle-image", 0, "which image of --bundle (the manifest's index)")
	f.BoolVar(&o.json, "json", false, "write the "+ScanSchema+" JSON document instead of the human report")
	f.StringVar(&o.tmpDir, "tmpdir", "", "where a gzip image is decompressed (default: $TMPDIR)")
	f.BoolVar(&o.noColor, "no-color", false, "no ANSI colors in the human report")
	return cmd
}

func runScan(cmd *cobra.Command, g *globalOpts, o *scanOpts, path string) error {
	mode := scanner.Mode(o.mode)
	switch mode {
	case scanner.ModeAuto, scanner.ModeClean, scanner.ModeRecovery:
	default:
		return usageError("--mode %q: want auto, clean or recovery", o.mode)
	}
	// cobra gives every command a context; ^C cancels the scan (exit 32)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := scanner.Options{Mode: mode}
	bar := report.NewProgressBar(cmd.ErrOrStderr())
	if bar != nil {
		opts.Progress = bar.Update
	}
	v, err := scanner.ScanPath(ctx, path, opts, o.tmpDir)
	if bar != nil {
		bar.Done()
	}
	if err != nil {
		code := report.ExitOperational
		if ctx.Err() != nil {
			code = report.ExitCancelled
		}
		err = fmt.Errorf("scan %s: %w", path, err)
		if o.json {
			// Machines still get a document, as from check: the exit code
			// and the error.
			if werr := report.WriteScanJSONFailed(cmd.OutOrStdout(), path, code, version, err); werr != nil {
				g.log.Error().Err(werr).Msg("write json")
			}
		}
		return exitCode(code, err)
	}
	if v.Buffered {
		g.log.Warn().Str("device", path).Msg("O_DIRECT refused by the file system: read buffered, may see stale page-cache data of a running target")
	}
	g.log.Info().Str("device", path).Str("mode", string(v.Mode)).Int("blobs", len(v.Blobs)).
		Int("findings", len(v.Findings)).Dur("took", v.Stats.Duration).Msg("scan done")
	code := report.ExitFor(v.Findings)
	out := cmd.OutOrStdout()
	if o.json {
		err = report.WriteScanJSON(out, v, code, version)
	} else {
		err = report.WriteScanText(out, v, code, version, report.TextOptions{Color: useColor(out, o.noColor)})
	}
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}

// useColor: ANSI colors on a terminal, unless --no-color or $NO_COLOR.
func useColor(out io.Writer, noColor bool) bool {
	return !noColor && os.Getenv("NO_COLOR") == "" && report.IsTerminal(out)
}
