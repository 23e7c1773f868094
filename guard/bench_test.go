package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
	"github.com/lvfsck/lvfsck/spdk"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// BenchmarkRealTarget measures the guard's cost side by side against a
// real spdk_tgt: each iteration makes the same call directly and through
// the guard (alternating which goes first, so drift hits both), and reports
// both latencies and the overhead. Small: spdk_get_version. lvols1000:
// bdev_lvol_get_lvols of 1000 lvols (~0.4 MB), read whole by the client.
func BenchmarkRealTarget(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	img := filepath.Join(b.TempDir(), "disk.img")
	realtgt.Sparse(b, img, 4<<30)
	tg := realtgt.Start(b, realtgt.Options{})
	defer tg.Kill()
	require.NoError(b, tg.AIO(ctx, "aio0", img))
	_, err := tg.Client.CreateLvstore(ctx, "aio0", "lvs", 1<<20)
	require.NoError(b, err)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 1000; i += 8 {
				if _, err := tg.Client.CreateLvol(ctx, "lvs", fmt.Sprintf("r%04d", i), 4, true); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
	g := startGuard(b, tg.Sock, Config{})
	direct, err := spdk.Dial(ctx, tg.Sock)
	require.NoError(b, err)
	defer direct.Close()
	via, err := spdk.Dial(ctx, g.Sock)
	require.NoError(b, err)
	defer via.Close()

	for _, bc := range []struct {
		name, method string
		params       any
	}{
		{"small", "spdk_get_version", nil},
		{"lvols1000", "bdev_lvol_get_lvols", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var tDirect, tGuard []time.Duration
			call := func(c *spdk.Client, acc *[]time.Duration) {
				var raw json.RawMessage
				t0 := time.Now()
				if err := c.Call(ctx, bc.method, bc.params, &raw); err != nil {
					b.Fatal(err)
				}
				*acc = append(*acc, time.Since(t0))
			}
			call(direct, &tDirect) // warm both connections
			call(via, &tGuard)
			tDirect, tGuard = nil, nil
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					call(direct, &tDirect)
					call(via, &tGuard)
				} else {
					call(via, &tGuard)
					call(direct, &tDirect)
				}
			}
			// medians: the machine is shared, and a few calls caught
			// behind another process's burst say nothing about the guard
			d, g := median(tDirect), median(tGuard)
			b.ReportMetric(d, "direct-µs/call")
			b.ReportMetric(g, "guard-µs/call")
			b.ReportMetric(100*(g-d)/d, "overhead-%")
			b.ReportMetric(100*(mean(tGuard)-mean(tDirect))/mean(tDirect), "mean-overhead-%")
		})
	}
	tg.Stop(10 * time.Second)
}

// BenchmarkProxy is the guard's own cost on a fast fake target (no SPDK
// poller in the way): a 1 MB answer streamed through, per call.
func BenchmarkProxy(b *testing.B) {
	s := rpctest.Start(b)
	big := make([]map[string]string, 2500) // ~0.4 MB: as 1000 lvols
	for i := range big {
		big[i] = map[string]string{"alias": fmt.Sprintf("lvs/r%04d", i), "uuid": "2b5f6c1e-0000-4000-8000-000000000000", "name": fmt.Sprintf("r%04d", i)}
	}
	s.HandleResult("bdev_lvol_get_lvols", big)
	s.HandleResult("spdk_get_version", map[string]string{"version": "SPDK v24.09"})
	g := startGuard(b, s.Path, Config{})
	ctx := context.Background()
	for _, m := range []string{"spdk_get_version", "bdev_lvol_get_lvols"} {
		for _, path := range []struct{ name, sock string }{{"direct", s.Path}, {"guard", g.Sock}} {
			b.Run(m+"/"+path.name, func(b *testing.B) {
				c, err := spdk.Dial(ctx, path.sock)
				require.NoError(b, err)
				defer c.Close()
				var raw json.RawMessage
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := c.Call(ctx, m, nil, &raw); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(raw)))
			})
		}
	}
}

func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds()) / 1e3
}

func mean(ds []time.Duration) float64 {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return float64(sum.Nanoseconds()) / 1e3 / float64(len(ds))
}
