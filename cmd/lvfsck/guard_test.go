package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGuardUsage: flag mistakes are usage errors (exit 16).
func TestGuardUsage(t *testing.T) {
	for _, args := range [][]string{
		{"guard"},
		{"guard", "--listen", "/tmp/x.sock"},
		{"guard", "--listen", "/tmp/x.sock", "--target", "/tmp/x.sock"},
		{"guard", "--listen", "/tmp/a.sock", "--target", "/tmp/b.sock", "--delete-wait", "-1s"},
		{"guard", "--listen", "/tmp/a.sock", "--target", "/tmp/b.sock", "--copy-poll", "0s"},
	} {
		t.Run(args[len(args)-1], func(t *testing.T) {
			require.Equal(t, 16, execute(args))
		})
	}
}
