package journal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/stretchr/testify/require"
)

// closedJournal writes n events into a new journal in dir and closes it,
// which leaves them in a table file (CompactL0OnClose).
func closedJournal(t *testing.T, dir string, n int) {
	t.Helper()
	j, clk := openAt(t, dir)
	for i := range n {
		_, err := j.RecordEvent(Event{Kind: "seen", LvolUUID: fmt.Sprintf("lvol-%03d", i), Detail: "listed"})
		require.NoError(t, err)
		clk.Advance(time.Second)
	}
	require.NoError(t, j.Close())
}

func tables(t *testing.T, dir string) []string {
	t.Helper()
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	require.NoError(t, err)
	require.NotEmpty(t, ssts, "a closed journal keeps its data in tables")
	return ssts
}

// TestOpenDamaged damages a real journal on disk the ways a disk or an
// operator can; every Open (read-write and read-only) and Verify must say
// it is damaged, never read it as an empty or shorter history, and never
// panic.
func TestOpenDamaged(t *testing.T) {
	damage := map[string]func(t *testing.T, dir string){
		"missing table": func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(tables(t, dir)[0]))
		},
		"truncated table": func(t *testing.T, dir string) {
			p := tables(t, dir)[0]
			fi, err := os.Stat(p)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(p, fi.Size()/2))
		},
		"manifest garbage": func(t *testing.T, dir string) {
			p := filepath.Join(dir, "MANIFEST")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			copy(b[len(b)/2:], "garbage garbage garbage")
			require.NoError(t, os.WriteFile(p, b, 0o600))
		},
	}
	for seed := range uint64(12) {
		damage[fmt.Sprintf("random bytes, seed %d", seed)] = func(t *testing.T, dir string) {
			rng := rand.New(rand.NewPCG(seed, 7))
			p := tables(t, dir)[0]
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			off := rng.IntN(len(b) - 32)
			for i := range 32 {
				b[off+i] = byte(rng.Uint32())
			}
			require.NoError(t, os.WriteFile(p, b, 0o600))
		}
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			closedJournal(t, dir, 40)
			hurt(t, dir)
			for _, ro := range []bool{false, true} {
				_, err := Open(dir, Options{ReadOnly: ro})
				require.ErrorIs(t, err, ErrCorrupt, "read-only %v", ro)
				require.Contains(t, err.Error(), dir)
			}
			_, err := Verify(context.Background(), dir, Options{})
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

// TestVerifyTableEveryByte changes each byte of a real table in turn:
// every change must be found.
func TestVerifyTableEveryByte(t *testing.T) {
	dir := t.TempDir()
	closedJournal(t, dir, 40)
	b, err := os.ReadFile(tables(t, dir)[0])
	require.NoError(t, err)
	n, err := verifyTable(b, options.Snappy, new([]byte))
	require.NoError(t, err)
	require.Positive(t, n)
	missed := 0
	for i := range b {
		b[i] ^= 0x5a
		if _, err := verifyTable(b, options.Snappy, new([]byte)); err == nil {
			missed++
			t.Logf("change at byte %d of %d not found", i, len(b))
		}
		b[i] ^= 0x5a
	}
	require.Zero(t, missed)
}

func TestVerifyWhole(t *testing.T) {
	dir := t.TempDir()
	closedJournal(t, dir, 40)
	rep, err := Verify(context.Background(), dir, Options{})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Tables)
	require.Positive(t, rep.Blocks)
	require.Greater(t, rep.Keys, 40, "every event, its index keys and the schema")
}

func TestReset(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	closedJournal(t, dir, 10)
	at := time.Date(2026, 12, 4, 15, 30, 0, 0, time.UTC)
	o := Options{Now: func() time.Time { return at }}

	_, err := Reset(ctx, dir, o, false)
	require.ErrorIs(t, err, ErrHealthy, "a whole journal is not thrown away by mistake")

	require.NoError(t, os.Remove(tables(t, dir)[0]))
	aside, err := Reset(ctx, dir, o, false)
	require.NoError(t, err)
	require.Equal(t, dir+".damaged-20261204T153000Z", aside)
	_, err = Verify(ctx, aside, Options{})
	require.ErrorIs(t, err, ErrCorrupt, "the damaged journal is kept as it was")

	j, err := Open(dir, Options{})
	require.NoError(t, err, "a new journal starts where the old one was")
	evs, err := j.Timeline(time.Time{})
	require.NoError(t, err)
	require.Empty(t, evs)

	_, err = Reset(ctx, dir, o, true)
	require.ErrorIs(t, err, ErrLocked, "never moved from under a run")
	require.NoError(t, j.Close())
}

func FuzzVerifyTable(f *testing.F) {
	dir := f.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(f, err)
	for i := range 20 {
		_, err := j.RecordEvent(Event{Kind: "seen", LvolUUID: fmt.Sprintf("lvol-%d", i)})
		require.NoError(f, err)
	}
	require.NoError(f, j.Close())
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, p := range ssts {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = verifyTable(b, options.Snappy, new([]byte))
		_, _ = verifyTable(b, options.None, new([]byte))
	})
}

// TestDamagedWAL: a journal whose writer was killed keeps its last writes
// in a WAL; bytes changed in the middle of it would make badger drop every
// entry after them. That is damage; a torn tail (TestCrashKill9) is not.
func TestDamagedWAL(t *testing.T) {
	live := t.TempDir()
	j, clk := openAt(t, live)
	for i := range 100 {
		_, err := j.RecordEvent(Event{Kind: "seen", LvolUUID: fmt.Sprintf("lvol-%03d", i)})
		require.NoError(t, err)
		clk.Advance(time.Second)
	}
	killed, err := copyJournal(live) // as a SIGKILL leaves it
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(killed) })
	require.NoError(t, j.Close())
	mems, err := filepath.Glob(filepath.Join(killed, "*.mem"))
	require.NoError(t, err)
	require.Len(t, mems, 1)
	b, err := os.ReadFile(mems[0])
	require.NoError(t, err)
	require.NoError(t, verifyWAL(b), "a whole WAL")

	end := walEnd(b)
	torn := slices.Clone(b)
	clear(torn[end-10 : end]) // the last entry half written
	require.NoError(t, verifyWAL(torn), "a torn tail is what a kill leaves")

	for _, at := range []int{walHeaderLen + 5, end / 3, end / 2, end - 200} {
		hurt := slices.Clone(b)
		for i := range 16 {
			hurt[at+i] ^= 0xa5
		}
		require.Error(t, verifyWAL(hurt), "damage at %d of %d", at, end)
	}
	for i := range 16 {
		b[end/2+i] ^= 0xa5
	}
	require.NoError(t, os.WriteFile(mems[0], b, 0o600))
	_, err = Open(killed, Options{})
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, err.Error(), filepath.Base(mems[0]))
}

func FuzzVerifyWAL(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Add([]byte("0123456789abcdefghij\x40\x00\x05\x03\x00keys1val\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) { _ = verifyWAL(b) })
}
