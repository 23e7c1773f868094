// Command lvfsck checks SPDK logical volume stores for consistency between
// what is persisted on the base device, what spdk_tgt reports live, and what
// lvfsck has seen before; and deletes lvols with non-forced semantics.
//
// This package only parses flags and wires packages together.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/lvfsck/lvfsck/report"
)

// exitError carries an exit code out of a subcommand. Subcommands return
// it (via exitCode) instead of calling os.Exit, so deferred cleanups run.
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

// exitCode wraps err (may be nil: a silent exit with that code).
func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

// exitOf turns the *report.Failure a package returns into an exit: its
// message printed, its code the process's. Other errors pass unchanged.
func exitOf(err error) error {
	var f *report.Failure
	if errors.As(err, &f) {
		return exitCode(f.Code, f.Err)
	}
	return err
}

// finalCode is the exit code a command ends with: code, or the one its
// error carries (an error without one is operational). The journal records
// it when it closes the run.
func finalCode(code int, err error) int {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case err != nil:
		return report.ExitOperational
	}
	return code
}

// usageError marks a bad invocation (exit 16).
func usageError(format string, a ...any) error {
	return exitCode(report.ExitUsage, fmt.Errorf(format, a...))
}

func main() {
	os.Exit(execute(os.Args[1:]))
}

// execute runs the command line and returns the process exit code.
func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return report.ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "lvfsck:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "lvfsck:", err)
	if isUsage(err) {
		return report.ExitUsage
	}
	return report.ExitOperational
}
