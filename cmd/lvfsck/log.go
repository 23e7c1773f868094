package main

import (
	"fmt"
	"os"
	"time"
	// --tz must work in the minimal containers spdk_tgt runs in, which
	// often have no zoneinfo.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/tgtlog"
)

type logOpts struct {
	json     bool
	tz       string
	stateDir *string
	waitLock *time.Duration
}

func newLogCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "read spdk_tgt logs",
		Args:  cobra.ArbitraryArgs,
		// Without a known subcommand: a usage error, not help and exit 0.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for \"lvfsck log\"\n%s", args[0], cmd.UsageString())
			}
			return usageError("lvfsck log needs a subcommand\n%s", cmd.UsageString())
		},
	}
	cmd.AddCommand(newLogImportCmd(g), newLogShowCmd(g))
	return cmd
}

type logShowOpts struct {
	json    bool
	context bool
	tz      string
}

func newLogShowCmd(g *globalOpts) *cobra.Command {
	o := &logShowOpts{}
	cmd := &cobra.Command{
		Use:   "show FILE...",
		Short: "print what spdk_tgt logs say, without a journal (offline forensics)",
		Long: `show reads spdk_tgt logs (FILE, or - for stdin; gzip is recognised) and prints
every line it recognises, one a line, with the lvol it concerns and, for a
forced removal, how that lvol was found. Nothing is recorded.

Exit: 0, 8 a file could not be read, 16 usage.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogShow(cmd, g, o, args)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "one JSON object a line (tgtlog records, with a \"file\" field)")
	cmd.Flags().BoolVar(&o.context, "context", false, "also the lines used only to attribute others (lvol closed, ...)")
	cmd.Flags().StringVar(&o.tz, "tz", "UTC", "time zone the log's timestamps were written in (IANA name or Local)")
	return cmd
}

func runLogShow(cmd *cobra.Command, g *globalOpts, o *logShowOpts, files []string) error {
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return usageError("--tz %q: %v", o.tz, err)
	}
	var failed int
	err = run.Show(cmd.OutOrStdout(), cmd.InOrStdin(), files, tgtlog.Options{Location: loc, Context: o.context}, o.json,
		func(name string, err error) {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "lvfsck: %s: %v\n", report.Printable(name), err)
			g.log.Debug().Err(err).Str("file", name).Msg("log show failed")
		})
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("write output: %w", err))
	}
	if failed > 0 {
		return exitCode(report.ExitOperational, fmt.Errorf("log show: %d of %d inputs failed", failed, len(files)))
	}
	return nil
}

func newLogImportCmd(g *globalOpts) *cobra.Command {
	o := &logOpts{}
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "record what spdk_tgt logs say about lvols as evidence in the journal",
		Long: `import reads spdk_tgt logs (FILE, or - for stdin; gzip is recognised) and
records in the journal every line that is evidence about an lvol: forced
removals ("Could not remove blob on lvol gracefully - forced removal", with
the lvol taken from the "Lvol <uuid> closed" line the delete logged just
before), refused deletes, lvols that got no bdev at load ("Error opening
lvol", "Cannot create bdev for lvol", "Bdev name ... already exists"), clones
that lost their parent's name, lvols loaded and deleted. check uses them as
evidence; history shows them.

Importing the same lines again adds nothing. Lines about lvstores or the
target only (unloads, recovery, a target that could not stop) are counted,
not stored: the journal keeps evidence per lvol.

spdk_tgt writes its local time without a zone; --tz says which zone that was
(default UTC).

Exit: 0 imported, 8 a file or the journal could not be read or written, 16 usage.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogImport(cmd, g, o, args)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "write the "+report.LogImportSchema+" JSON document")
	cmd.Flags().StringVar(&o.tz, "tz", "UTC", "time zone the log's timestamps were written in (IANA name or Local)")
	o.stateDir = addStateDirFlag(cmd)
	o.waitLock = addWaitLockFlag(cmd, 0)
	return cmd
}

func runLogImport(cmd *cobra.Command, g *globalOpts, o *logOpts, files []string) error {
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return usageError("--tz %q: %v", o.tz, err)
	}
	stdin := 0
	for _, f := range files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return usageError("- (stdin) given %d times", stdin)
	}
	j, err := run.OpenJournal(cmd.Context(), *o.stateDir, run.JournalUse{Command: "log import", Wait: *o.waitLock}, g.log, os.Stderr)
	if err != nil {
		return exitOf(err)
	}
	defer run.CloseJournal(j, g.log)
	doc := run.ImportAll(cmd.InOrStdin(), files, j, loc, g.log)
	doc.Schema, doc.StateDir = report.LogImportSchema, j.Dir()
	if err := report.WriteLogImport(cmd.OutOrStdout(), doc, o.json); err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("write output: %w", err))
	}
	if doc.Failed() > 0 {
		// Each error is in the output already; the exit code says so.
		return exitCode(report.ExitOperational, fmt.Errorf("log import: %d of %d inputs failed", doc.Failed(), len(files)))
	}
	return nil
}
