//go:build lvfsckgen

package main

// The hidden `gen man|completion DIR` subcommand exists only in a binary
// built with -tags lvfsckgen (make release does): it needs the cobra tree,
// which lives in this package, while cobra/doc and go-md2man stay out of
// the product binary.

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenCmd is the hidden gen command of a release build.
func newGenCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "gen man|completion DIR",
		Short:     "write man pages or shell completions (release builds only)",
		Hidden:    true,
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"man", "completion"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			dir := args[1]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			switch args[0] {
			case "man":
				root.DisableAutoGenTag = true // reproducible pages
				hdr := &doc.GenManHeader{Title: "LVFSCK", Section: "8", Source: "lvfsck " + version}
				if err := doc.GenManTree(root, hdr, dir); err != nil {
					return fmt.Errorf("gen man: %w", err)
				}
			case "completion":
				for name, gen := range map[string]func(string) error{
					"lvfsck.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
					"_lvfsck":     func(p string) error { return root.GenZshCompletionFile(p) },
					"lvfsck.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
				} {
					if err := gen(filepath.Join(dir, name)); err != nil {
						return fmt.Errorf("gen completion %s: %w", name, err)
					}
				}
			default:
				return usageError("gen: want man or completion, got %q", args[0])
			}
			return nil
		},
	}
}
