package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
)

type globalOpts struct {
	logLevel string
	log      zerolog.Logger
}

var errUsage = errors.New("usage")

func isUsage(err error) bool {
	if errors.Is(err, errUsage) {
		return true
	}
	// cobra's own flag and argument errors are plain errors; recognise them by
	// their wording, which cobra keeps stable.
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "unknown command", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCmd() *cobra.Command {
	g := &globalOpts{}
	root := &cobra.Command{
		Use:   "lvfsck",
		Short: "fsck-style checker and guarded repair for SPDK lvol stores",
		Long: `lvfsck reads an SPDK blobstore's metadata straight from its device or an
image, asks spdk_tgt what it holds, remembers what it saw, and reports what
does not add up: corruption, and lvols that a forced removal left on disk and
that will come back when the target restarts.

Read-only by default. Exit codes as e2fsck: 0 consistent, 1 corrected,
4 errors left, 8 operational error, 16 usage, 32 cancelled.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			lvl, err := zerolog.ParseLevel(g.logLevel)
			if err != nil {
				return usageError("--log-level: %v", err)
			}
			g.log = newLogger(lvl)
			return positiveDurations(cmd, "timeout", "deadline")
		},
	}
	root.Version = version
	root.SetVersionTemplate(build.String() + "\n")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitCode(report.ExitUsage, fmt.Errorf("%w\n%s", err, c.UsageString()))
	})
	// The whole command tree, one constructor per subcommand (its file).
	root.AddCommand(
		newScanCmd(g),
		newCheckCmd(g),
		newCaptureCmd(g),
		newDeleteCmd(g),
		newRepairCmd(g),
		newGuardCmd(g),
		newWatchCmd(g),
		newHistoryCmd(g),
		newLogCmd(g),
		newJournalCmd(g),
		newVersionCmd(),
	)
	if gen := newGenCmd(); gen != nil {
		root.AddCommand(gen) // release builds only (-tags lvfsckgen)
	}
	return root
}

// newLogger logs to stderr: a human console writer on a terminal, JSON lines
// otherwise (for journald and log shippers).
func newLogger(lvl zerolog.Level) zerolog.Logger {
	var w = zerolog.New(os.Stderr)
	if isatty.IsTerminal(os.Stderr.Fd()) {
		w = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly})
	}
	return w.Level(lvl).With().Timestamp().Logger()
}

// positiveDurations refuses a zero or negative value of the named duration
// flags, wherever a command has them: a zero timeout would fail every call,
// or mean "none" to some of them.
func positiveDurations(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Value.Type() != "duration" {
			continue
		}
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d <= 0 {
			return usageError("--%s %s: want a positive duration", name, f.Value)
		}
	}
	return nil
}
