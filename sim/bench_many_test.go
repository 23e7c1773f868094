package sim

import (
	"path/filepath"
	"testing"

	"github.com/lvfsck/lvfsck/internal/testfix"
)

// BenchmarkLoadManyLvols: the 1000-lvol real image (4 GiB sparse); the
// real spdk_tgt took 0.76 s from bdev_aio_create to all lvols listed.
func BenchmarkLoadManyLvols(b *testing.B) {
	img := filepath.Join(b.TempDir(), "many.img")
	testfix.InflateSparse(b, fixtures+"many-lvols.img.gz", img)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tgt, err := New(Config{Image: img})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(tgt.stores[0].lvols); n != 1000 {
			b.Fatalf("%d lvols", n)
		}
		tgt.Crash()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
}
