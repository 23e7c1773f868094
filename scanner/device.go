package scanner

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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
	// temp is the decompressed copy of a gzip image: unlinked from its
	// creation, so it is gone when the last descriptor closes, whatever
	// kills the process.
	temp *os.File
}

// ErrNotDevice is returned for a path that is neither a regular file nor a
// block device (a FIFO, a socket, a character device, a directory): reading
// one would block, or mean nothing.
var ErrNotDevice = errors.New("not a regular file or block device")

// ErrGzip wraps a gzip image that cannot be decompressed whole: truncated,
// a checksum mismatch, corrupt data. It is a read error, not damage to the
// lvstore it holds.
var ErrGzip = errors.New("corrupt gzip image")

// Open opens path read-only for scanning. Gzip images (detected by their
// magic, whatever the name) are decompressed into a sparse, unlinked
// temporary file in tmpDir (os.TempDir() when empty) first.
func Open(path, tmpDir string) (*Device, error) {
	return OpenContext(context.Background(), path, tmpDir)
}

// OpenContext is Open, with the decompression of a gzip image cancelled
// when ctx ends.
func OpenContext(ctx context.Context, path, tmpDir string) (*Device, error) {
	in, err := openInput(path, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w: %w", path, ErrRead, err)
	}
	gz, err := isGzip(in)
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("read %s: %w: %w", path, ErrRead, err)
	}
	d := &Device{path: path}
	if !gz {
		in.Close()
		if err := d.open(path); err != nil {
			return nil, fmt.Errorf("open %s: %w: %w", path, ErrRead, err)
		}
		return d, nil
	}
	d.temp, err = inflate(ctx, in, tmpDir)
	in.Close()
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w: %w", path, ErrRead, err)
	}
	// The copy has no name; /proc/self/fd opens it anew, with O_DIRECT
	// where the file system allows, like any image. Without /proc the
	// descriptor itself is read, buffered.
	if err := d.open(fmt.Sprintf("/proc/self/fd/%d", d.temp.Fd())); err != nil {
		d.f, d.direct = d.temp, false
		if d.size, err = d.temp.Seek(0, io.SeekEnd); err != nil {
			d.Close()
			return nil, fmt.Errorf("decompress %s: %w: %w", path, ErrRead, err)
		}
	}
	return d, nil
}

// openFile is os.OpenFile; tests replace it to play a file system that
// refuses O_DIRECT.
var openFile = os.OpenFile

// openInput opens path read-only and refuses what is neither a regular file
// nor a block device. The open does not block (O_NONBLOCK: a FIFO's open
// would wait for a writer for ever); reads of what it lets through block as
// usual, since O_NONBLOCK means nothing to regular files and block devices
// and is cleared anyway.
func openInput(path string, flag int) (*os.File, error) {
	f, err := openFile(path, os.O_RDONLY|syscall.O_NONBLOCK|flag, 0)
	if errors.Is(err, syscall.ENXIO) {
		// a unix socket cannot be opened at all; say what it is
		if fi, serr := os.Stat(path); serr == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil, fmt.Errorf("%w (%s)", ErrNotDevice, kindOf(fi.Mode()))
		}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if m := fi.Mode(); !m.IsRegular() && (m&os.ModeDevice == 0 || m&os.ModeCharDevice != 0) {
		f.Close()
		return nil, fmt.Errorf("%w (%s)", ErrNotDevice, kindOf(m))
	}
	rc, err := f.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) { err = syscall.SetNonblock(int(fd), false) })
		err = errors.Join(err, cerr)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// kindOf names a non-regular file's type for an operator.
func kindOf(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m.IsDir():
		return "a directory"
	}
	return "file type " + m.Type().String()
}

func (d *Device) open(path string) error {
	f, err := openInput(path, syscall.O_DIRECT)
	d.direct = err == nil
	if errors.Is(err, syscall.EINVAL) {
		f, err = openInput(path, 0)
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

func isGzip(f *os.File) (bool, error) {
	var m [2]byte
	n, err := f.ReadAt(m[:], 0)
	if n < 2 {
		if err == io.EOF {
			return false, nil
		}
		return false, err
	}
	return m[0] == 0x1f && m[1] == 0x8b, nil
}

// maxInflate bounds a decompressed image (a gzip bomb of zeros costs no
// disk, but it costs time).
const maxInflate = 64 << 40

// inflate decompresses a gzip image into a sparse, unlinked temporary file:
// all-zero 4 KiB blocks are skipped, not written, so a mostly empty 4 GiB
// image takes a few MiB. The gzip stream must be whole: a truncated file or
// a checksum mismatch is an error (ErrGzip), never a shorter image.
func inflate(ctx context.Context, in io.Reader, tmpDir string) (*os.File, error) {
	out, err := createUnlinked(tmpDir)
	if err != nil {
		return nil, err
	}
	if _, err := inflateInto(ctx, in, out); err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

// inflateHook, when set (tests), is called after each chunk is written.
var inflateHook func(written int64)

// inflateInto writes the decompressed in to out, sparse, and sizes out.
func inflateInto(ctx context.Context, in io.Reader, out *os.File) (int64, error) {
	zr, err := gzip.NewReader(in)
	if err != nil {
		return 0, gzipError(err)
	}
	buf := make([]byte, 1<<20)
	var zero [alignment]byte
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, rerr := fill(zr, buf)
		for i := 0; i < n; i += alignment {
			blk := buf[i:min(i+alignment, n)]
			if !bytes.Equal(blk, zero[:len(blk)]) {
				if _, err := out.WriteAt(blk, off+int64(i)); err != nil {
					return 0, err
				}
			}
		}
		off += int64(n)
		if inflateHook != nil {
			inflateHook(off)
		}
		if off > maxInflate {
			return 0, fmt.Errorf("image larger than %d bytes", int64(maxInflate))
		}
		if rerr == io.EOF {
			break // the gzip reader checked the trailer: CRC and size
		}
		if rerr != nil {
			return 0, gzipError(rerr)
		}
	}
	if err := out.Truncate(off); err != nil {
		return 0, err
	}
	return off, nil
}

// fill reads r into buf until buf is full or r fails; unlike io.ReadFull it
// keeps r's own io.ErrUnexpectedEOF (a truncated stream) apart from a
// clean end (io.EOF).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// gzipError says what is wrong with a gzip stream in an operator's words.
func gzipError(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the gzip stream ends early (a truncated file) (%w)", ErrGzip, err)
	case errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("%w: the gzip checksum or length does not match, the file is corrupt (%w)", ErrGzip, err)
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("%w: a bad gzip header or trailing garbage (%w)", ErrGzip, err)
	case errors.As(err, &corrupt):
		return fmt.Errorf("%w: corrupt compressed data (%w)", ErrGzip, err)
	}
	return err
}

// openTmpfile is O_TMPFILE's open; tests replace it to play a file system
// without O_TMPFILE.
var openTmpfile = func(dir string) (int, error) {
	return unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
}

// createUnlinked creates a file in dir that has no name, so that nothing is
// left behind if the process dies (SIGKILL, OOM) while it holds gigabytes:
// O_TMPFILE where the kernel and file system have it, else a named file
// unlinked right after its creation.
func createUnlinked(dir string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	if fd, err := openTmpfile(dir); err == nil {
		return os.NewFile(uintptr(fd), filepath.Join(dir, "(unlinked lvfsck image)")), nil
	}
	f, err := os.CreateTemp(dir, "lvfsck-*.img")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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

// Close closes the device and its decompressed copy, if any (unlinked, it
// is gone with its last descriptor).
func (d *Device) Close() error {
	var err error
	if d.f != nil {
		err = d.f.Close()
	}
	if d.temp != nil && d.temp != d.f {
		err = errors.Join(err, d.temp.Close())
	}
	return err
}

// ScanPath opens path (device, image, or gzip image), scans it and closes
// it. View.Buffered says whether O_DIRECT had to be given up.
func ScanPath(ctx context.Context, path string, opts Options, tmpDir string) (*View, error) {
	d, err := OpenContext(ctx, path, tmpDir)
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
