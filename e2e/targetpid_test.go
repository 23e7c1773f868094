package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/spdk"
)

// TestCheckTargetPIDPrivateMountNS: the sim runs in its own mount
// namespace with a private tmpfs holding its socket and image, as
// spdk_tgt does inside Longhorn's instance-manager pod. From here neither
// exists; `check --target-pid` reaches both through /proc/PID/root, and
// finds the forced removal.
func TestCheckTargetPIDPrivateMountNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare -m needs root")
	}
	dir, err := os.MkdirTemp("", "e2ep")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, image := filepath.Join(dir, "s.sock"), filepath.Join(dir, "disk.img")
	script := fmt.Sprintf("mount -t tmpfs lvfsck-e2e %s && exec %s serve --socket %s --image %s --size 64M --op-duration %s --delete-semantics forced",
		dir, simBin, sock, image, opDuration)
	// unshare without --fork execs in its own process: its pid is the sim's.
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	pid := cmd.Process.Pid

	through := fmt.Sprintf("/proc/%d/root%s", pid, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := spdk.DialWait(ctx, through, 20*time.Millisecond)
	require.NoError(t, err)
	defer c.Close()
	_, err = os.Stat(sock)
	require.ErrorIs(t, err, os.ErrNotExist, "the socket is not in this mount namespace")
	_, err = os.Stat(image)
	require.ErrorIs(t, err, os.ErrNotExist, "nor the image")

	_, err = c.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
	require.NoError(t, err)
	_, err = c.CreateLvol(ctx, "lvs", "replica", 16, true)
	require.NoError(t, err)
	snap, err := c.Snapshot(ctx, "lvs/replica", "snap")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.RegisterSnapshotChecksum(ctx, "lvs/snap") }()
	time.Sleep(startLag)
	require.ErrorIs(t, c.DeleteLvol(ctx, "lvs/snap"), spdk.ErrBusy)
	require.NoError(t, <-done)

	state := filepath.Join(t.TempDir(), "state")
	out, err := exec.Command(lvfsckBin, "check", "--json", "--socket", sock, "--target-pid", fmt.Sprint(pid), "--state-dir", state).Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "findings: exit 4")
	require.Equal(t, 4, ee.ExitCode(), "%s\n%s", out, ee.Stderr)
	var doc struct {
		Findings []struct {
			Code     string `json:"code"`
			LvolUUID string `json:"lvol_uuid"`
		} `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(out, &doc), "%s", out)
	var codes []string
	for _, f := range doc.Findings {
		if f.LvolUUID == snap {
			codes = append(codes, f.Code)
		}
	}
	require.Equal(t, []string{"pending-resurrection"}, codes, "%s", out)
}
