package scanner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/stretchr/testify/require"
)

// tornSource serves a page corrupted on its first read only, as a page
// that a running target is rewriting.
type tornSource struct {
	memImage
	mu   sync.Mutex
	off  int64
	done bool
}

func (s *tornSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.memImage.ReadAt(p, off)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done && off <= s.off && s.off < off+int64(n) {
		p[s.off-off+100] ^= 0xff
		s.done = true
	}
	return n, err
}

func TestRereadHealsTornPage(t *testing.T) {
	img := fixtureImage(t, "dirty-kill9")
	sb := decodeSuper(img.b)
	src := &tornSource{memImage: img, off: int64(sb.MDStart+1) * pageSize}
	v, err := Scan(context.Background(), src, Options{})
	require.NoError(t, err)
	require.True(t, src.done, "the torn read happened")
	require.Equal(t, uint64(1), v.Stats.Rereads)
	require.Empty(t, v.Findings)
	_, ok := v.Lvol("v0")
	require.True(t, ok, "the re-read page is used")
}

type failSource struct {
	memImage
	after int64
}

func (s failSource) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.after {
		return 0, errors.New("EIO")
	}
	return s.memImage.ReadAt(p, off)
}

func TestReadErrorsAreErrors(t *testing.T) {
	img := fixtureImage(t, "basic-1m")
	for _, after := range []int64{0, pageSize, 5 * pageSize} {
		_, err := Scan(context.Background(), failSource{img, after}, Options{})
		require.ErrorIs(t, err, ErrRead, "fail at %d", after)
	}
}

func TestScanOptions(t *testing.T) {
	img := fixtureImage(t, "basic-1m")
	_, err := Scan(context.Background(), img, Options{Mode: "fast"})
	require.ErrorIs(t, err, ErrMode)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Scan(ctx, img, Options{})
	require.ErrorIs(t, err, context.Canceled)

	var calls, last uint64
	v, err := Scan(context.Background(), img, Options{BatchBytes: 5000, Progress: func(done, total uint64) {
		calls++
		require.Greater(t, done, last)
		last = done
		require.Equal(t, uint64(64), total)
	}})
	require.NoError(t, err)
	require.Equal(t, uint64(64), last)
	require.Equal(t, uint64(32), calls, "5000 bytes round up to 2 pages per batch")
	require.Equal(t, ModeClean, v.Mode)
	require.Equal(t, uint64(68), v.Stats.PagesRead, "super, 3 masks, 64 md pages")
}

func TestModesAgreeOnCleanFixture(t *testing.T) {
	img := fixtureImage(t, "basic-1m")
	c := scanImage(t, img, ModeClean)
	r := scanImage(t, img, ModeRecovery)
	require.Equal(t, ModeRecovery, r.Mode)
	require.Equal(t, len(c.Blobs), len(r.Blobs))
	for i := range c.Blobs {
		c.Blobs[i].Loads, r.Blobs[i].Loads = "", ""
		require.Equal(t, c.Blobs[i], r.Blobs[i])
	}
}

func TestScanPathGzipAndPlain(t *testing.T) {
	gz := filepath.Join(fixtureDir, "basic-1m.img.gz")
	v, err := ScanPath(context.Background(), gz, Options{}, t.TempDir())
	require.NoError(t, err)
	require.Equal(t, "lvs0", v.Lvstore.Name)
	require.Equal(t, gz, v.Device)
	require.Len(t, v.Blobs, 6)

	// the sparse copy skips zero blocks
	tmp := inflateNamed(t, gz, t.TempDir())
	st, err := os.Stat(tmp)
	require.NoError(t, err)
	require.Equal(t, int64(64<<20), st.Size())

	v2, err := ScanPath(context.Background(), tmp, Options{}, "")
	require.NoError(t, err)
	require.Equal(t, v.Blobs, v2.Blobs)

	_, err = ScanPath(context.Background(), filepath.Join(t.TempDir(), "missing"), Options{}, "")
	require.ErrorIs(t, err, ErrRead)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestDeviceUnalignedReads(t *testing.T) {
	tmp := inflateNamed(t, filepath.Join(fixtureDir, "basic-1m.img.gz"), t.TempDir())
	want, err := os.ReadFile(tmp)
	require.NoError(t, err)
	d, err := Open(tmp, "")
	require.NoError(t, err)
	defer d.Close()
	for _, c := range []struct{ off, n int64 }{{0, 4096}, {1, 10}, {4095, 2}, {12345, 9000}, {int64(len(want)) - 3, 3}} {
		p := make([]byte, c.n)
		n, err := d.ReadAt(p, c.off)
		require.NoError(t, err, "%+v", c)
		require.Equal(t, int(c.n), n)
		require.Equal(t, want[c.off:c.off+c.n], p)
	}
	p := make([]byte, 10)
	n, err := d.ReadAt(p, int64(len(want))-4)
	require.Equal(t, 4, n)
	require.ErrorIs(t, err, io.EOF)
}

func TestFindingsCarryLvolIdentity(t *testing.T) {
	m := newImg(t, "basic-1m")
	m.renameXattr(6, "uuid", "uuix")
	v := scanImage(t, m.source(), ModeAuto)
	require.Len(t, v.Findings, 1)
	f := v.Findings[0]
	require.Equal(t, "lvs0", f.Lvstore)
	require.Equal(t, "d0620e2e-5a79-41e7-b0d4-4ff89e5a3ead", f.LvstoreUUID)
	require.Equal(t, "vol-renamed", f.LvolName)
	require.Equal(t, finding.Warning, f.Severity)
}

// TestBufferedFallback opens a file on tmpfs, which refuses O_DIRECT on
// most kernels (6.6+ accept it: then there is nothing to fall back from).
func TestBufferedFallback(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "lvfsck-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	defer os.RemoveAll(dir)
	img := fixtureImage(t, "basic-1m")
	path := filepath.Join(dir, "img")
	require.NoError(t, os.WriteFile(path, img.b, 0o644))
	require.NoError(t, os.Truncate(path, img.size))
	v, err := ScanPath(context.Background(), path, Options{}, "")
	require.NoError(t, err)
	require.Len(t, v.Blobs, 6)
	if !v.Buffered {
		t.Skip("this kernel's tmpfs accepts O_DIRECT")
	}
}

func TestOpenFallsBackWhenODirectRefused(t *testing.T) {
	path := inflateNamed(t, filepath.Join(fixtureDir, "basic-1m.img.gz"), t.TempDir())
	orig := openFile
	defer func() { openFile = orig }()
	openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if flag&syscall.O_DIRECT != 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EINVAL}
		}
		return orig(name, flag, perm)
	}
	v, err := ScanPath(context.Background(), path, Options{}, "")
	require.NoError(t, err)
	require.True(t, v.Buffered)
	require.Len(t, v.Blobs, 6)
}

func TestReadFallsBackAfterEINVAL(t *testing.T) {
	path := inflateNamed(t, filepath.Join(fixtureDir, "basic-1m.img.gz"), t.TempDir())
	d, err := Open(path, "")
	require.NoError(t, err)
	defer d.Close()
	if !d.Direct() {
		t.Skip("O_DIRECT refused here already")
	}
	require.NoError(t, d.fallback())
	require.False(t, d.Direct())
	v, err := Scan(context.Background(), d, Options{})
	require.NoError(t, err)
	require.Len(t, v.Blobs, 6)
}

// TestRLEBlob checks the old EXTENT_RLE format, which no v24.09 lvol uses.
func TestRLEBlob(t *testing.T) {
	m := newImg(t, "basic-1m")
	m.rleBlob(20, "rle-vol", [2]uint32{40, 3}, [2]uint32{50, 1})
	for _, mode := range []Mode{ModeClean, ModeRecovery} {
		v := scanImage(t, m.source(), mode)
		b, ok := v.Lvol("rle-vol")
		require.True(t, ok, mode)
		require.Equal(t, finding.LoadOK, b.Loads)
		require.False(t, b.Thin)
		require.Equal(t, uint64(4), b.NumClusters)
		require.Equal(t, uint64(4)<<20, b.SizeBytes)
		require.Equal(t, []Run{{Offset: 0, Cluster: 40, Count: 3}, {Offset: 3, Cluster: 50, Count: 1}}, b.Allocated)
		require.Empty(t, v.Findings, mode)
	}
}

func TestIsHole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(8<<20))
	_, err = f.WriteAt(make([]byte, 4096), 4<<20)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{1}, 4<<20) // data, not zeros
	require.NoError(t, err)
	require.NoError(t, f.Close())
	d, err := Open(path, "")
	require.NoError(t, err)
	defer d.Close()
	probe, err := syscall.Seek(int(d.f.Fd()), 0, seekData)
	if err != nil || probe == 0 {
		t.Skipf("no SEEK_DATA holes on this file system (%v, %d)", err, probe)
	}
	require.True(t, d.IsHole(0, 1<<20))
	require.False(t, d.IsHole(4<<20-4096, 8192))
	require.False(t, d.IsHole(4<<20, 4096))
	require.True(t, d.IsHole(6<<20, 1<<20), "after the last data")
	require.False(t, d.IsHole(8<<20, 4096), "beyond the end is not a hole, it is a short read")
}

// A mask region length from a hostile super block does not size the read.
func TestHostileMaskLength(t *testing.T) {
	m := newImg(t, "basic-1m")
	p := m.devPage(0)
	binary.LittleEndian.PutUint32(p[44:], 16000) // used cluster mask length, pages
	fixCRC(p)
	v := scanImage(t, m.source(), ModeClean)
	require.Equal(t, uint64(68), v.Stats.PagesRead)
	require.Len(t, v.Blobs, 6)
}

// The md read pipeline (one reader, checkers, an in-order merge) must stop
// cleanly on a failed batch or a cancel in the middle of the region, with
// batches still in flight.
func TestReadMDStopsMidRegion(t *testing.T) {
	img := fixtureImage(t, "basic-1m")
	sb := decodeSuper(img.b)
	for _, fail := range []uint32{0, 1, 40, 63} {
		_, err := Scan(context.Background(), failSource{img, int64(sb.MDStart+fail) * pageSize}, Options{BatchBytes: pageSize})
		require.ErrorIs(t, err, ErrRead)
		require.ErrorContains(t, err, fmt.Sprintf("read md pages %d..%d", fail, fail))
	}
	for _, stop := range []uint64{1, 10, 63} {
		ctx, cancel := context.WithCancel(context.Background())
		var calls uint64
		_, err := Scan(ctx, img, Options{BatchBytes: pageSize, Progress: func(done, total uint64) {
			calls++
			if done == stop {
				cancel()
			}
		}})
		cancel()
		require.ErrorIs(t, err, context.Canceled, "cancel after %d batches", stop)
		require.Equal(t, stop, calls, "no progress after the cancel")
	}
}
