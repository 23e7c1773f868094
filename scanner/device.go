package scanner

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// alignment is what O_DIRECT wants of buffer addresses, offsets and lengths
// on every device lvfsck meets (4 KiB logical blocks at most).
const alignment = 4096

// alignedBuf returns a zeroed buffer of n bytes whose address is 4 KiB aligned.
func alignedBuf(n int) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n+alignment)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (alignment - 1))
	if off != 0 {
		off = alignment - off
	}
	return b[off : off+n : off+n]
}

func isAligned(p []byte) bool {
	return len(p) == 0 || uintptr(unsafe.Pointer(&p[0]))&(alignment-1) == 0
}

// BytesSource is an in-memory image.
type BytesSource []byte

// ReadAt implements io.ReaderAt.
func (b BytesSource) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(b).ReadAt(p, off)
}

// Size implements Source.
func (b BytesSource) Size() int64 { return int64(len(b)) }

// Device is a block device or image file opened read-only, with O_DIRECT
// where the file system allows it (a running spdk_tgt writes with O_DIRECT,
// so buffered reads could see stale page-cache data).
type Device struct {
	path string
	mu   sync.Mutex // guards f and direct while falling back
	f    *os.File
	size int64
	// direct is false after O_DIRECT was refused.
	direct bool
	// temp is the decompressed copy of a gzip image, removed on Close.
	temp string
}

// Open opens path read-only for scanning. Gzip images (detected by their
// magic, whatever the name) are decompressed into a sparse temporary file in
// tmpDir (os.TempDir() when empty) first.
func Open(path, tmpDir string) (*Device, error) {
	gz, err := isGzip(path)
	if err != nil {
		// err is an *os.PathError: it already names the path.
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	d := &Device{path: path}
	if gz {
		tmp, err := inflate(path, tmpDir)
		if err != nil {
			return nil, fmt.Errorf("decompress %s: %w: %w", path, ErrRead, err)
		}
		d.temp = tmp
		path = tmp
	}
	if err := d.open(path); err != nil {
		d.Close()
		return nil, fmt.Errorf("open %s: %w: %w", d.path, ErrRead, err)
	}
	return d, nil
}

// openFile is os.OpenFile; tests replace it to play a file system that
// refuses O_DIRECT.
var openFile = os.OpenFile

func (d *Device) open(path string) error {
	f, err := openFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	d.direct = err == nil
	if errors.Is(err, syscall.EINVAL) {
		f, err = openFile(path, os.O_RDONLY, 0)
	}
	if err != nil {
		return err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return fmt.Errorf("size: %w", err)
	}
	d.f, d.size = f, size
	return nil
}

func isGzip(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var m [2]byte
	n, err := io.ReadFull(f, m[:])
	if n < 2 {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return false, nil
		}
		return false, err
	}
	return m[0] == 0x1f && m[1] == 0x8b, nil
}

// maxInflate bounds a decompressed image (a gzip bomb of zeros costs no
// disk, but it costs time).
const maxInflate = 64 << 40

// inflate decompresses a gzip image into a sparse temporary file: all-zero
// 4 KiB blocks are skipped, not written, so a mostly empty 4 GiB image takes
// a few MiB.
func inflate(path, tmpDir string) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return "", err
	}
	out, err := os.CreateTemp(tmpDir, "lvfsck-*.img")
	if err != nil {
		return "", err
	}
	name := out.Name()
	fail := func(err error) (string, error) {
		out.Close()
		os.Remove(name)
		return "", err
	}
	buf := make([]byte, 1<<20)
	var zero [alignment]byte
	var off int64
	for {
		n, rerr := io.ReadFull(zr, buf)
		for i := 0; i < n; i += alignment {
			blk := buf[i:min(i+alignment, n)]
			if !bytes.Equal(blk, zero[:len(blk)]) {
				if _, err := out.WriteAt(blk, off+int64(i)); err != nil {
					return fail(err)
				}
			}
		}
		off += int64(n)
		if off > maxInflate {
			return fail(fmt.Errorf("image larger than %d bytes", int64(maxInflate)))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	if err := out.Truncate(off); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// Size implements Source.
func (d *Device) Size() int64 { return d.size }

// Direct reports whether reads bypass the page cache.
func (d *Device) Direct() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.direct
}

// ReadAt implements io.ReaderAt. Unaligned requests go through an aligned
// bounce buffer. If the file system refuses O_DIRECT at read time (EINVAL),
// the device reopens without it and says so through Direct.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	f, direct := d.f, d.direct
	d.mu.Unlock()
	if !direct {
		return f.ReadAt(p, off)
	}
	if off%alignment != 0 || len(p)%alignment != 0 || !isAligned(p) {
		lo := off &^ (alignment - 1)
		hi := (off + int64(len(p)) + alignment - 1) &^ (alignment - 1)
		bb := alignedBuf(int(hi - lo))
		n, err := d.ReadAt(bb, lo)
		got := max(0, min(n-int(off-lo), len(p)))
		copy(p, bb[off-lo:int(off-lo)+got])
		if got == len(p) {
			err = nil
		} else if err == nil {
			err = io.EOF
		}
		return got, err
	}
	n, err := f.ReadAt(p, off)
	if errors.Is(err, syscall.EINVAL) && n == 0 {
		if ferr := d.fallback(); ferr != nil {
			return 0, ferr
		}
		return d.ReadAt(p, off)
	}
	return n, err
}

// seekData is lseek's SEEK_DATA (Linux, and most file systems since 3.1).
const seekData = 3

// IsHole reports whether [off, off+n) is a hole of a sparse file: all zeros
// without being stored. Block devices and file systems without SEEK_DATA
// say no, and are read.
func (d *Device) IsHole(off, n int64) bool {
	d.mu.Lock()
	f := d.f
	d.mu.Unlock()
	// pread does not use the file offset, so moving it here is harmless
	data, err := syscall.Seek(int(f.Fd()), off, seekData)
	if errors.Is(err, syscall.ENXIO) {
		return off < d.size // no data from off to the end
	}
	return err == nil && data >= off+n
}

func (d *Device) fallback() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.direct {
		return nil
	}
	f, err := openFile(d.f.Name(), os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	d.f.Close()
	d.f, d.direct = f, false
	return nil
}

// Close closes the device and removes a decompressed copy.
func (d *Device) Close() error {
	var err error
	if d.f != nil {
		err = d.f.Close()
	}
	if d.temp != "" {
		if rerr := os.Remove(d.temp); err == nil {
			err = rerr
		}
	}
	return err
}

// ScanPath opens path (device, image, or gzip image), scans it and closes
// it. View.Buffered says whether O_DIRECT had to be given up.
func ScanPath(ctx context.Context, path string, opts Options, tmpDir string) (*View, error) {
	d, err := Open(path, tmpDir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if opts.Device == "" {
		opts.Device = path
	}
	v, err := Scan(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	v.Buffered = !d.Direct()
	return v, nil
}
