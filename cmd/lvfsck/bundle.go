package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/bundle"
	"github.com/lvfsck/lvfsck/report"
)

// openBundle extracts check's --bundle and points the offline inputs at
// it: the same path as --image and the --*-json flags. The incarnation and
// the read mode default to the bundle's (recovery when it was taken beside
// a live target, as the live check it reproduces).
func openBundle(cmd *cobra.Command, o *checkOpts) (*bundle.Bundle, error) {
	flags := cmd.Flags()
	for _, name := range []string{"socket", "device", "image", "lvstores-json", "lvols-json", "bdevs-json", "notify-json"} {
		if flags.Changed(name) {
			return nil, usageError("--bundle and --%s exclude each other", name)
		}
	}
	b, err := bundle.Open(cmd.Context(), o.bundle, o.tmpDir)
	if err != nil {
		return nil, exitCode(report.ExitOperational, err)
	}
	if b.Files.Lvstores == "" || b.Files.Lvols == "" {
		b.Close()
		return nil, exitCode(report.ExitOperational, fmt.Errorf("%s: %w: it holds no answers of a target (captured with --device only?): `lvfsck scan --bundle` reads its images", o.bundle, bundle.ErrBundle))
	}
	o.files, o.images = b.Files, b.Images
	o.target = "bundle " + o.bundle
	if len(b.Manifest.Images) > 0 {
		o.target += " (" + b.Manifest.Images[0].Device + ")"
	}
	if o.incarnation == "" {
		o.incarnation = b.Manifest.Incarnation
	}
	if o.mode == "" {
		o.mode = b.Manifest.Mode
	}
	return b, nil
}

// runScanBundle scans one image of scan's --bundle.
func runScanBundle(cmd *cobra.Command, g *globalOpts, o *scanOpts, args []string) error {
	if len(args) > 0 {
		return usageError("--bundle and PATH exclude each other")
	}
	b, err := bundle.Open(cmd.Context(), o.bundle, o.tmpDir)
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	defer b.Close()
	if o.bundleImage < 0 || o.bundleImage >= len(b.Images) {
		return usageError("--bundle-image %d: the bundle holds %d image(s)", o.bundleImage, len(b.Images))
	}
	if len(b.Images) > 1 {
		fmt.Fprintf(cmd.ErrOrStderr(), "scan: image %d of %d (%s); --bundle-image chooses\n", o.bundleImage, len(b.Images), b.Manifest.Images[o.bundleImage].Device)
	}
	return runScan(cmd, g, o, b.Images[o.bundleImage])
}
