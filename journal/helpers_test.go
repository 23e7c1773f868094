package journal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

const fixtures = "../testdata/fixtures/"

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 24, 22, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// openTest opens a fresh journal in a temp dir, closed at cleanup.
func openTest(t testing.TB) (*Journal, *clock) {
	t.Helper()
	return openAt(t, t.TempDir())
}

func openAt(t testing.TB, dir string) (*Journal, *clock) {
	t.Helper()
	c := newClock()
	j, err := Open(dir, Options{Now: c.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j, c
}

// bdevView is the part of a real bdev_get_bdevs answer that feeds an
// LvolObservation.
type bdevView struct {
	Name           string   `json:"name"`
	Aliases        []string `json:"aliases"`
	BlockSize      uint64   `json:"block_size"`
	NumBlocks      uint64   `json:"num_blocks"`
	DriverSpecific struct {
		Lvol *struct {
			LvstoreUUID  string `json:"lvol_store_uuid"`
			Thin         bool   `json:"thin_provision"`
			Snapshot     bool   `json:"snapshot"`
			Clone        bool   `json:"clone"`
			BaseSnapshot string `json:"base_snapshot"`
		} `json:"lvol"`
	} `json:"driver_specific"`
}

// fixtureLvols reads a captured bdev_get_bdevs answer into observations.
func fixtureLvols(t testing.TB, name string) []LvolObservation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	var bdevs []bdevView
	require.NoError(t, json.Unmarshal(b, &bdevs))
	var out []LvolObservation
	for _, bd := range bdevs {
		l := bd.DriverSpecific.Lvol
		if l == nil {
			continue
		}
		o := LvolObservation{
			UUID: bd.Name, LvstoreUUID: l.LvstoreUUID, SizeBytes: bd.BlockSize * bd.NumBlocks,
			Thin: l.Thin, Snapshot: l.Snapshot, Clone: l.Clone, BaseSnapshot: l.BaseSnapshot,
		}
		if len(bd.Aliases) > 0 {
			o.Alias = bd.Aliases[0]
			o.LvstoreName, o.Name, _ = strings.Cut(o.Alias, "/")
		}
		out = append(out, o)
	}
	require.NotEmpty(t, out, "no lvols in %s", name)
	return out
}

// dirBytes is the space the journal's files really take (allocated blocks,
// not apparent size: badger preallocates sparse files).
func dirBytes(t testing.TB, dir string) (allocated, apparent int64) {
	t.Helper()
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		apparent += fi.Size()
		allocated += blocksOf(fi)
		return nil
	})
	require.NoError(t, err)
	return allocated, apparent
}

func blocksOf(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

func nopLogger() zerolog.Logger { return zerolog.Nop() }
