package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/run"
)

const targetProcessHelp = "the target's process name (its comm or argv[0] basename, e.g. spdk_tgt): found under /proc (hostPID in a pod) and used as --target-pid"

// resolveTargetProcess turns --target-process into a pid: exactly one
// process of that name, else an error (exit 8 when none, a usage error when
// several). It returns pid unchanged when the flag is not given.
func resolveTargetProcess(cmd *cobra.Command, name string, pid int) (int, error) {
	if !cmd.Flags().Changed("target-process") {
		return pid, nil
	}
	if cmd.Flags().Changed("target-pid") {
		return 0, usageError("--target-process and --target-pid exclude each other")
	}
	if name == "" || strings.Contains(name, "/") {
		return 0, usageError("--target-process %q: a process name such as spdk_tgt", name)
	}
	found, err := run.TargetProcess(name)
	if err != nil {
		return 0, exitOf(err)
	}
	return found, nil
}
