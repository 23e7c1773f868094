package sim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

const fixtures = "../testdata/fixtures/"

// gunzipSparse writes a gzip image as a sparse file (zero pages skipped).
func gunzipSparse(t testing.TB, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	out, err := os.Create(dst)
	require.NoError(t, err)
	defer out.Close()
	buf := make([]byte, 1<<16)
	zero := make([]byte, len(buf))
	var off int64
	for {
		n, err := io.ReadFull(zr, buf)
		if n > 0 {
			if !bytes.Equal(buf[:n], zero[:n]) {
				_, werr := out.WriteAt(buf[:n], off)
				require.NoError(t, werr)
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		require.NoError(t, err)
	}
	require.NoError(t, out.Truncate(off))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

// sortedJSON renders each element and sorts, to compare lists as sets.
func sortedJSON(t *testing.T, list []json.RawMessage) []string {
	t.Helper()
	out := make([]string, 0, len(list))
	for _, e := range list {
		var v any
		require.NoError(t, json.Unmarshal(e, &v))
		b, err := json.Marshal(v)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// TestLoadRealImages starts the sim on images a real spdk_tgt wrote and
// compares its views, value for value, with what the real target showed
// after loading the same image.
func TestLoadRealImages(t *testing.T) {
	tests := []struct {
		image string
		views string // prefix of the captured views after the real load
	}{
		{"basic-1m.img.gz", "basic-1m"},
		{"resurrection-pending.img.gz", "resurrection.after-restart"},
		{"resurrection-pending-live.img.gz", "resurrection.after-restart"},
		{"dirty-kill9.img.gz", "dirty-kill9.after-recovery"},
		{"shallow-copy-pending-live.img.gz", "shallow-copy.after-restart"},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			gunzipSparse(t, fixtures+tc.image, img)
			r := newRig(t, Config{Image: img})

			var wantLvs, gotLvs []json.RawMessage
			readJSON(t, fixtures+tc.views+".bdev_lvol_get_lvstores.json", &wantLvs)
			r.ok("bdev_lvol_get_lvstores", nil, &gotLvs)
			require.Equal(t, sortedJSON(t, wantLvs), sortedJSON(t, gotLvs))

			var wantLvols, gotLvols []json.RawMessage
			readJSON(t, fixtures+tc.views+".bdev_lvol_get_lvols.json", &wantLvols)
			r.ok("bdev_lvol_get_lvols", nil, &gotLvols)
			require.Equal(t, sortedJSON(t, wantLvols), sortedJSON(t, gotLvols))

			// Lvol bdevs compare whole; the AIO bdev's uuid is new each run.
			var wantB, gotB []json.RawMessage
			readJSON(t, fixtures+tc.views+".bdev_get_bdevs.json", &wantB)
			r.ok("bdev_get_bdevs", nil, &gotB)
			require.Equal(t, sortedJSON(t, lvolBdevs(t, wantB)), sortedJSON(t, lvolBdevs(t, gotB)))
		})
	}
}

func lvolBdevs(t *testing.T, list []json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	for _, e := range list {
		if elementKind(e) == "Logical Volume" {
			out = append(out, normalizeClones(t, e))
		}
	}
	return out
}

// normalizeClones sorts driver_specific.lvol.clones (its order follows
// SPDK's internal list, which the sim does not reproduce).
func normalizeClones(t *testing.T, e json.RawMessage) json.RawMessage {
	var v map[string]any
	require.NoError(t, json.Unmarshal(e, &v))
	if ds, ok := v["driver_specific"].(map[string]any); ok {
		if l, ok := ds["lvol"].(map[string]any); ok {
			if cl, ok := l["clones"].([]any); ok {
				sort.Slice(cl, func(i, j int) bool { return cl[i].(string) < cl[j].(string) })
			}
		}
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestLoadEsnapCloneDegraded: the external snapshot (a malloc bdev of the
// run that made the image) does not exist, so the esnap clone loads
// degraded, without a bdev; the other lvols load as the real target had them.
func TestLoadEsnapCloneDegraded(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	gunzipSparse(t, fixtures+"default-cluster-esnap.img.gz", img)
	r := newRig(t, Config{Image: img})
	var want []lvolJSON
	readJSON(t, fixtures+"default-cluster-esnap.bdev_lvol_get_lvols.json", &want)
	got := map[string]lvolJSON{}
	for _, l := range r.lvols() {
		got[l.Name] = l
	}
	require.Len(t, got, len(want))
	for _, w := range want {
		if w.Name == "esnap-clone" {
			w.IsDegraded = true
		}
		require.Equal(t, w, got[w.Name])
	}
	_, e := r.call("bdev_get_bdevs", map[string]any{"name": got["esnap-clone"].UUID})
	require.Equal(t, errNoDev, e, "a degraded lvol has no bdev")
	// It can still be deleted, by uuid or by name, as SPDK allows.
	r.ok("bdev_lvol_delete", map[string]any{"name": "store-default/esnap-clone"}, nil)
	_, ok := r.lvol("esnap-clone")
	require.False(t, ok)
}
