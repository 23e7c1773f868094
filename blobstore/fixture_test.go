package blobstore

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/stretchr/testify/require"
)

const fixtureDir = "../testdata/fixtures"

// gzImages are the fixture images stored as .img.gz.
var gzImages = []string{
	"basic-1m", "default-cluster-esnap", "dirty-kill9", "many-lvols",
	"resurrection-pending", "resurrection-pending-live", "notify-pending-live",
	"shallow-copy-pending-live",
}

// tagImages are the sparse 320 GiB images stored as .img.sparse.tgz.
var tagImages = []string{"tags-clean", "tags-dirty"}

// fixture is the front of a fixture image: super block, masks and md region
// (the data clusters are never needed here).
type fixture struct {
	name string
	data []byte
	sb   *SuperBlock
}

func (f *fixture) reader() *bytes.Reader { return bytes.NewReader(f.data) }

func (f *fixture) page(t testing.TB, idx uint32) []byte {
	t.Helper()
	off := f.sb.MDPageOffset(idx)
	require.LessOrEqual(t, off+PageSize, int64(len(f.data)), "page %d outside the loaded md region", idx)
	return f.data[off : off+PageSize]
}

var fixtureCache sync.Map // name -> *fixture

// loadGz decompresses only the front of an image, up to the end of the md
// region, so the 4 GiB image costs 17 MB.
func loadGz(t testing.TB, name string) *fixture {
	t.Helper()
	if f, ok := fixtureCache.Load(name); ok {
		return f.(*fixture)
	}
	fh, err := os.Open(filepath.Join(fixtureDir, name+".img.gz"))
	require.NoError(t, err)
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	require.NoError(t, err)
	head := make([]byte, PageSize)
	_, err = io.ReadFull(zr, head)
	require.NoError(t, err)
	sb, err := DecodeSuperBlock(head)
	require.NoError(t, err)
	end := (int64(sb.MDStart) + int64(sb.MDLen)) * PageSize
	data := make([]byte, end)
	copy(data, head)
	_, err = io.ReadFull(zr, data[PageSize:])
	require.NoError(t, err)
	f := &fixture{name: name, data: data, sb: sb}
	fixtureCache.Store(name, f)
	return f
}

// tagsPages bounds how much of the 327,680-page md region of the tags images
// is read: every page in use there lies below it (checked against the masks
// and the chains in the test).
const tagsPages = 1024

var tarOnce sync.Map // name -> string dir

// loadTags extracts a sparse tags image to a temp dir (skipped without tar)
// and reads its super block, masks and the first tagsPages md pages.
func loadTags(t *testing.T, name string) *fixture {
	t.Helper()
	if f, ok := fixtureCache.Load(name); ok {
		return f.(*fixture)
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not found: cannot extract sparse tags images")
	}
	dir := t.TempDir()
	out, err := exec.Command("tar", "-xSzf", filepath.Join(fixtureDir, name+".img.sparse.tgz"), "-C", dir).CombinedOutput()
	require.NoError(t, err, "tar: %s", out)
	matches, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	fh, err := os.Open(matches[0])
	require.NoError(t, err)
	defer fh.Close()
	sb, err := ReadSuperBlock(fh)
	require.NoError(t, err)
	end := (int64(sb.MDStart) + tagsPages) * PageSize
	data := make([]byte, end)
	_, err = fh.ReadAt(data, 0)
	require.NoError(t, err)
	f := &fixture{name: name, data: data, sb: sb}
	// Stale or not, the used page mask must not mark pages past what we read.
	pm, err := ReadMask(f.reader(), sb, MaskUsedPages)
	require.NoError(t, err)
	pm.Each(func(i uint64) { require.Less(t, i, uint64(tagsPages), "%s: used md page %d", name, i) })
	fixtureCache.Store(name, f)
	return f
}

func loadFixture(t *testing.T, name string) *fixture {
	for _, n := range tagImages {
		if n == name {
			return loadTags(t, name)
		}
	}
	return loadGz(t, name)
}

func allFixtures() []string { return append(append([]string(nil), gzImages...), tagImages...) }

// scanBlobs does what a dirty load does: every md page with a good CRC,
// sequence 0, its own blob id and not an extent page starts a blob.
func scanBlobs(t *testing.T, f *fixture) []*Blob {
	t.Helper()
	n := f.sb.MDLen
	if lim := uint32(len(f.data)/PageSize) - f.sb.MDStart; lim < n {
		n = lim
	}
	var blobs []*Blob
	for idx := uint32(0); idx < n; idx++ {
		p, err := DecodePage(f.page(t, idx))
		if err != nil || p.Sequence != 0 || p.ID != BlobID(idx) || p.IsExtentPage() {
			continue
		}
		b, err := ReadBlob(f.reader(), f.sb, idx, ParseOptions{})
		require.NoError(t, err, "%s: blob at page %d", f.name, idx)
		blobs = append(blobs, b)
	}
	return blobs
}

// notInManifest: blobs on disk that a manifest does not list.
var notInManifest = map[string][]testfix.ManifestRef{
	"resurrection-pending": {{Name: "backup-1", UUID: "877aaf96-4cfd-4d02-85f9-f345a1de9362"}},
}

func readManifest(t *testing.T, name string) testfix.Manifest {
	t.Helper()
	return testfix.ReadManifest(t, filepath.Join(fixtureDir, name+".manifest.json"))
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, file))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, v))
}

// TestFixtureDecode decodes every fixture and compares the lvstore and every
// lvol with what the real target reported.
func TestFixtureDecode(t *testing.T) {
	for _, name := range allFixtures() {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			m := readManifest(t, name)
			require.Len(t, m.Lvstores, 1)
			ls := m.Lvstores[0]
			require.Equal(t, LvolstoreBstype, f.sb.BstypeString())
			require.EqualValues(t, ls.ClusterSize, f.sb.ClusterSize)

			blobs := scanBlobs(t, f)
			byID := map[uint64]*Blob{}
			byUUID := map[string]*Blob{}
			for _, b := range blobs {
				byID[b.ID] = b
				if u, ok := b.UUID(); ok && b.ID != f.sb.SuperBlob {
					require.NotContains(t, byUUID, u, "duplicate uuid")
					byUUID[u] = b
				}
			}
			super := byID[f.sb.SuperBlob]
			require.NotNil(t, super, "super blob %#x", f.sb.SuperBlob)
			n, _ := super.Name()
			u, _ := super.UUID()
			require.Equal(t, ls.Name, n)
			require.Equal(t, ls.UUID, u)
			// The lvstore name and uuid are the string plus one NUL.
			raw, _ := super.Xattr(XattrUUID)
			require.Len(t, raw, 37)

			want := len(m.Lvols) + len(m.PersistedNotLive)
			if extra, ok := notInManifest[name]; ok {
				// The manifest is the live view before shutdown; the
				// force-removed lvol is on disk all the same.
				m.PersistedNotLive = append(m.PersistedNotLive, extra...)
				want += len(extra)
			}
			require.Len(t, byUUID, want, "lvol blobs on disk")
			for _, lv := range m.Lvols {
				b := byUUID[lv.UUID]
				require.NotNil(t, b, "lvol %s", lv.Name)
				got, _ := b.Name()
				require.Equal(t, lv.Name, got)
				rawName, _ := b.Xattr(XattrName)
				// Created lvols carry a 256-byte NUL-padded name; a rename
				// writes the string plus one NUL.
				if len(rawName) != 256 {
					require.Len(t, rawName, len(lv.Name)+1, "%s name xattr", lv.Name)
				}
				require.Equal(t, lv.Thin, b.Thin(), "%s thin", lv.Name)
				require.Equal(t, lv.SizeBytes, b.NumClusters*ls.ClusterSize, "%s size", lv.Name)
				if lv.Snapshot {
					require.True(t, b.ReadOnly(), "%s: snapshots are read-only", lv.Name)
				}
				if lv.BaseSnapshot != nil {
					pid, ok := b.Parent()
					require.True(t, ok, "%s has a parent", lv.Name)
					parent := byID[pid]
					require.NotNil(t, parent, "%s parent %#x", lv.Name, pid)
					pn, _ := parent.Name()
					require.Equal(t, *lv.BaseSnapshot, pn)
				}
			}
			for _, lv := range m.PersistedNotLive {
				b := byUUID[lv.UUID]
				require.NotNil(t, b, "persisted-not-live %s", lv.Name)
				got, _ := b.Name()
				require.Equal(t, lv.Name, got)
			}
			if f.sb.Clean == 1 {
				checkMasks(t, f, blobs)
			}
		})
	}
}

// checkMasks: on a clean image the three masks are exactly what the blobs
// own.
func checkMasks(t *testing.T, f *fixture, blobs []*Blob) {
	t.Helper()
	r := f.reader()
	pm, err := ReadMask(r, f.sb, MaskUsedPages)
	require.NoError(t, err)
	cm, err := ReadMask(r, f.sb, MaskUsedClusters)
	require.NoError(t, err)
	im, err := ReadMask(r, f.sb, MaskUsedBlobIDs)
	require.NoError(t, err)
	require.EqualValues(t, f.sb.MDLen, pm.Length)
	require.EqualValues(t, f.sb.MDLen, im.Length)
	require.EqualValues(t, f.sb.TotalClusters(), cm.Length)

	var pages, ids, clusters []uint64
	for c := uint64(0); c < f.sb.MDClusters(); c++ {
		clusters = append(clusters, c)
	}
	for _, b := range blobs {
		idx, _ := PageIndex(b.ID)
		ids = append(ids, uint64(idx))
		for _, p := range b.Pages {
			pages = append(pages, uint64(p))
		}
		for _, p := range b.ExtentPages {
			pages = append(pages, uint64(p))
		}
		for _, run := range b.Clusters {
			for i := uint64(0); i < run.Count; i++ {
				clusters = append(clusters, run.Physical+i)
			}
		}
	}
	require.Equal(t, sorted(pages), setBits(pm), "used pages")
	require.Equal(t, sorted(ids), setBits(im), "used blob ids")
	require.Equal(t, sorted(clusters), setBits(cm), "used clusters")
}

func sorted(v []uint64) []uint64 {
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v
}

func setBits(m *Mask) []uint64 {
	var out []uint64
	m.Each(func(i uint64) { out = append(out, i) })
	return out
}

// TestTagsChains compares chain pages and allocated clusters of every blob
// of the tags images with tags.chains.json (multi-page chains, a 300 GiB
// thick lvol with 600 extent pages, a chain grown into a freed page).
func TestTagsChains(t *testing.T) {
	type chainInfo struct {
		ChainPages        []uint32 `json:"chain_pages"`
		AllocatedClusters uint64   `json:"allocated_clusters"`
	}
	var chains map[string]struct {
		BlobIDHex string    `json:"blob_id_hex"`
		Clean     chainInfo `json:"clean_image_A"`
		Dirty     chainInfo `json:"dirty_image_B"`
	}
	readJSON(t, "tags.chains.json", &chains)
	require.NotEmpty(t, chains)
	for _, image := range tagImages {
		t.Run(image, func(t *testing.T) {
			f := loadFixture(t, image)
			byName := map[string]*Blob{}
			for _, b := range scanBlobs(t, f) {
				n, _ := b.Name()
				byName[n] = b
			}
			for name, c := range chains {
				want := c.Clean
				if image == "tags-dirty" {
					want = c.Dirty
				}
				b := byName[name]
				require.NotNil(t, b, name)
				require.Equal(t, c.BlobIDHex, fmt.Sprintf("%#x", b.ID), name)
				require.Equal(t, want.ChainPages, b.Pages, name)
				require.Equal(t, want.AllocatedClusters, b.AllocatedClusters(), name)
			}
			wide := byName["wide-thick"]
			require.Len(t, wide.ExtentPages, 600)
			require.False(t, wide.Thin())
		})
	}
}
