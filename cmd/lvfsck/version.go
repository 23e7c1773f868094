package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	subcommands = append(subcommands, func(*globalOpts) *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "print lvfsck's version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), version) },
		}
	})
}
