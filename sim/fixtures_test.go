package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/internal/testfix"
)

const fixtures = "../testdata/fixtures/"

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
		order bool   // the views were taken right after a load: same bdev order
	}{
		{"basic-1m.img.gz", "basic-1m", false},
		{"resurrection-pending.img.gz", "resurrection.after-restart", true},
		{"resurrection-pending-live.img.gz", "resurrection.after-restart", true},
		{"dirty-kill9.img.gz", "dirty-kill9.after-recovery", true},
		{"shallow-copy-pending-live.img.gz", "shallow-copy.after-restart", true},
		{"notify-pending-live.img.gz", "notify.after-restart", true},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			testfix.InflateSparse(t, fixtures+tc.image, img)
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
			if !fileExists(fixtures + tc.views + ".bdev_get_bdevs.json") {
				return // many-lvols kept no bdevs
			}
			var wantB, gotB []json.RawMessage
			readJSON(t, fixtures+tc.views+".bdev_get_bdevs.json", &wantB)
			r.ok("bdev_get_bdevs", nil, &gotB)
			require.Equal(t, sortedJSON(t, lvolBdevs(t, wantB)), sortedJSON(t, lvolBdevs(t, gotB)))
			if !tc.order {
				return
			}
			// Lists in the real target's order: lvols by blob id, bdevs as
			// their opens completed.
			require.Equal(t, names(t, wantLvols, "uuid"), names(t, gotLvols, "uuid"))
			require.Equal(t, names(t, wantB, "name")[1:], names(t, gotB, "name")[1:], "bdev order (aio0 aside)")
			if nf := fixtures + tc.views + ".notify_get_notifications.json"; fileExists(nf) {
				var want, got []Event
				readJSON(t, nf, &want)
				r.ok("notify_get_notifications", nil, &got)
				require.Equal(t, want, got, "the notify ring after the load")
			}
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
	testfix.InflateSparse(t, fixtures+"default-cluster-esnap.img.gz", img)
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

// step is one call of a replayed scenario; method "" restarts the target
// (clean when params is true).
type step struct {
	method string
	params any
}

// TestSameLayoutAsRealTarget replays scenarios of the fixtures on the sim
// and compares its image with the one the real target wrote: the same md
// pages, flags, xattr names and sizes, extent tables, extent page owners
// and clusters for every blob, and the same masks when clean (only uuids,
// times and checksum values differ).
func TestSameLayoutAsRealTarget(t *testing.T) {
	create := func(lvs, name string, mib int, thin bool) step {
		return step{"bdev_lvol_create", map[string]any{"lvol_name": name, "size_in_mib": mib, "thin_provision": thin, "lvs_name": lvs}}
	}
	tests := []struct {
		image string
		size  int64
		steps []step
		clean bool
		blobs int
	}{
		{"resurrection-pending.img.gz", 128 << 20, []step{
			{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs-r", "cluster_sz": 1 << 20}},
			create("lvs-r", "replica-a", 32, true),
			create("lvs-r", "bystander", 8, false),
			{"sim_lvol_write", map[string]any{"name": "lvs-r/replica-a", "offset": 0, "length": 24 << 20}},
			{"bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-r/replica-a", "snapshot_name": "backup-1"}},
			{"forced-removal", "lvs-r/backup-1"},
			{"", true},
		}, true, 4},
		{"basic-1m.img.gz", 64 << 20, []step{
			{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs0", "cluster_sz": 1 << 20}},
			create("lvs0", "vol-thin", 16, true),
			create("lvs0", "vol-thick", 8, false),
			create("lvs0", "vol-gone", 4, false),
			create("lvs0", "vol-old-name", 4, true),
			{"", true},
			{"sim_lvol_write", map[string]any{"name": "lvs0/vol-thin", "offset": 0, "length": 3 << 20}},
			{"bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/vol-thin", "snapshot_name": "snap1"}},
			{"bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/snap1", "clone_name": "clone1"}},
			{"bdev_lvol_rename", map[string]any{"old_name": "lvs0/vol-old-name", "new_name": "vol-renamed"}},
			{"bdev_lvol_delete", map[string]any{"name": "lvs0/vol-gone"}},
			{"bdev_lvol_set_xattr", map[string]any{"name": "lvs0/vol-thick", "xattr_name": "longhorn.io/owner", "xattr_value": "replica-a"}},
			{"bdev_lvol_resize", map[string]any{"name": "lvs0/vol-thick", "size_in_mib": 12}},
			{"", true},
		}, true, 6},
		{"dirty-kill9.img.gz", 64 << 20, []step{
			{"bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs-dirty", "cluster_sz": 1 << 20}},
			create("lvs-dirty", "v0", 4, true),
			create("lvs-dirty", "v1", 5, false),
			create("lvs-dirty", "v2", 6, true),
			create("lvs-dirty", "v3", 7, false),
			create("lvs-dirty", "v4", 8, true),
			create("lvs-dirty", "v5", 9, false),
			{"bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-dirty/v1", "snapshot_name": "v1-snap"}},
			{"bdev_lvol_delete", map[string]any{"name": "lvs-dirty/v3"}},
			{"bdev_lvol_rename", map[string]any{"old_name": "lvs-dirty/v4", "new_name": "v4-renamed"}},
			{"", false},
		}, false, 7},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			realImg := filepath.Join(t.TempDir(), "real.img")
			testfix.InflateSparse(t, fixtures+tc.image, realImg)
			r := newRig(t, Config{Size: tc.size, OpDuration: 50 * time.Millisecond})
			for _, st := range tc.steps {
				switch st.method {
				case "":
					r.restart(st.params.(bool))
				case "forced-removal":
					done := r.async("bdev_lvol_register_snapshot_checksum", map[string]any{"name": st.params})
					_, e := r.call("bdev_lvol_delete", map[string]any{"name": st.params})
					require.Equal(t, internalErr(eBUSY), e)
					require.Nil(t, <-done)
				default:
					r.ok(st.method, st.params, nil)
				}
			}
			want, wantSB := summarize(t, realImg)
			got, gotSB := summarize(t, r.image)
			require.Len(t, want, tc.blobs)
			require.Equal(t, want, got)
			require.Equal(t, wantSB.Clean, gotSB.Clean)
			require.Equal(t, tc.clean, gotSB.Clean == 1)
			for _, f := range [][2]any{{wantSB.MDStart, gotSB.MDStart}, {wantSB.MDLen, gotSB.MDLen},
				{wantSB.UsedClusterMaskStart, gotSB.UsedClusterMaskStart}, {wantSB.Size, gotSB.Size}} {
				require.Equal(t, f[0], f[1])
			}
			if !tc.clean {
				return // masks on disk are stale while dirty: nothing to compare
			}
			for _, kind := range []uint8{blobstore.MaskUsedPages, blobstore.MaskUsedClusters, blobstore.MaskUsedBlobIDs} {
				require.Equal(t, readMask(t, realImg, wantSB, kind), readMask(t, r.image, gotSB, kind), "mask %d", kind)
			}
		})
	}
}

type blobSummary struct {
	Pages        []uint32
	Extents      []blobstore.ExtentRef
	Flags        [3]uint64
	Xattrs       []string
	Clusters     []blobstore.Run
	NumClusters  uint64
	OwnerIsFirst []bool
}

// summarize reads every blob of an image, by lvol name, leaving out what
// differs between runs (uuid and time values).
func summarize(t *testing.T, path string) (map[string]blobSummary, *blobstore.SuperBlock) {
	t.Helper()
	dev, err := OpenImage(path, 0)
	require.NoError(t, err)
	defer dev.Close()
	sb, err := blobstore.ReadSuperBlock(dev)
	require.NoError(t, err)
	out := map[string]blobSummary{}
	for p := uint32(0); p < sb.MDLen; p++ {
		b, err := blobstore.ReadBlob(dev, sb, p, blobstore.ParseOptions{})
		if err != nil || b.ID != blobstore.BlobID(p) {
			continue
		}
		name, _ := b.Name()
		if b.ID == sb.SuperBlob {
			name = "(super)"
		}
		s := blobSummary{Pages: b.Pages, Flags: [3]uint64{b.Invalid, b.DataRO, b.MDRO},
			Clusters: b.Clusters, NumClusters: b.NumClusters}
		for _, x := range b.Xattrs {
			s.Xattrs = append(s.Xattrs, fmt.Sprintf("%s:%d:%v", x.Name, len(x.Value), x.Internal))
		}
		for _, ref := range b.ExtentRefs {
			s.Extents = append(s.Extents, blobstore.ExtentRef{Slot: ref.Slot, Page: ref.Page})
			s.OwnerIsFirst = append(s.OwnerIsFirst, ref.ID == b.ID)
		}
		out[name] = s
	}
	return out, sb
}

func readMask(t *testing.T, path string, sb *blobstore.SuperBlock, kind uint8) *blobstore.Mask {
	t.Helper()
	dev, err := OpenImage(path, 0)
	require.NoError(t, err)
	defer dev.Close()
	m, err := blobstore.ReadMask(dev, sb, kind)
	require.NoError(t, err)
	return m
}

func names(t *testing.T, list []json.RawMessage, key string) []string {
	t.Helper()
	var out []string
	for _, e := range list {
		var m map[string]any
		require.NoError(t, json.Unmarshal(e, &m))
		out = append(out, fmt.Sprint(m[key]))
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
