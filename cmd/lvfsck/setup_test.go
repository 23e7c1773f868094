package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// .ci/run, on a machine without a C compiler (make test's -race needs
// cgo), installs gcc as root with apt-get, and otherwise says what is
// missing; it never runs make test without one. apt-get is a stand-in that
// records its arguments and fails, so that the script stops there.
func TestCIRunInstallsCompiler(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "apt-get.calls")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "apt-get"),
		[]byte("#!/bin/sh\necho \"$@\" >> "+calls+"\nexit 1\n"), 0o755))
	// make too is a stand-in: were the script to go on, it must not run
	// the whole suite from inside a test
	require.NoError(t, os.WriteFile(filepath.Join(bin, "make"), []byte("#!/bin/sh\necho make \"$@\" ran\nexit 1\n"), 0o755))
	cmd := exec.Command("bash", "../../.ci/run")
	cmd.Env = append(os.Environ(), "CC=no-such-compiler-lvfsck", "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "stops without a compiler: %s", out)
	require.NotContains(t, string(out), "make test ran")
	if os.Geteuid() != 0 {
		require.Contains(t, string(out), "apt-get install -y gcc")
		return
	}
	require.Contains(t, string(out), "installing gcc")
	b, err := os.ReadFile(calls)
	require.NoError(t, err)
	require.Equal(t, "update -qq", strings.TrimSpace(string(b)))
}

// The README's setup says that make test needs a C compiler.
func TestReadmeSetupNamesCompiler(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(b)
	i := strings.Index(readme, "## Setup")
	require.GreaterOrEqual(t, i, 0)
	setup := readme[i:]
	setup = setup[:strings.Index(setup[1:], "\n## ")+1]
	require.Contains(t, setup, "C compiler")
	require.Contains(t, setup, "apt-get install -y gcc")
	require.Contains(t, setup, "make test")
	require.Contains(t, setup, "make demo")
}
