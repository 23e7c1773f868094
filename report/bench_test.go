package report

import (
	"fmt"
	"io"
	"testing"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/scanner"
)

// benchSummary is 10,000 findings over 4 lvstores, each with the fields and
// evidence a real pending resurrection carries.
func benchSummary(n int) Summary {
	s := cleanSummary()
	s.Lvstores = nil
	for i := range 4 {
		s.Lvstores = append(s.Lvstores, LvstoreSummary{Name: fmt.Sprintf("lvs-%d", i), UUID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), Lvols: n / 4})
	}
	codes := []finding.Code{"pending-resurrection", "attr-mismatch", "md-crc-mismatch", "not-opened-at-load"}
	for i := range n {
		l := s.Lvstores[i%4]
		s.Findings = append(s.Findings, finding.Finding{
			Code: codes[i%len(codes)], Severity: finding.Severity(i % 4),
			Lvstore: l.Name, LvstoreUUID: l.UUID,
			LvolName: fmt.Sprintf("vol-%05d", i), LvolUUID: fmt.Sprintf("%08x-1111-4000-8000-000000000000", i),
			BlobID: 1<<32 | uint64(i), Page: finding.PageRef(uint32(i)),
			Message: "persisted on disk but absent from the live view",
			SPDK:    finding.LoadOK,
			Evidence: map[string]string{
				"disk": fmt.Sprintf("blob %#x chain [%d] crc ok", 1<<32|i, i),
				"live": "absent from bdev_lvol_get_lvols",
			},
			Repair: "restart spdk_tgt, then lvfsck repair --yes",
		})
	}
	return s
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// benchOut renders in, which holds n items, under b.Loop and reports the
// time per item (unit) and the bytes written.
func benchOut[T any](b *testing.B, n int, unit string, in T, render func(io.Writer, T) error) {
	var cw countWriter
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := render(&cw, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), unit)
	b.ReportMetric(float64(cw.n)/float64(b.N)/(1<<20), "MiB-out/op")
}

func benchRender(b *testing.B, render func(io.Writer, Summary) error) {
	const n = 10000
	benchOut(b, n, "ns/finding", benchSummary(n), render)
}

func BenchmarkWriteText10k(b *testing.B) {
	benchRender(b, func(w io.Writer, s Summary) error { return WriteText(w, s, TextOptions{}) })
}

func BenchmarkWriteJSON10k(b *testing.B) {
	benchRender(b, WriteJSON)
}

func BenchmarkWriteProm10k(b *testing.B) {
	benchRender(b, func(w io.Writer, s Summary) error { return WriteProm(w, s, t0) })
}

// benchScan renders benchView(10000), the lvol table of a 10,000-lvol
// lvstore: the renderer's share of `lvfsck scan` on such a device.
func benchScan(b *testing.B, render func(io.Writer, *scanner.View) error) {
	const n = 10000
	benchOut(b, n, "ns/lvol", benchView(n), render)
}

func BenchmarkWriteScanText10k(b *testing.B) {
	benchScan(b, func(w io.Writer, v *scanner.View) error { return WriteScanText(w, v, ExitOK, "bench", TextOptions{}) })
}

func BenchmarkWriteScanJSON10k(b *testing.B) {
	benchScan(b, func(w io.Writer, v *scanner.View) error { return WriteScanJSON(w, v, ExitOK, "bench") })
}
