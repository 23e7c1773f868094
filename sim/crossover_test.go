package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
	"github.com/lvfsck/lvfsck/sim"
	"github.com/lvfsck/lvfsck/spdk"
)

// mix drives a generated sequence of lvol operations (creates thin and
// thick, snapshots and snapshot chains, clones, resizes, renames,
// read-only, xattrs, deletes) from seed (odd: it creates the lvstore
// first), and records the xattrs it set, by lvol uuid. A step the target refuses (two clones, read-only) is skipped:
// each side's view is compared with itself reloaded, not with the other's.
func mix(ctx context.Context, t *testing.T, c *spdk.Client, seed uint64, steps int, xattrs map[string]map[string]string) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if seed%2 == 1 {
		_, err := c.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
		require.NoError(t, err)
	}
	for i := 0; i < steps; i++ {
		lvols, err := c.GetLvols(ctx, spdk.LvolQuery{})
		require.NoError(t, err)
		var plain, snaps []spdk.Lvol
		for _, l := range lvols {
			if l.IsSnapshot {
				snaps = append(snaps, l)
			} else {
				plain = append(plain, l)
			}
		}
		pick := func(ls []spdk.Lvol) (spdk.Lvol, bool) {
			if len(ls) == 0 {
				return spdk.Lvol{}, false
			}
			return ls[rng.IntN(len(ls))], true
		}
		name := fmt.Sprintf("l%d-%d", seed, i)
		switch op := rng.IntN(10); {
		case op < 3 || len(lvols) < 3:
			_, _ = c.CreateLvol(ctx, "lvs", name, uint64(1+rng.IntN(8)), rng.IntN(2) == 0)
		case op < 5:
			if l, ok := pick(plain); ok {
				_, _ = c.Snapshot(ctx, l.Alias, name)
			}
		case op == 5:
			if l, ok := pick(snaps); ok {
				_, _ = c.Clone(ctx, l.Alias, name)
			}
		case op == 6:
			if l, ok := pick(plain); ok {
				_ = c.ResizeLvol(ctx, l.Alias, uint64(9+rng.IntN(8)))
			}
		case op == 7:
			if l, ok := pick(lvols); ok {
				if rng.IntN(2) == 0 {
					_ = c.RenameLvol(ctx, l.Alias, "r"+name)
				} else if !l.IsSnapshot {
					_ = c.SetReadOnly(ctx, l.Alias)
				}
			}
		case op == 8:
			if l, ok := pick(plain); ok {
				k, v := fmt.Sprintf("k%d", rng.IntN(3)), fmt.Sprintf("v%d", i)
				if c.SetXattr(ctx, l.Alias, k, v) == nil {
					if xattrs[l.UUID] == nil {
						xattrs[l.UUID] = map[string]string{}
					}
					xattrs[l.UUID][k] = v
				}
			}
		default:
			if l, ok := pick(lvols); ok {
				if c.DeleteLvol(ctx, l.Alias) == nil {
					delete(xattrs, l.UUID)
				}
			}
		}
	}
}

// crossView is what a target shows of the lvstore: lvstore counters and,
// by uuid, each lvol's name, kind, parent, clones, size, allocation and the
// xattrs the mix set.
type crossView struct {
	Lvstores []spdk.Lvstore
	Lvols    map[string]string
}

func takeView(ctx context.Context, t *testing.T, c *spdk.Client, xattrs map[string]map[string]string) crossView {
	var v crossView
	var err error
	v.Lvstores, err = c.GetLvstores(ctx, spdk.LvstoreQuery{})
	require.NoError(t, err)
	lvols, err := c.GetLvols(ctx, spdk.LvolQuery{})
	require.NoError(t, err)
	bdevs, err := c.GetBdevs(ctx, "")
	require.NoError(t, err)
	byName := map[string]spdk.Bdev{}
	for _, b := range bdevs {
		byName[b.Name] = b
	}
	v.Lvols = map[string]string{}
	for _, l := range lvols {
		b := byName[l.UUID]
		var d any
		if b.DriverSpecific != nil && b.DriverSpecific.Lvol != nil {
			dl := *b.DriverSpecific.Lvol
			dl.Clones = slices.Sorted(slices.Values(dl.Clones))
			d = dl
		}
		var xs []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range xattrs[l.UUID] {
				if !yield(k) {
					return
				}
			}
		}) {
			got, err := c.GetXattr(ctx, l.Alias, k)
			xs = append(xs, fmt.Sprintf("%s=%q(%v)", k, got, err))
		}
		j, _ := json.Marshal(struct {
			Alias                           string
			Thin, Snapshot, Clone, Degraded bool
			Blocks                          uint64
			Lvol                            any
			Xattrs                          []string
		}{l.Alias, l.IsThinProvisioned, l.IsSnapshot, l.IsClone, l.IsDegraded, b.NumBlocks, d, xs})
		v.Lvols[l.UUID] = string(j)
	}
	return v
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// TestImagesCrossOver: images the sim wrote load in the real target to
// the view the sim showed, and images the real target wrote load in the
// sim to the view the real one showed. Each writer runs a generated mix,
// stops cleanly (its live view is what both must load), runs a second mix
// on the same image and is killed: that dirty image must load the same on
// both (not as the live view: a rename of a read-only blob waits for a
// clean unload on the real target, and the sim does the same). About 10 s
// of real target over five starts.
func TestImagesCrossOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute) // lock waits included
	defer cancel()
	const size = 256 << 20
	const steps = 40
	want := func(t *testing.T, c *spdk.Client, n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			if l, err := c.GetLvols(ctx, spdk.LvolQuery{}); err == nil && len(l) >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// load reads a copy of img on the real target or the sim.
	load := func(t *testing.T, real bool, img string, n int, x map[string]map[string]string) crossView {
		cp := filepath.Join(t.TempDir(), "copy.img")
		copyFile(t, img, cp)
		if real {
			rs, err := startReal(ctx, t, cp, false)
			require.NoError(t, err)
			defer rs.tg.Kill()
			want(t, rs.client(), n)
			return takeView(ctx, t, rs.client(), x)
		}
		ss, err := startSim(ctx, t, sim.Config{Image: cp})
		require.NoError(t, err)
		defer ss.tgt.Crash()
		return takeView(ctx, t, ss.client(), x)
	}
	for _, writerReal := range []bool{false, true} {
		t.Run(map[bool]string{false: "sim wrote", true: "real target wrote"}[writerReal], func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "disk.img")
			var w side
			start := func() {
				var err error
				if writerReal {
					w, err = startReal(ctx, t, img, false)
				} else {
					w, err = startSim(ctx, t, sim.Config{Image: img, Size: size})
				}
				require.NoError(t, err)
			}
			if writerReal {
				realtgt.Sparse(t, img, size)
			}
			x := map[string]map[string]string{}
			start()
			mix(ctx, t, w.client(), 1, steps, x)
			v := takeView(ctx, t, w.client(), x)
			require.Greater(t, len(v.Lvols), 8)
			w.stop()
			require.Equal(t, v, load(t, !writerReal, img, len(v.Lvols), x), "clean: the other target loads the writer's view")

			start()
			want(t, w.client(), len(v.Lvols))
			mix(ctx, t, w.client(), 2, steps, x)
			v2 := takeView(ctx, t, w.client(), x)
			if r, ok := w.(*realSide); ok {
				r.tg.Kill()
			} else {
				w.(*simSide).tgt.Crash()
			}
			t.Logf("%d lvols after a clean stop, %d at the SIGKILL", len(v.Lvols), len(v2.Lvols))
			simView := load(t, false, img, len(v2.Lvols), x)
			realView := load(t, true, img, len(v2.Lvols), x)
			require.Equal(t, realView, simView, "after SIGKILL: both load the same")
		})
	}
}
