package watch

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
)

// TestRealDeleteZeroesAfterUnregister: on the real spdk_tgt a plain delete
// unregisters the bdev, then zeroes the blob's md pages; the watch, reading
// the first page after the event (and again while it still looks live),
// calls it a delete, not a pending resurrection.
func TestRealDeleteZeroesAfterUnregister(t *testing.T) {
	if testing.Short() {
		t.Skip("real target")
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	realtgt.Sparse(t, img, 64<<20)
	tg := realtgt.Start(t, realtgt.Options{}) // may wait for the machine-wide lock
	defer tg.Stop(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, tg.AIO(ctx, "aio0", img))
	_, err := tg.Client.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
	require.NoError(t, err)
	thick, err := tg.Client.CreateLvol(ctx, "lvs", "thick", 8, false)
	require.NoError(t, err)
	thin, err := tg.Client.CreateLvol(ctx, "lvs", "thin", 8, true)
	require.NoError(t, err)

	f := watcherOn(t, tg.Client, tg.Sock, filepath.Join(t.TempDir(), "state"))
	f.run(t)
	f.known(t, thick)
	f.known(t, thin)
	for _, name := range []string{"lvs/thick", "lvs/thin"} {
		require.NoError(t, tg.Client.DeleteLvol(ctx, name))
		deleted := time.Now()
		select {
		case v := <-f.verdict:
			t.Logf("%s: %s after %s, %d bytes read (%d reads)", name, v.v, v.at.Sub(deleted).Round(time.Millisecond), v.n, v.n/4096)
			require.Equal(t, VerdictZeroed, v.v, name)
			require.False(t, v.found)
		case <-time.After(5 * time.Second):
			t.Fatalf("no verdict on %s; log:\n%s", name, f.log.String())
		}
	}
	recs := f.findings(t)
	for _, r := range recs {
		require.NotEqual(t, "pending-resurrection", string(r.Finding.Code), "a real delete is no forced removal")
	}
}
