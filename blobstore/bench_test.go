package blobstore

import (
	"testing"
)

// benchPages returns real md pages of a kind: chain pages with xattrs, or
// extent pages.
func benchPages(b *testing.B, extent bool) [][]byte {
	fx := loadGz(b, "basic-1m")
	var out [][]byte
	for idx := uint32(0); idx < fx.sb.MDLen; idx++ {
		pg := fx.page(b, idx)
		p, err := DecodePage(pg)
		if err != nil || len(p.Descriptors) == 0 || p.IsExtentPage() != extent {
			continue
		}
		out = append(out, pg)
	}
	if len(out) == 0 {
		b.Fatal("no pages")
	}
	return out
}

func benchDecode(b *testing.B, pages [][]byte) {
	b.SetBytes(PageSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := DecodePage(pages[i%len(pages)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

func BenchmarkDecodeChainPage(b *testing.B)  { benchDecode(b, benchPages(b, false)) }
func BenchmarkDecodeExtentPage(b *testing.B) { benchDecode(b, benchPages(b, true)) }

func BenchmarkEncodePage(b *testing.B) {
	pages := benchPages(b, false)
	var decoded []*Page
	for _, pg := range pages {
		p, _ := DecodePage(pg)
		decoded = append(decoded, p)
	}
	b.SetBytes(PageSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := EncodePage(decoded[i%len(decoded)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkScanMDRegion walks the whole md region of many-lvols (4096 pages,
// 1001 blobs) as a dirty-load scan does: decode every page, parse every blob.
func BenchmarkScanMDRegion(b *testing.B) {
	fx := loadGz(b, "many-lvols")
	r := fx.reader()
	b.SetBytes(int64(fx.sb.MDLen) * PageSize)
	b.ReportAllocs()
	blobs := 0
	for b.Loop() {
		blobs = 0
		for idx := uint32(0); idx < fx.sb.MDLen; idx++ {
			p, err := DecodePage(fx.page(b, idx))
			if err != nil || p.Sequence != 0 || p.ID != BlobID(idx) || p.IsExtentPage() {
				continue
			}
			if _, err := ReadBlob(r, fx.sb, idx, ParseOptions{}); err != nil {
				b.Fatal(err)
			}
			blobs++
		}
	}
	b.ReportMetric(float64(b.N)*float64(fx.sb.MDLen)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(blobs), "blobs")
}

func BenchmarkEncodeBlob(b *testing.B) {
	fx := loadGz(b, "basic-1m")
	var blobs []*Blob
	for idx := uint32(0); idx < fx.sb.MDLen; idx++ {
		p, err := DecodePage(fx.page(b, idx))
		if err != nil || p.Sequence != 0 || p.ID != BlobID(idx) || p.IsExtentPage() {
			continue
		}
		bl, err := ReadBlob(fx.reader(), fx.sb, idx, ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		blobs = append(blobs, bl)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := EncodeBlob(blobs[i%len(blobs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blobs/s")
}
