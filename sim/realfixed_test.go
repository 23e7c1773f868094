package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
	"github.com/lvfsck/lvfsck/spdk"
)

// fixedAnswers is what a busy delete does on a target with Longhorn's fix.
type fixedAnswers struct {
	Busy         string // the delete during the checksum
	Listed       bool   // backup-1 still in bdev_lvol_get_lvols after it
	BaseSnapshot string // replica-a's driver_specific.lvol.base_snapshot
	RetryAlias   string
	RetryUUID    string
	Checksum     string // the checksum's own answer
}

func answerOf(err error) string {
	var re *spdk.RPCError
	switch {
	case errors.As(err, &re):
		return fmt.Sprintf("%s %d", re.Message, re.Code)
	case err != nil:
		return "transport: " + err.Error()
	}
	return "ok"
}

// busyDeleteFixed runs the fixed-busy script on c: a 4 GiB thick replica,
// its snapshot, a checksum of it, and a delete 10 ms into the checksum.
func busyDeleteFixed(t *testing.T, c *spdk.Client, img string) (fixedAnswers, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var a fixedAnswers
	if _, err := c.AioCreate(ctx, "aio0", img, 4096); err != nil {
		return a, err
	}
	if _, err := c.CreateLvstore(ctx, "aio0", "lvs-f", 1<<20); err != nil {
		return a, err
	}
	if _, err := c.CreateLvol(ctx, "lvs-f", "replica-a", 4096, false); err != nil {
		return a, err
	}
	if _, err := c.CreateLvol(ctx, "lvs-f", "bystander", 8, false); err != nil {
		return a, err
	}
	snap, err := c.Snapshot(ctx, "lvs-f/replica-a", "backup-1")
	if err != nil {
		return a, err
	}
	done := make(chan error, 1)
	go func() { done <- c.RegisterSnapshotChecksum(ctx, "lvs-f/backup-1") }()
	time.Sleep(10 * time.Millisecond)
	a.Busy = answerOf(c.DeleteLvol(ctx, "lvs-f/backup-1"))
	a.Checksum = answerOf(<-done)
	lvols, err := c.GetLvols(ctx, spdk.LvolQuery{})
	if err != nil {
		return a, err
	}
	for _, l := range lvols {
		a.Listed = a.Listed || l.Name == "backup-1"
	}
	b, err := c.GetBdevs(ctx, "lvs-f/replica-a")
	if err != nil {
		return a, err
	}
	if len(b) == 1 && b[0].DriverSpecific != nil && b[0].DriverSpecific.Lvol != nil {
		a.BaseSnapshot = b[0].DriverSpecific.Lvol.BaseSnapshot
	}
	a.RetryAlias = answerOf(c.DeleteLvol(ctx, "lvs-f/backup-1"))
	a.RetryUUID = answerOf(c.DeleteLvol(ctx, snap))
	return a, nil
}

// TestSimFixedAsRealFixedTarget runs the same busy delete on the real
// spdk_tgt built with Longhorn's fix and on the sim's fixed flavour, and
// requires the same answers, the same hidden lvol, the same clone view,
// and a SIGINT that answers but does not end the target (killed).
func TestSimFixedAsRealFixedTarget(t *testing.T) {
	want := fixedAnswers{
		Busy: "Device or resource busy -32603", Listed: false, BaseSnapshot: "backup-1",
		RetryAlias: "Invalid argument -32603", RetryUUID: "Invalid argument -32603", Checksum: "ok",
	}

	// The real target (one at a time machine-wide; seconds).
	realImg := filepath.Join(t.TempDir(), "real.img")
	realtgt.Sparse(t, realImg, 8<<30)
	start := time.Now()
	tg := realtgt.Start(t, realtgt.Options{Fixed: true})
	t.Logf("real target up after %s (lock wait included)", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	got, err := busyDeleteFixed(t, tg.Client, realImg)
	if err != nil {
		tg.Kill()
		require.NoError(t, err)
	}
	exited := tg.Stop(3 * time.Second)
	tg.Kill()
	t.Logf("real script, SIGINT wait and kill took %s", time.Since(start).Round(time.Millisecond))
	require.Equal(t, want, got, "the real fixed target")
	require.False(t, exited, "the real target exited on SIGINT with a hidden lvol")
	log, err := os.ReadFile(tg.Log)
	require.NoError(t, err)
	require.Contains(t, string(log), "Error -16 deleting lvol backup-1")
	require.Contains(t, string(log), "Cannot unload lvol store - operations on lvols pending")

	// The sim, over a socket, the same script.
	simImg := filepath.Join(t.TempDir(), "sim.img")
	realtgt.Sparse(t, simImg, 8<<30)
	dir, err := os.MkdirTemp("", "rfx")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "spdk.sock")
	st, err := New(Config{DeleteSemantics: DeleteFixed, OpDuration: 500 * time.Millisecond})
	require.NoError(t, err)
	defer st.Crash()
	go func() { _ = st.Serve(context.Background(), sock) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := spdk.DialWait(ctx, sock, 10*time.Millisecond)
	require.NoError(t, err)
	defer c.Close()
	got, err = busyDeleteFixed(t, c, simImg)
	require.NoError(t, err)
	require.Equal(t, want, got, "the sim's fixed flavour")
	require.NoError(t, c.KillInstance(ctx, "SIGINT"))
	select {
	case <-st.Done():
		t.Fatal("the sim stopped on SIGINT with a hidden lvol")
	case <-time.After(time.Second):
	}
	st.Crash()
}
