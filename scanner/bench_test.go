package scanner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/stretchr/testify/require"
)

// Large generated image for the benchmarks: 1 GiB md region (262,144
// pages), 30,000 thin lvols, 1 MiB clusters, on a sparse file.
const (
	bigMDPages = 262144
	bigBlobs   = 30000
	bigDevSize = 8 << 30
)

var (
	bigOnce, denseOnce sync.Once
	bigPath, densePath string
	bigErr, denseErr   error
)

// bigImage is the generated image, sparse: the empty md pages are holes,
// which the raw read gets at memory speed and the scan skips (SEEK_DATA).
func bigImage(b *testing.B) string {
	bigOnce.Do(func() {
		bigPath = filepath.Join(imgDir, "big.img")
		bigErr = writeBigImage(bigPath)
	})
	require.NoError(b, bigErr)
	return bigPath
}

// denseImage is the same image with its md region written out (1 GiB on
// disk), so that O_DIRECT reads go to the device as on a real one.
func denseImage(b *testing.B) string {
	src := bigImage(b)
	denseOnce.Do(func() {
		densePath = filepath.Join(imgDir, "dense.img")
		denseErr = func() error {
			// Copy only the super block, masks and md region: reading the
			// whole sparse image would fault in 8 GiB of zeros.
			in, err := os.Open(src)
			if err != nil {
				return err
			}
			defer in.Close()
			p := make([]byte, pageSize)
			if _, err := in.ReadAt(p, 0); err != nil {
				return err
			}
			out, err := os.Create(densePath)
			if err != nil {
				return err
			}
			n := (int64(decodeSuper(p).MDStart) + bigMDPages) * pageSize
			// A plain writer, so that no copy_file_range keeps the holes.
			w := struct{ io.Writer }{out}
			if _, err := io.CopyBuffer(w, io.NewSectionReader(in, 0, n), make([]byte, 1<<20)); err != nil {
				out.Close()
				return err
			}
			if err := out.Truncate(bigDevSize); err != nil {
				out.Close()
				return err
			}
			if err := out.Sync(); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		}()
	})
	require.NoError(b, denseErr)
	return densePath
}

// writeBigImage lays out a clean lvstore with blobstore's encoder.
func writeBigImage(path string) error {
	return writeImage(path, bigDevSize, bigMDPages, bigBlobs, "r%05d", false)
}

// writeImage lays out a clean lvstore of n thin lvols (names from the
// format) with blobstore's encoder; dense writes the md region out in
// full, as on a real device, instead of leaving its empty pages as holes.
func writeImage(path string, devSize int64, mdPages uint32, n uint32, nameFormat string, dense bool) error {
	l, err := blobstore.NewLayout(uint64(devSize), blobstore.LayoutOptions{ClusterSize: 1 << 20, MDPages: mdPages})
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sb := l.SuperBlock
	if dense {
		zero := make([]byte, 1<<20)
		end := (int64(sb.MDStart) + int64(mdPages)) * pageSize
		for off := int64(0); off < end; off += int64(len(zero)) {
			if _, err := f.WriteAt(zero[:min(int64(len(zero)), end-off)], off); err != nil {
				return err
			}
		}
	}
	if err := f.Truncate(devSize); err != nil {
		return err
	}
	write := func(page uint32, data []byte) error {
		_, err := f.WriteAt(data, int64(page)*pageSize)
		return err
	}
	blob := func(idx uint32, xs []blobstore.Xattr, invalid uint64, n uint64) error {
		bl := &blobstore.Blob{ID: blobIDOf(idx), Pages: []uint32{idx}, Invalid: invalid, Xattrs: xs,
			NumClusters: n, UsesExtentTable: true}
		chain, ext, err := blobstore.EncodeBlob(bl)
		if err != nil {
			return err
		}
		for _, p := range append(chain, ext...) {
			if err := write(sb.MDStart+p.Index, p.Data); err != nil {
				return err
			}
			l.UsedPages.Set(uint64(p.Index))
		}
		l.UsedBlobIDs.Set(uint64(idx))
		return nil
	}
	str := func(s string) []byte { return append([]byte(s), 0) }
	if err := blob(0, []blobstore.Xattr{{Name: "uuid", Value: str("a9c0e8a4-61f7-4c6e-9b57-2b1d0b6f1a00")}, {Name: "name", Value: str("lvs-big")}}, flagExtentTable, 0); err != nil {
		return err
	}
	for i := uint32(1); i <= n; i++ {
		name := make([]byte, 256)
		copy(name, fmt.Sprintf(nameFormat, i))
		xs := []blobstore.Xattr{
			{Name: "name", Value: name},
			{Name: "uuid", Value: str(fmt.Sprintf("00000000-0000-4000-8000-%012d", i))},
		}
		if err := blob(i, xs, flagThin|flagExtentTable, 64); err != nil {
			return err
		}
	}
	sb.SuperBlob = blobIDOf(0)
	sb.Clean = 1
	if err := write(0, sb.Encode()); err != nil {
		return err
	}
	for _, m := range []struct {
		start, n uint32
		mask     *blobstore.Mask
	}{
		{sb.UsedPageMaskStart, sb.UsedPageMaskLen, l.UsedPages},
		{sb.UsedClusterMaskStart, sb.UsedClusterMaskLen, l.UsedClusters},
		{sb.UsedBlobIDMaskStart, sb.UsedBlobIDMaskLen, l.UsedBlobIDs},
	} {
		if err := write(m.start, m.mask.Encode(m.n)); err != nil {
			return err
		}
	}
	return f.Sync()
}

// rawRead reads the md region sequentially with O_DIRECT in 1 MiB batches:
// the floor any scan of it is compared with.
func rawRead(path string, start, n uint32) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		f, err = os.Open(path)
		if err != nil {
			return 0, err
		}
	}
	defer f.Close()
	buf := alignedBuf(1 << 20)
	var total int64
	end := (int64(start) + int64(n)) * pageSize
	for off := int64(start) * pageSize; off < end; off += int64(len(buf)) {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		total += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// peakHeap samples the heap while fn runs: HeapAlloc, read through
// runtime/metrics, since runtime.ReadMemStats stops the world and, every
// 2 ms, slowed the very scan it measured.
func peakHeap(fn func()) uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	runtime.GC()
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if h := sample[0].Value.Uint64(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

func BenchmarkScanLarge(b *testing.B) {
	benchScanLarge(b, bigImage(b))
}

// BenchmarkScanLargeDense is BenchmarkScanLarge with the md region on disk
// (1 GiB written once per run).
func BenchmarkScanLargeDense(b *testing.B) {
	benchScanLarge(b, denseImage(b))
}

func benchScanLarge(b *testing.B, path string) {
	for _, mode := range []Mode{ModeClean, ModeRecovery} {
		b.Run(string(mode), func(b *testing.B) {
			var raw, scan time.Duration
			var peak uint64
			var v *View
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				n, err := rawRead(path, bigMDStart(b, path), bigMDPages)
				require.NoError(b, err)
				require.Equal(b, int64(bigMDPages)*pageSize, n)
				raw += time.Since(t0)
				p := peakHeap(func() {
					t0 = time.Now()
					v, err = ScanPath(context.Background(), path, Options{Mode: mode}, "")
					scan += time.Since(t0)
				})
				require.NoError(b, err)
				peak = max(peak, p)
			}
			require.Len(b, v.Blobs, bigBlobs+1)
			require.Empty(b, v.Findings)
			md := float64(bigMDPages) * pageSize / (1 << 20)
			b.ReportMetric(md*float64(b.N)/scan.Seconds(), "scan-MB/s")
			b.ReportMetric(float64(bigMDPages)*float64(b.N)/scan.Seconds(), "pages/s")
			b.ReportMetric(md*float64(b.N)/raw.Seconds(), "raw-MB/s")
			b.ReportMetric(scan.Seconds()/raw.Seconds(), "scan/raw")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func bigMDStart(b *testing.B, path string) uint32 {
	f, err := os.Open(path)
	require.NoError(b, err)
	defer f.Close()
	p := make([]byte, pageSize)
	_, err = f.ReadAt(p, 0)
	require.NoError(b, err)
	return decodeSuper(p).MDStart
}

// The 10,000-lvol image of issue 8: a 256 MiB md region written out in
// full (dense, as on a real device), 10,000 thin lvols, 16 GiB sparse.
const (
	tenKMDPages = 65536
	tenKBlobs   = 10000
)

var (
	tenKOnce sync.Once
	tenKPath string
	tenKErr  error
)

func tenKImage(b *testing.B) string {
	tenKOnce.Do(func() {
		tenKPath = filepath.Join(imgDir, "10k.img")
		tenKErr = writeImage(tenKPath, 16<<30, tenKMDPages, tenKBlobs, "vol%d", true)
	})
	require.NoError(b, tenKErr)
	return tenKPath
}

// BenchmarkScan10k is the scan `lvfsck scan` runs on the 10k image,
// against a raw O_DIRECT read of its md region in the same iteration.
func BenchmarkScan10k(b *testing.B) {
	path := tenKImage(b)
	start := bigMDStart(b, path)
	var raw, scan time.Duration
	var peak uint64
	var v *View
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		n, err := rawRead(path, start, tenKMDPages)
		require.NoError(b, err)
		require.Equal(b, int64(tenKMDPages)*pageSize, n)
		raw += time.Since(t0)
		p := peakHeap(func() {
			t0 = time.Now()
			v, err = ScanPath(context.Background(), path, Options{}, "")
			scan += time.Since(t0)
		})
		require.NoError(b, err)
		peak = max(peak, p)
	}
	require.Len(b, v.Blobs, tenKBlobs+1)
	require.Empty(b, v.Findings)
	b.ReportMetric(float64(scan.Milliseconds())/float64(b.N), "scan-ms")
	b.ReportMetric(float64(raw.Milliseconds())/float64(b.N), "raw-ms")
	b.ReportMetric(scan.Seconds()/raw.Seconds(), "scan/raw")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkScanManyLvols is the real 1000-lvol fixture (4096 md pages).
func BenchmarkScanManyLvols(b *testing.B) {
	path := fixturePath(b, "many-lvols")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := ScanPath(context.Background(), path, Options{}, "")
		require.NoError(b, err)
		require.Len(b, v.Blobs, 1001)
	}
	b.ReportMetric(4096*float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkDecodePage is the per-page hot path: CRC and descriptors.
func BenchmarkDecodePage(b *testing.B) {
	img := fixtureImage(b, "basic-1m").b
	sb := decodeSuper(img)
	p := img[(sb.MDStart+2)*pageSize : (sb.MDStart+3)*pageSize]
	b.SetBytes(pageSize)
	for i := 0; i < b.N; i++ {
		if !pageCRCOK(p) {
			b.Fatal("crc")
		}
		decodePage(2, p)
	}
}
