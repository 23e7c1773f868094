package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/report"
)

// startProbe runs a sleep under a unique argv[0] name, a stand-in target
// that FindProcess can tell apart from every other process.
func startProbe(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.Symlink(sleep, bin))
	cmd := exec.Command(bin, "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestTargetProcessFlag: --target-process on check and watch — excluded
// with --target-pid, exit 8 when no process has the name, a usage error
// naming the pids when several do, and the pid used when one does.
func TestTargetProcessFlag(t *testing.T) {
	name := fmt.Sprintf("lvfsck-t%d", os.Getpid()%100000)
	a, b := startProbe(t, name), startProbe(t, name)
	for _, sub := range []string{"check", "watch"} {
		state := filepath.Join(t.TempDir(), "state")
		tests := []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"--target-process", "spdk_tgt", "--target-pid", "1"}, report.ExitUsage, "--target-process and --target-pid exclude each other"},
			{[]string{"--target-process", "/usr/bin/spdk_tgt"}, report.ExitUsage, "a process name"},
			{[]string{"--target-process", name + "-none"}, report.ExitOperational, "no process named " + name + "-none (is spdk_tgt running? hostPID: true in the pod?)"},
			{[]string{"--target-process", name}, report.ExitUsage, fmt.Sprintf("2 processes named %s (pids [%d %d]): choose one with --target-pid", name, min(a.Process.Pid, b.Process.Pid), max(a.Process.Pid, b.Process.Pid))},
		}
		for _, tc := range tests {
			_, errText, code := checkCLI(t, append([]string{sub, "--state-dir", state}, tc.args...)...)
			require.Equal(t, tc.code, code, "%s %v: %s", sub, tc.args, errText)
			require.Contains(t, errText, tc.msg, "%s %v", sub, tc.args)
		}
	}

	// One match: check goes through /proc/PID/root (a sleep has no socket).
	require.NoError(t, b.Process.Kill())
	_ = b.Wait()
	_, errText, code := checkCLI(t, "check", "--state-dir", filepath.Join(t.TempDir(), "s"), "--target-process", name)
	require.Equal(t, report.ExitOperational, code, errText)
	require.Contains(t, errText, fmt.Sprintf("/proc/%d/root/var/tmp/spdk.sock", a.Process.Pid))

	// watch --target-process exits 8 once that process ends.
	done := make(chan lvfsckResult, 1)
	go func() {
		done <- runLvfsck(t, nil, "watch", "--state-dir", filepath.Join(t.TempDir(), "w"), "--target-process", name)
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("watch ended while its target runs: %d %s", r.code, r.errText)
	default:
	}
	require.NoError(t, a.Process.Kill())
	_ = a.Wait()
	select {
	case r := <-done:
		require.Equal(t, report.ExitOperational, r.code, r.errText)
		require.Contains(t, r.errText, fmt.Sprintf("target process %s (pid %d) ended", name, a.Process.Pid))
	case <-time.After(10 * time.Second):
		t.Fatal("watch still runs after its target process ended")
	}
}
