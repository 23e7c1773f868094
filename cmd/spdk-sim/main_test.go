package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk"
)

// checkCLI runs the command line in-process as run does (same exit code
// mapping) and returns stdout, the error text and the exit code.
func checkCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--log-level", "error"}, args...))
	err := root.Execute()
	code := report.ExitOK
	if err != nil {
		errOut.WriteString(err.Error())
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			code = ee.code
		case isUsage(err):
			code = report.ExitUsage
		default:
			code = report.ExitOperational
		}
	}
	return out.String(), errOut.String(), code
}

func TestRPCErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"rpc", "--socket", sock, "spdk_get_version"}, report.ExitOperational},
		{[]string{"rpc", "--socket", sock, "m", "{not json"}, report.ExitUsage},
		{[]string{"rpc"}, report.ExitUsage},
		{[]string{"nope"}, report.ExitUsage},
		{[]string{"rpc", "--timeout", "x", "m"}, report.ExitUsage},
		{[]string{"rpc", "--timeout", "0", "m"}, report.ExitUsage},
		{[]string{"rpc", "--timeout", "-1s", "m"}, report.ExitUsage},
	} {
		_, errText, code := checkCLI(t, tc.args...)
		require.Equal(t, tc.want, code, "%v: %s", tc.args, errText)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"", 0, false},
		{"4096", 4096, false},
		{"64M", 64 << 20, false},
		{"64MiB", 64 << 20, false},
		{"2g", 2 << 30, false},
		{"1T", 1 << 40, false},
		{"0", 0, true},
		{"-5", 0, true},
		{"M", 0, true},
		{"12Q", 0, true},
		{"99999999999T", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if tc.err {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestServeUsageErrors(t *testing.T) {
	img := filepath.Join(t.TempDir(), "x.img")
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--image", img, "--flavor", "nope"},
		{"serve", "--image", img, "--delete-semantics", "maybe"},
		{"serve", "--image", img, "--size", "lots"},
		{"serve", "--image", img, "--op-duration", "0s"},
	} {
		_, _, code := checkCLI(t, args...)
		require.Equal(t, report.ExitUsage, code, "%v", args)
	}
	// An absent image with no size to create it is an operational error.
	_, _, code := checkCLI(t, "serve", "--image", img, "--socket", filepath.Join(t.TempDir(), "s"))
	require.Equal(t, report.ExitOperational, code)
}

// TestServeCleanStop serves in-process and stops with
// spdk_kill_instance SIGINT: exit 0 and a clean image.
func TestServeCleanStop(t *testing.T) {
	dir, err := os.MkdirTemp("", "simcmd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, img := filepath.Join(dir, "s.sock"), filepath.Join(dir, "d.img")
	done := make(chan int, 1)
	go func() {
		_, _, code := checkCLI(t, "serve", "--socket", sock, "--image", img, "--size", "64M",
			"--log-file", filepath.Join(dir, "tgt.log"))
		done <- code
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var c *spdk.Client
	require.Eventually(t, func() bool {
		c, err = spdk.Dial(ctx, sock)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	defer c.Close()
	_, err = c.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
	require.NoError(t, err)
	// rpc: a result on stdout; an error answer exits 4.
	out, _, code := checkCLI(t, "rpc", "--socket", sock, "bdev_lvol_get_lvstores")
	require.Equal(t, report.ExitOK, code)
	require.Contains(t, out, `"name":"lvs"`)
	_, errText, code := checkCLI(t, "rpc", "--socket", sock, "bdev_lvol_delete", `{"name":"lvs/nope"}`)
	require.Equal(t, report.ExitUncorrected, code, errText)
	require.NoError(t, c.KillInstance(ctx, "SIGINT"))
	select {
	case code := <-done:
		require.Equal(t, report.ExitOK, code)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	head := make([]byte, 20)
	f, err := os.Open(img)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.ReadAt(head, 0)
	require.NoError(t, err)
	require.Equal(t, "SPDKBLOB", string(head[:8]))
	require.Equal(t, byte(1), head[16], "clean = 1 after a clean stop")
	log, err := os.ReadFile(filepath.Join(dir, "tgt.log"))
	require.NoError(t, err)
	require.Contains(t, string(log), "Lvol store unloaded")
	_, err = os.Stat(sock)
	require.True(t, os.IsNotExist(err), "socket removed")
}
