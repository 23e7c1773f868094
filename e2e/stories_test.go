package e2e

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/spdk"
)

// names reports whether a finding of warning severity or worse is about
// the lvol with that uuid.
func (r checkResult) names(uuid string) bool {
	for _, f := range r.doc.Findings {
		if f.LvolUUID == uuid && f.Severity >= finding.Warning {
			return true
		}
	}
	return false
}

// Longhorn's fix (lib-fixed) on a busy delete, as the fixed-busy capture
// recorded it: the delete answers busy, yet the lvol is hidden (its bdev
// unregistered, the clone still naming it), retries answer "Invalid
// argument", a clean shutdown never finishes, and after the kill and the
// restart it is back and deletes normally. lvfsck names it a hidden zombie
// before the restart and resurrected after it; the sim's fixed flavour does
// the same (issue 10).
func TestFixedZombieHangsShutdown(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{fixed: true})
		snapUUID := setup(t, tg)
		require.Equal(t, 0, tg.check(t, state).code)

		delErr, hd := holdAndDelete(t, tg)
		require.ErrorIs(t, delErr, spdk.ErrBusy, "the fix answers the busy error")
		hd.wait()
		_, listed := tg.lvol("backup-1")
		require.False(t, listed, "hidden all the same")
		require.Equal(t, "backup-1", tg.lvolDriver("lvs-r/replica-a").BaseSnapshot, "the clone still names it")
		evs, err := tg.c.NotifyGetNotifications(ctxT(t), 0, 0)
		require.NoError(t, err)
		last := evs[len(evs)-1]
		require.Equal(t, "bdev_unregister", last.Type)
		require.Equal(t, snapUUID, last.Ctx)
		for _, ref := range []string{"lvs-r/backup-1", snapUUID} {
			err := tg.c.DeleteLvol(ctxT(t), ref)
			require.ErrorIs(t, err, spdk.ErrInvalidParams, "retry by %s, the checksum over: cannot be deleted until a restart", ref)
		}
		r := tg.check(t, state)
		require.Equal(t, 4, r.code, "%s", r)
		z := r.of("hidden-zombie")
		require.Len(t, z, 1, "%s", r)
		require.Equal(t, snapUUID, z[0].LvolUUID)
		require.Empty(t, r.of("pending-resurrection"), "told apart from a forced removal: %s", r)

		require.False(t, tg.stopHangs(3*time.Second), "a clean shutdown never finishes with the zombie")
		log, err := os.ReadFile(tg.logf)
		require.NoError(t, err)
		require.Contains(t, string(log), "Cannot unload lvol store - operations on lvols pending")
		scanOK(t, image) // killed: dirty, recovery mode

		tg2 := tg.again()
		back, ok := tg2.lvol("backup-1")
		require.True(t, ok, "back after the restart")
		require.Equal(t, snapUUID, back.UUID)
		r = tg2.check(t, state)
		require.Equal(t, 4, r.code, "%s", r)
		res := r.of("resurrected")
		require.Len(t, res, 1, "%s", r)
		require.Equal(t, snapUUID, res[0].LvolUUID)
		require.NoError(t, tg2.c.DeleteLvol(ctxT(t), "lvs-r/backup-1"), "deletes normally now")

		tg3 := tg2.restart("SIGINT")
		_, ok = tg3.lvol("backup-1")
		require.False(t, ok, "gone for good")
	})
}

// liveView is every lvol as "alias uuid thin snapshot clone", sorted.
func liveView(t *testing.T, tg *target) []string {
	t.Helper()
	lvols, err := tg.c.GetLvols(ctxT(t), spdk.LvolQuery{})
	require.NoError(t, err)
	var out []string
	for _, l := range lvols {
		out = append(out, fmt.Sprintf("%s %s thin=%t snap=%t clone=%t", l.Alias, l.UUID, l.IsThinProvisioned, l.IsSnapshot, l.IsClone))
	}
	slices.Sort(out)
	return out
}

// SIGKILL with the lvstore loaded after creates, a snapshot, a delete, a
// rename and a resize (the dirty-kill9 capture's script): the image is
// consistent in recovery mode, the next start loads the same view, and
// check is clean before and after.
func TestDirtyRestartRecovers(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{hold: holdCopy})
		setup(t, tg)
		ctx := ctxT(t)
		for i := range 6 {
			_, err := tg.c.CreateLvol(ctx, "lvs-r", fmt.Sprintf("v%d", i), 4, i%2 == 0)
			require.NoError(t, err)
		}
		_, err := tg.c.Snapshot(ctx, "lvs-r/v1", "v1-snap")
		require.NoError(t, err)
		require.NoError(t, tg.c.DeleteLvol(ctx, "lvs-r/v3"))
		require.NoError(t, tg.c.RenameLvol(ctx, "lvs-r/v4", "v4-renamed"))
		require.NoError(t, tg.c.ResizeLvol(ctx, "lvs-r/v5", 8))
		r := tg.check(t, state)
		require.Equal(t, 0, r.code, "%s", r)
		before := liveView(t, tg)

		tg.stop("SIGKILL")
		scanOK(t, image) // dirty: recovery mode
		tg2 := tg.again()
		require.Equal(t, before, liveView(t, tg2), "recovery loads what was live")
		r = tg2.check(t, state)
		require.Equal(t, 0, r.code, "%s", r)
		require.Empty(t, r.codes(), "%s", r)
	})
}

// 1000 thin lvols (the many-lvols capture's shape): check is clean, after
// a clean restart and after a SIGKILL and recovery.
func TestThousandLvols(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		image, state := diskAndState(t)
		tg := b.start(t, image, opts{simSize: "2G"})
		tg.createLvstore("lvs-m")
		ctx := ctxFor(t, 2*time.Minute)
		// concurrent calls: one at a time the real target answers every ~8 ms.
		names := make(chan string)
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range names {
					if _, err := tg.c.CreateLvol(ctx, "lvs-m", n, 64, true); err != nil {
						errs <- fmt.Errorf("%s: %w", n, err)
					}
				}
			}()
		}
		t0 := time.Now()
		for i := range 1000 {
			names <- fmt.Sprintf("r%04d", i)
		}
		close(names)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		t.Logf("1000 lvols created in %s", time.Since(t0))
		view := liveView(t, tg)
		require.Len(t, view, 1000)

		for i, sig := range []string{"", "SIGINT", "SIGKILL"} {
			if sig != "" {
				tg = tg.restart(sig)
				require.Equal(t, view, liveView(t, tg), "all back after %s", sig)
			}
			t0 := time.Now()
			r := tg.check(t, state)
			require.Equal(t, 0, r.code, "%s", r)
			require.Empty(t, r.codes(), "%s", r)
			t.Logf("check %d (%s): %s", i, sig, time.Since(t0))
		}
	})
}
