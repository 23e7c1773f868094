//go:build !lvfsckgen

package main

import "github.com/spf13/cobra"

// newGenCmd: the product binary has no gen command (see gen.go).
func newGenCmd() *cobra.Command { return nil }
