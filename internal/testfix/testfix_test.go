package testfix

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

// failT records a failure and stops the goroutine, as testing.T does; it
// overrides what require calls (the embedded nil TB is never reached).
type failT struct {
	testing.TB
	failed bool
}

func (f *failT) Helper()               {}
func (f *failT) Errorf(string, ...any) { f.failed = true }
func (f *failT) FailNow()              { f.failed = true; runtime.Goexit() }
func (f *failT) Name() string          { return "failT" }

func runGolden(path string, got []byte) bool {
	ft := &failT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Golden(ft, path, got)
	}()
	<-done
	return ft.failed
}

func TestGolden(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.golden")
	require.NoError(t, os.WriteFile(p, []byte("same\n"), 0o644))
	tests := []struct {
		name     string
		path     string
		got      string
		wantFail bool
	}{
		{"equal", p, "same\n", false},
		{"differs", p, "other\n", true},
		{"missing file", p + ".nope", "same\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.wantFail, runGolden(tc.path, []byte(tc.got)))
		})
	}
}

func TestGoldenUpdateWrites(t *testing.T) {
	old := *update
	*update = true
	defer func() { *update = old }()
	p := filepath.Join(t.TempDir(), "sub", "new.golden")
	require.False(t, runGolden(p, []byte("fresh\n")))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "fresh\n", string(b))
}

func TestInflateSparse(t *testing.T) {
	dir := t.TempDir()
	// A data block, a zero block (skipped, a hole), a short tail of zeros
	// that must still count in the size.
	data := append(bytes.Repeat([]byte{7}, 1<<16), make([]byte, 1<<16+100)...)
	data[len(data)-200] = 1
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	src := filepath.Join(dir, "x.img.gz")
	require.NoError(t, os.WriteFile(src, gz.Bytes(), 0o644))
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, data[:100], 0o644))

	for _, tc := range []struct {
		name    string
		inflate func(testing.TB, string, string)
	}{
		{"InflateSparse", InflateSparse},
		{"InflateSparseCached", InflateSparseCached},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the cached one's second copy comes from memory.
			for i := range 2 {
				dst := filepath.Join(t.TempDir(), "x.img")
				tc.inflate(t, src, dst)
				got, err := os.ReadFile(dst)
				require.NoError(t, err)
				require.Equal(t, data, got, "copy %d", i)
			}

			// A real capture inflates to its full size.
			real := filepath.Join(t.TempDir(), "basic-1m.img")
			tc.inflate(t, "../../testdata/fixtures/basic-1m.img.gz", real)
			st, err := os.Stat(real)
			require.NoError(t, err)
			require.Zero(t, st.Size()%4096)
			require.Greater(t, st.Size(), int64(1<<20))

			// Not gzip twice: a cached failure fails its every caller.
			for _, bad := range []string{filepath.Join(dir, "nope.gz"), plain, plain} {
				require.True(t, func() (failed bool) {
					ft := &failT{}
					done := make(chan struct{})
					go func() { defer close(done); tc.inflate(ft, bad, filepath.Join(t.TempDir(), "y.img")) }()
					<-done
					return ft.failed
				}(), "%s: a missing or non-gzip source fails the test, every time", bad)
			}
		})
	}
}

func TestReadManifest(t *testing.T) {
	m := ReadManifest(t, "../../testdata/fixtures/basic-1m.manifest.json")
	require.Equal(t, []ManifestLvstore{{UUID: "d0620e2e-5a79-41e7-b0d4-4ff89e5a3ead", Name: "lvs0",
		ClusterSize: 1 << 20, TotalDataClusters: 63, FreeClusters: 48}}, m.Lvstores)
	require.Len(t, m.Lvols, 5)
	snap := "snap1"
	require.Equal(t, ManifestLvol{Name: "vol-thin", UUID: "bf58dcba-8612-42a6-93a2-a7609f0c8037", Thin: true,
		Clone: true, SizeBytes: 16 << 20, BaseSnapshot: &snap}, m.Lvols[0])
}

func TestContradictions(t *testing.T) {
	old := finding.Finding{Code: "clone-lost-base-snapshot",
		Message:  "clone lvs/vol reports no base snapshot name: its parent snapshot was dropped (a forced removal) and comes back at the next restart",
		Evidence: map[string]string{"disk": `the clone's parent blob 0x100000003 ("snap") would not load (skip)`},
		Repair:   "Run `lvfsck check` with the lvstore's device to name the snapshot."}
	cases := []struct {
		name string
		f    finding.Finding
		want int
	}{
		{"comes back beside not-load evidence, device advice beside a read device", old, 2},
		{"comes back beside an SPDK skip", finding.Finding{Message: "it loads at the next restart", SPDK: finding.LoadSkip}, 1},
		{"comes back, loads", finding.Finding{Message: "it comes back at the next restart", SPDK: finding.LoadOK}, 0},
		{"device advice, device not read", finding.Finding{Repair: "Pass the lvstore's device with --device", Evidence: map[string]string{"disk": "not scanned"}}, 0},
		{"device advice, no disk evidence", finding.Finding{Repair: "Run `lvfsck check` with the lvstore's device"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Len(t, Contradictions(tc.f), tc.want, "%v", Contradictions(tc.f))
		})
	}
}
