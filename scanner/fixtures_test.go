package scanner

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/stretchr/testify/require"
)

const fixtureDir = "../testdata/fixtures"

var (
	imgMu    sync.Mutex
	imgCache = map[string]memImage{}
	imgDir   string
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "lvfsck-scanner-test-")
	if err != nil {
		panic(err)
	}
	imgDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// memImage is an image in memory of which only a prefix is stored: reads
// beyond it return zeros, up to size. The scan never reads past the md
// region, so a fixture's prefix is all a test needs, and a 4 GiB image
// costs 16 MiB.
type memImage struct {
	b    []byte
	size int64
}

func (m memImage) Size() int64 { return m.size }

func (m memImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= m.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), m.size-off))
	if off < int64(len(m.b)) {
		k := copy(p[:n], m.b[off:])
		clear(p[k:n])
	} else {
		clear(p[:n])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fixtureImage returns the super block, masks and md region of
// NAME.img.gz (decompressed as far as the md region ends), and its size.
// Callers get their own copy.
func fixtureImage(t testing.TB, name string) memImage {
	t.Helper()
	imgMu.Lock()
	defer imgMu.Unlock()
	m, ok := imgCache[name]
	if !ok {
		f, err := os.Open(filepath.Join(fixtureDir, name+".img.gz"))
		require.NoError(t, err)
		defer f.Close()
		zr, err := gzip.NewReader(f)
		require.NoError(t, err)
		first := make([]byte, pageSize)
		_, err = io.ReadFull(zr, first)
		require.NoError(t, err)
		sb := decodeSuper(first)
		rest := make([]byte, (int(sb.MDStart)+int(sb.MDLen)-1)*pageSize)
		_, err = io.ReadFull(zr, rest)
		require.NoError(t, err)
		m = memImage{b: append(first, rest...), size: int64(sb.Size)}
		imgCache[name] = m
	}
	return memImage{b: append([]byte(nil), m.b...), size: m.size}
}

// fixturePath returns the path of NAME.img.gz decompressed in full
// (sparse, through the same inflate ScanPath uses), once per test binary.
var pathCache = map[string]string{}

func fixturePath(t testing.TB, name string) string {
	t.Helper()
	imgMu.Lock()
	defer imgMu.Unlock()
	if p, ok := pathCache[name]; ok {
		return p
	}
	p := inflateNamed(t, filepath.Join(fixtureDir, name+".img.gz"), imgDir)
	pathCache[name] = p
	return p
}

// inflateNamed decompresses the gzip image gz into a named sparse file in
// dir, through the scanner's own inflate, and returns its path.
func inflateNamed(t testing.TB, gz, dir string) string {
	t.Helper()
	in, err := os.Open(gz)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.CreateTemp(dir, "inflated-*.img")
	require.NoError(t, err)
	defer out.Close()
	_, err = inflateInto(context.Background(), in, out)
	require.NoError(t, err)
	return out.Name()
}

func scanFixture(t testing.TB, name string, mode Mode) *View {
	t.Helper()
	return scanImage(t, fixtureImage(t, name), mode)
}

func scanImage(t testing.TB, img Source, mode Mode) *View {
	t.Helper()
	v, err := Scan(context.Background(), img, Options{Mode: mode})
	require.NoError(t, err)
	return v
}

func readManifest(t testing.TB, path string) testfix.Manifest {
	t.Helper()
	m := testfix.ReadManifest(t, path)
	require.Len(t, m.Lvstores, 1)
	return m
}

// loadedLvols are the lvols SPDK would list after loading v.
func loadedLvols(v *View) map[string]BlobInfo {
	out := map[string]BlobInfo{}
	for _, b := range v.Blobs {
		if b.IsLvol && (b.Loads == finding.LoadOK || b.Loads == finding.LoadDegraded) {
			out[b.LvolName] = b
		}
	}
	return out
}

// checkManifest asserts that v holds exactly the lvols of m (plus its
// persisted_not_live ones), with their attributes.
func checkManifest(t *testing.T, v *View, m testfix.Manifest, extra map[string]string) {
	t.Helper()
	ls := m.Lvstores[0]
	require.Equal(t, ls.Name, v.Lvstore.Name)
	require.Equal(t, ls.UUID, v.Lvstore.UUID)
	require.Equal(t, ls.ClusterSize, uint64(v.Lvstore.ClusterSize))
	require.Equal(t, finding.LoadOK, v.Lvstore.Loads)

	got := loadedLvols(v)
	byID := map[uint64]BlobInfo{}
	for _, b := range v.Blobs {
		byID[b.ID] = b
	}
	notLive := map[string]string{}
	for _, p := range m.PersistedNotLive {
		notLive[p.Name] = p.UUID
	}
	for n, u := range extra {
		notLive[n] = u
	}
	var want []string
	for _, l := range m.Lvols {
		want = append(want, l.Name)
	}
	for n := range notLive {
		want = append(want, n)
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(want)
	sort.Strings(names)
	require.Equal(t, want, names, "loaded lvols")

	for n, u := range notLive {
		require.Equal(t, u, got[n].LvolUUID, n)
	}
	var allocated uint64
	for _, b := range v.Blobs {
		allocated += b.AllocatedClusters
	}
	if len(notLive) == 0 {
		// the live free count is exact only when nothing was force-removed
		require.Equal(t, ls.TotalDataClusters-ls.FreeClusters, allocated, "allocated clusters")
	}
	require.Equal(t, ls.TotalDataClusters, v.Lvstore.TotalClusters-v.Lvstore.MDClusters, "data clusters")

	for _, l := range m.Lvols {
		b := got[l.Name]
		require.Equal(t, l.UUID, b.LvolUUID, l.Name)
		require.Equal(t, l.Thin, b.Thin, "%s thin", l.Name)
		require.Equal(t, l.SizeBytes, b.SizeBytes, "%s size", l.Name)
		require.Equal(t, l.Snapshot, b.IsSnapshot, "%s snapshot", l.Name)
		if l.Snapshot {
			require.True(t, b.ReadOnly, "%s: a snapshot is read-only", l.Name)
		}
		require.Equal(t, l.Clone, b.Parent != 0, "%s clone", l.Name)
		switch {
		case l.BaseSnapshot != nil:
			require.Equal(t, *l.BaseSnapshot, byID[b.Parent].LvolName, "%s base snapshot", l.Name)
		case l.Clone:
			// live view lost the base (forced removal): it must be persisted
			_, ok := notLive[byID[b.Parent].LvolName]
			require.True(t, ok, "%s: parent %#x is neither live nor persisted_not_live", l.Name, b.Parent)
		}
		var clones []string
		for _, c := range b.Clones {
			if _, live := notLive[byID[c].LvolName]; !live {
				clones = append(clones, byID[c].LvolName)
			}
		}
		wantClones := append([]string(nil), l.Clones...)
		sort.Strings(clones)
		sort.Strings(wantClones)
		require.Equal(t, len(wantClones), len(clones), "%s clones", l.Name)
		if len(wantClones) > 0 {
			require.Equal(t, wantClones, clones, "%s clones", l.Name)
		}
	}
	for _, f := range v.Findings {
		require.Less(t, f.Severity, finding.Error, "good fixture has an error finding: %s", f)
	}
}

func TestFixturesMatchManifest(t *testing.T) {
	cases := []struct {
		name     string
		manifest string
		mode     Mode
		// extra are persisted lvols the manifest's live view lacks
		extra map[string]string
	}{
		{"basic-1m", "basic-1m", ModeClean, nil},
		{"default-cluster-esnap", "default-cluster-esnap", ModeClean, nil},
		{"dirty-kill9", "dirty-kill9", ModeRecovery, nil},
		{"many-lvols", "many-lvols", ModeClean, nil},
		{"resurrection-pending", "resurrection-pending", ModeClean, map[string]string{"backup-1": "877aaf96-4cfd-4d02-85f9-f345a1de9362"}},
		{"resurrection-pending-live", "resurrection-pending-live", ModeRecovery, nil},
		{"notify-pending-live", "notify-pending-live", ModeRecovery, nil},
		{"shallow-copy-pending-live", "shallow-copy-pending-live", ModeRecovery, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(fixtureDir, c.name+".img.gz")); err != nil {
				t.Skipf("fixture missing: %v", err)
			}
			m := readManifest(t, filepath.Join(fixtureDir, c.manifest+".manifest.json"))
			v := scanFixture(t, c.name, ModeAuto)
			require.Equal(t, c.mode, v.Mode, "auto mode follows the clean flag")
			checkManifest(t, v, m, c.extra)
			if c.mode == ModeClean {
				// a clean image gives the same lvols when recovered
				checkManifest(t, scanFixture(t, c.name, ModeRecovery), m, c.extra)
			}
		})
	}
}

func TestDirtyKill9MatchesWhatSPDKRecovered(t *testing.T) {
	v := scanFixture(t, "dirty-kill9", ModeRecovery)
	b, err := os.ReadFile(filepath.Join(fixtureDir, "dirty-kill9.after-recovery.bdev_lvol_get_lvols.json"))
	require.NoError(t, err)
	var live []struct {
		Name string `json:"name"`
		UUID string `json:"uuid"`
	}
	require.NoError(t, json.Unmarshal(b, &live))
	got := loadedLvols(v)
	require.Len(t, got, len(live))
	for _, l := range live {
		require.Equal(t, l.UUID, got[l.Name].LvolUUID, l.Name)
	}
}

func TestReadOnlyLvol(t *testing.T) {
	v := scanFixture(t, "default-cluster-esnap", ModeAuto)
	a, ok := v.Lvol("a")
	require.True(t, ok)
	require.True(t, a.ReadOnly)
	require.False(t, a.IsSnapshot, "read-only without clones is not a snapshot")
	e, ok := v.Lvol("esnap-clone")
	require.True(t, ok)
	require.Equal(t, "79d39fd6-fbc4-4411-a9a2-4afed72f9428", e.ExternalSnapshot)
	require.Equal(t, finding.LoadDegraded, e.Loads)
}

// TestTags scans the 320 GiB sparse tags images (1.25 GiB md region, real
// multi-page chains, a stale used-page mask in the dirty one). About 10 s
// with -race; skipped with -short or LVFSCK_TAGS=0.
func TestTags(t *testing.T) {
	if testing.Short() || os.Getenv("LVFSCK_TAGS") == "0" {
		t.Skip("skipped with -short or LVFSCK_TAGS=0")
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar missing")
	}
	var chains map[string]struct {
		ID    string `json:"blob_id_hex"`
		Clean struct {
			Pages     []uint32 `json:"chain_pages"`
			Allocated uint64   `json:"allocated_clusters"`
		} `json:"clean_image_A"`
		Dirty struct {
			Pages     []uint32 `json:"chain_pages"`
			Allocated uint64   `json:"allocated_clusters"`
		} `json:"dirty_image_B"`
	}
	b, err := os.ReadFile(filepath.Join(fixtureDir, "tags.chains.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &chains))
	for _, c := range []struct {
		name string
		mode Mode
	}{{"tags-clean", ModeClean}, {"tags-dirty", ModeRecovery}} {
		t.Run(c.name, func(t *testing.T) {
			path := extractTags(t, c.name)
			v, err := ScanPath(context.Background(), path, Options{}, t.TempDir())
			require.NoError(t, err)
			require.Equal(t, c.mode, v.Mode)
			require.Greater(t, v.Stats.HolePages, uint64(300000), "the empty md region is skipped as holes")
			checkManifest(t, v, readManifest(t, filepath.Join(fixtureDir, c.name+".manifest.json")), nil)
			for name, ch := range chains {
				want := ch.Clean
				if c.mode == ModeRecovery {
					want.Pages, want.Allocated = ch.Dirty.Pages, ch.Dirty.Allocated
				}
				if len(want.Pages) == 0 {
					continue
				}
				blob, ok := v.Blob(blobIDOf(want.Pages[0]))
				require.True(t, ok, name)
				require.Equal(t, want.Pages, blob.Pages, name)
				require.Equal(t, want.Allocated, blob.AllocatedClusters, name)
			}
		})
	}
}

func extractTags(t testing.TB, name string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("tar", "-xSzf", filepath.Join(fixtureDir, name+".img.sparse.tgz"), "-C", dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	m, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	require.Len(t, m, 1)
	return m[0]
}
