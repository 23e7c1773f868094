package bundle

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkCapture: the many-lvols fixture (4 GiB device, ~4 MiB of md)
// into a discarded bundle, plain and obfuscated. Reports the metadata
// read per second and the bundle's size.
func BenchmarkCapture(b *testing.B) {
	img := fixture(b, "many-lvols")
	for _, ob := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "obfuscated"}[ob], func(b *testing.B) {
			var read, size int64
			start := time.Now()
			for i := 0; i < b.N; i++ {
				cw := &countWriter{}
				res, err := Capture(context.Background(), cw, Options{Devices: []string{img}, Obfuscate: ob, Version: "bench", Now: time.Now})
				require.NoError(b, err)
				read += res.Stored
				size = cw.n
			}
			b.ReportMetric(float64(read)/(1<<20)/time.Since(start).Seconds(), "MiB_md/s")
			b.ReportMetric(float64(size)/1024, "KiB_bundle")
		})
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
