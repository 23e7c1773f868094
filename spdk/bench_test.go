package spdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// BenchmarkGetLvols1000 is one bdev_lvol_get_lvols of 1000 lvols (the real
// many-lvols answer) over a unix socket, decoded into []Lvol.
func BenchmarkGetLvols1000(b *testing.B) {
	s := rpctest.Start(b)
	answer := fixture(b, "many-lvols.bdev_lvol_get_lvols.json")
	s.HandleResult("bdev_lvol_get_lvols", answer)
	c := dial(b, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.SetBytes(int64(len(answer)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		l, err := c.GetLvols(ctx, spdk.LvolQuery{})
		if err != nil {
			b.Fatal(err)
		}
		if len(l) != 1000 {
			b.Fatalf("%d lvols", len(l))
		}
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/el, "calls/s")
	b.ReportMetric(float64(b.N)*1000/el, "lvols/s")
}

// BenchmarkSmallCall is the per-call overhead (spdk_get_version-sized answer).
func BenchmarkSmallCall(b *testing.B) {
	s := rpctest.Start(b)
	s.HandleResult("m", true)
	c := dial(b, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	for b.Loop() {
		var ok bool
		if err := c.Call(ctx, "m", nil, &ok); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
