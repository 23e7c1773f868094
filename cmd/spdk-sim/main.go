// Command spdk-sim is the project's stand-in spdk_tgt (package sim): it
// serves spdk_tgt's JSON-RPC over a blobstore image, for tests, the demo
// and trying lvfsck on a machine without SPDK. It is a separate binary so
// that the lvfsck installed on storage nodes carries no stand-in target.
//
// This package only parses flags and wires the sim package.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/report"
)

// exitError carries an exit code out of a subcommand (as lvfsck's: 4 an
// error answer, 8 operational, 16 usage).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

func usageError(format string, a ...any) error {
	return exitCode(report.ExitUsage, fmt.Errorf(format, a...))
}

type globalOpts struct {
	logLevel string
	log      zerolog.Logger
}

func newRootCmd() *cobra.Command {
	g := &globalOpts{}
	root := &cobra.Command{
		Use:   "spdk-sim",
		Short: "a stand-in spdk_tgt for tests and demonstrations",
		Long: `spdk-sim serves spdk_tgt's lvol, bdev, NVMe-oF and notify JSON-RPC methods
on a unix socket over a blobstore image, as SPDK v24.09 (Longhorn's fork)
does, including its forced removal of a busy lvol. It is lvfsck's stand-in
target: not for storage nodes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			lvl, err := zerolog.ParseLevel(g.logLevel)
			if err != nil {
				return usageError("--log-level: %v", err)
			}
			g.log = zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%w\n%s", err, c.UsageString())
	})
	root.AddCommand(newServeCmd(g), newRPCCmd())
	return root
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the process exit code.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return report.ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "spdk-sim:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "spdk-sim:", err)
	if isUsage(err) {
		return report.ExitUsage
	}
	return report.ExitOperational
}

// isUsage recognises cobra's own argument errors by their wording, which
// cobra keeps stable.
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
