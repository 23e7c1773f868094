package bundle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
	"github.com/lvfsck/lvfsck/scanner"
)

// Beside a real spdk_tgt holding the device through an aio bdev: the
// capture reads the device (O_DIRECT), asks the target, and the bundle's
// image scans (recovery mode, as check beside a live target) as the live
// device does; obfuscated, no name is left. The target is stopped before
// the bundle is checked: it must not need it.
func TestCaptureBesideRealTarget(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	realtgt.Sparse(t, img, 64<<20)
	tg := realtgt.Start(t, realtgt.Options{})
	// After Start: it may wait long for the machine-wide target lock.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, tg.AIO(ctx, "aio0", img))
	_, err := tg.Client.CreateLvstore(ctx, "aio0", "store-secret", 1<<20)
	require.NoError(t, err)
	names := []string{"store-secret", "pvc-77-r-0a1b2c3d", "LVOL_41", "keep-me-hidden"}
	for _, n := range names[1:] {
		_, err := tg.Client.CreateLvol(ctx, "store-secret", n, 4, true)
		require.NoError(t, err)
	}
	require.NoError(t, tg.Client.SetXattr(ctx, "store-secret/keep-me-hidden", "entity_id", "volume-secret"))

	var plain, obf bytes.Buffer
	for _, c := range []struct {
		out *bytes.Buffer
		ob  bool
	}{{&plain, false}, {&obf, true}} {
		res, err := Capture(ctx, c.out, Options{Socket: tg.Sock, Client: tg.Client, Obfuscate: c.ob, Version: "test", Now: time.Now})
		require.NoError(t, err)
		require.NotEmpty(t, res.Manifest.Incarnation)
		require.Equal(t, []string{img}, []string{res.Manifest.Images[0].Device}, "found from bdev_get_bdevs")
		require.Len(t, res.Manifest.RPC, len(Methods), "every answer: %v", res.Manifest.Errors)
	}
	live, err := scanner.ScanPath(ctx, img, scanner.Options{Mode: scanner.ModeRecovery}, t.TempDir())
	require.NoError(t, err)
	require.True(t, tg.Stop(10*time.Second))

	open := func(b []byte) *Bundle {
		p := filepath.Join(t.TempDir(), "b.tar.gz")
		require.NoError(t, os.WriteFile(p, b, 0o600))
		bd, err := Open(ctx, p, t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { bd.Close() })
		return bd
	}
	bp := open(plain.Bytes())
	v, err := scanner.ScanPath(ctx, bp.Images[0], scanner.Options{Mode: scanner.ModeRecovery}, t.TempDir())
	require.NoError(t, err)
	require.Equal(t, len(live.Blobs), len(v.Blobs))
	require.Equal(t, len(live.Findings), len(v.Findings))
	require.Equal(t, live.Lvstore.Name, v.Lvstore.Name)

	all := tarBytesOf(t, obf.Bytes())
	for _, n := range append(names, "volume-secret") {
		require.False(t, bytes.Contains(all, []byte(n)), "%q left", n)
	}
	bo := open(obf.Bytes())
	vo, err := scanner.ScanPath(ctx, bo.Images[0], scanner.Options{Mode: scanner.ModeRecovery}, t.TempDir())
	require.NoError(t, err)
	require.Equal(t, len(live.Blobs), len(vo.Blobs))
	require.Equal(t, len(live.Findings), len(vo.Findings))
}

func tarBytesOf(t *testing.T, b []byte) []byte {
	p := filepath.Join(t.TempDir(), "x.tar.gz")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return tarBytes(t, p)
}
