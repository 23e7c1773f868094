package journal

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLockNamesHolder(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{Command: "check"})
	require.NoError(t, err)

	for _, ro := range []bool{false, true} {
		_, err = Open(dir, Options{ReadOnly: ro})
		var le *LockedError
		require.True(t, errors.As(err, &le), "read-only %v: %v", ro, err)
		require.ErrorIs(t, err, ErrLocked)
		require.Equal(t, os.Getpid(), le.Holder.PID)
		require.Equal(t, "check", le.Holder.Command)
		require.Contains(t, err.Error(), "(lvfsck check)")
	}
	require.NoError(t, j.Close())

	// The holder is cleared at Close: nobody is named for a lock a
	// reader holds.
	r, err := Open(dir, Options{ReadOnly: true})
	require.NoError(t, err)
	_, err = Open(dir, Options{})
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.Zero(t, le.Holder.PID)
	require.NoError(t, r.Close())
}

func TestWaitLock(t *testing.T) {
	for _, ro := range []bool{false, true} {
		dir := t.TempDir()
		j, err := Open(dir, Options{Command: "check"})
		require.NoError(t, err)

		start := time.Now()
		_, err = Open(dir, Options{ReadOnly: ro, WaitLock: 150 * time.Millisecond})
		require.ErrorIs(t, err, ErrLocked)
		require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "it waited")
		require.Contains(t, err.Error(), "after waiting 150ms")

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = OpenContext(ctx, dir, Options{ReadOnly: ro, WaitLock: time.Hour})
		require.ErrorIs(t, err, context.Canceled, "a cancelled wait ends at once")

		go func() {
			time.Sleep(100 * time.Millisecond)
			_ = j.Close()
		}()
		k, err := Open(dir, Options{ReadOnly: ro, WaitLock: 30 * time.Second})
		require.NoError(t, err, "read-only %v: the lock came free while waiting", ro)
		require.NoError(t, k.Close())
	}
}

// dirSums hashes every file of dir, to show a reader changed nothing.
func dirSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// TestBriefHolderWaitedOut: guard and watch hold the journal only while
// they write; a writer (a cron check without --wait-lock) that meets one
// waits it out, and still fails at once on any other holder.
func TestBriefHolderWaitedOut(t *testing.T) {
	for _, tc := range []struct {
		holder string
		waits  bool
	}{{"guard", true}, {"watch", true}, {"check", false}, {"", false}} {
		t.Run(cmp.Or(tc.holder, "unnamed"), func(t *testing.T) {
			dir := t.TempDir()
			j, err := Open(dir, Options{Command: tc.holder})
			require.NoError(t, err)
			released := make(chan struct{})
			go func() {
				time.Sleep(300 * time.Millisecond)
				assert.NoError(t, j.Close())
				close(released)
			}()
			w, err := Open(dir, Options{Command: "check"})
			if tc.waits {
				require.NoError(t, err)
				require.NoError(t, w.Close())
			} else {
				require.ErrorIs(t, err, ErrLocked)
			}
			<-released
		})
	}
}

func TestReadOnly(t *testing.T) {
	t.Run("closed journal, readers share it", func(t *testing.T) {
		dir := t.TempDir()
		closedJournal(t, dir, 30)
		before := dirSums(t, dir)
		a, err := Open(dir, Options{ReadOnly: true})
		require.NoError(t, err)
		b, err := Open(dir, Options{ReadOnly: true})
		require.NoError(t, err, "two readers at once")
		for _, j := range []*Journal{a, b} {
			evs, err := j.Timeline(time.Time{})
			require.NoError(t, err)
			require.Len(t, evs, 30)
			require.NoError(t, j.Close())
		}
		require.Equal(t, before, dirSums(t, dir), "a reader writes nothing")
	})
	t.Run("support bundle copied from a live journal", func(t *testing.T) {
		// Copied while its writer was running: the WAL is there, not yet
		// a table, no lock file; badger will not open that read-only.
		live := t.TempDir()
		j, clk := openAt(t, live)
		for range 25 {
			_, err := j.RecordEvent(Event{Kind: "seen", LvolUUID: "lvol-1"})
			require.NoError(t, err)
			clk.Advance(time.Second)
		}
		bundle, err := copyJournal(live)
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(bundle) })
		require.NoError(t, j.Close())
		before := dirSums(t, bundle)

		r, err := Open(bundle, Options{ReadOnly: true})
		require.NoError(t, err)
		evs, err := r.Timeline(time.Time{})
		require.NoError(t, err)
		require.Len(t, evs, 25)
		cp := r.copy
		require.NotEmpty(t, cp, "read from a private copy")
		require.NoError(t, r.Close())
		require.NoDirExists(t, cp, "the copy is removed at Close")
		require.Equal(t, before, dirSums(t, bundle), "the bundle is left as it was")
	})
	t.Run("no journal there", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "none")
		_, err := Open(dir, Options{ReadOnly: true})
		require.ErrorIs(t, err, os.ErrNotExist)
		require.NoDirExists(t, dir, "a reader creates nothing")
	})
}

func TestWaitingSaysWho(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{Command: "repair"})
	require.NoError(t, err)
	var told []Holder
	_, err = Open(dir, Options{WaitLock: 120 * time.Millisecond, Waiting: func(h Holder) { told = append(told, h) }})
	require.ErrorIs(t, err, ErrLocked)
	require.Len(t, told, 1, "told once, however long the wait")
	require.Equal(t, "repair", told[0].Command)
	require.NoError(t, j.Close())
}

// TestHolderOfDeadProcess: a record left by a killed writer names nobody.
func TestHolderOfDeadProcess(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, lockFileName)
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid
	require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf("pid %d\ncommand delete\n", dead)), 0o600))
	require.Zero(t, readHolder(p).PID)
	require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf("pid %d\ncommand delete\n", os.Getpid())), 0o600))
	require.Equal(t, Holder{PID: os.Getpid(), Command: "delete"}, readHolder(p))
}
