package realtgt

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStartLvstoreRestart: the real target comes up on both semantics,
// holds an lvstore on a sparse file, stops cleanly and loads it again.
func TestStartLvstoreRestart(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		t.Run(map[bool]string{false: "forced", true: "fixed"}[fixed], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			img := filepath.Join(t.TempDir(), "disk.img")
			Sparse(t, img, 64<<20)
			tg := Start(t, Options{Fixed: fixed})
			v, err := tg.Client.GetVersion(ctx)
			require.NoError(t, err)
			t.Logf("real target: %s (fixed=%v)", v.Version, fixed)
			require.Contains(t, v.Version, "SPDK v24.09")
			require.NoError(t, tg.AIO(ctx, "aio0", img))
			_, err = tg.Client.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
			require.NoError(t, err)
			_, err = tg.Client.CreateLvol(ctx, "lvs", "v", 4, true)
			require.NoError(t, err)
			require.True(t, tg.Stop(10*time.Second), "clean shutdown")

			tg = Start(t, Options{Fixed: fixed})
			require.NoError(t, tg.AIO(ctx, "aio0", img))
			lvols, err := tg.WaitLvols(ctx, 1)
			require.NoError(t, err)
			require.Equal(t, "lvs/v", lvols[0].Alias)
		})
	}
}

func TestVersion(t *testing.T) {
	v, err := Version()
	require.NoError(t, err)
	t.Logf("real spdk_tgt: %s", v)
	require.Contains(t, v, "SPDK v24.09")
}

// A second install leaves the extracted build alone: setup.sh alone would
// extract it again (the tarball is newer than the files tar restores) and
// pull the libraries from under a target another test process is starting.
func TestInstallOnce(t *testing.T) {
	first, err := setup()
	require.NoError(t, err)
	before, err := os.Stat(first.Bin())
	require.NoError(t, err)
	second, err := setup()
	require.NoError(t, err)
	after, err := os.Stat(second.Bin())
	require.NoError(t, err)
	require.True(t, os.SameFile(before, after), "spdk_tgt was extracted again")
}
