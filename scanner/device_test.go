package scanner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// within runs fn and fails the test if it has not returned after d: the
// behaviour under test is "does not hang".
func within[T any](t *testing.T, d time.Duration, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("still running after %s", d)
		panic("unreachable")
	}
}

// A FIFO (whose open waits for a writer), a socket, a character device or a
// directory is refused at once, not read.
func TestOpenRefusesNonDevices(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer ln.Close()
	for _, c := range []struct{ path, kind string }{
		{fifo, "a FIFO"},
		{sock, "a socket"},
		{"/dev/null", "a character device"},
		{dir, "a directory"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			err := within(t, 5*time.Second, func() error {
				_, err := ScanPath(context.Background(), c.path, Options{}, t.TempDir())
				return err
			})
			require.ErrorIs(t, err, ErrNotDevice)
			require.ErrorIs(t, err, ErrRead)
			require.ErrorContains(t, err, c.kind)
			require.ErrorContains(t, err, c.path)
		})
	}
}

// blockingSource serves img, but a read at or beyond blockAt never returns
// until release is closed: a hung device.
type blockingSource struct {
	memImage
	blockAt int64
	release chan struct{}
	once    sync.Once
	blocked chan struct{}
}

func (s *blockingSource) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.blockAt {
		s.once.Do(func() { close(s.blocked) })
		<-s.release
		return 0, errors.New("released")
	}
	return s.memImage.ReadAt(p, off)
}

// A read that never returns does not hold the scan once its context ends:
// the super block read, a mask read (clean mode) and the md pipeline.
func TestScanCancelsBlockedRead(t *testing.T) {
	img := fixtureImage(t, "basic-1m")
	sb := decodeSuper(img.b)
	for _, at := range []int64{0, int64(sb.UsedPageStart) * pageSize, int64(sb.MDStart+3) * pageSize} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			src := &blockingSource{memImage: img, blockAt: at, release: make(chan struct{}), blocked: make(chan struct{})}
			defer close(src.release)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-src.blocked
				cancel()
			}()
			err := within(t, 2*time.Second, func() error {
				_, err := Scan(ctx, src, Options{BatchBytes: pageSize})
				return err
			})
			require.ErrorIs(t, err, context.Canceled)
		})
	}
}

// gzipOf returns the bytes of the fixture NAME.img.gz.
func gzipOf(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name+".img.gz"))
	require.NoError(t, err)
	return b
}

// A gzip image that cannot be decompressed whole is a read error naming
// the file (exit 8), never a shorter device (a truncated-device finding).
func TestCorruptGzipIsReadError(t *testing.T) {
	gz := gzipOf(t, "basic-1m")
	crc := func(b []byte) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[len(b)-8:], binary.LittleEndian.Uint32(b[len(b)-8:])^1)
		return b
	}
	size := func(b []byte) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[len(b)-4:], binary.LittleEndian.Uint32(b[len(b)-4:])+4096)
		return b
	}
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"half", "truncated", gz[:len(gz)/2]},
		{"no trailer", "truncated", gz[:len(gz)-8]},
		{"half a trailer", "truncated", gz[:len(gz)-3]},
		{"header only", "truncated", gz[:12]},
		{"bad crc", "checksum", crc(gz)},
		{"bad length", "checksum", size(gz)},
		{"trailing garbage", "trailing garbage", append(bytes.Clone(gz), "trailing garbage after the last member"...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk.img.gz")
			require.NoError(t, os.WriteFile(path, c.data, 0o600))
			tmp := t.TempDir()
			_, err := ScanPath(context.Background(), path, Options{}, tmp)
			require.ErrorIs(t, err, ErrRead)
			require.ErrorIs(t, err, ErrGzip)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, c.want)
			requireEmptyDir(t, tmp)
		})
	}
}

func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, ents, "left in %s", dir)
}

// The decompressed copy has no name while it is used, with O_TMPFILE and
// without (created, then unlinked at once).
func TestInflatedCopyHasNoName(t *testing.T) {
	gz := filepath.Join(fixtureDir, "basic-1m.img.gz")
	for _, tmpfile := range []bool{true, false} {
		t.Run(fmt.Sprint("O_TMPFILE=", tmpfile), func(t *testing.T) {
			if !tmpfile {
				orig := openTmpfile
				defer func() { openTmpfile = orig }()
				openTmpfile = func(string) (int, error) { return -1, syscall.EOPNOTSUPP }
			}
			tmp := t.TempDir()
			d, err := Open(gz, tmp)
			require.NoError(t, err)
			requireEmptyDir(t, tmp)
			v, err := Scan(context.Background(), d, Options{})
			require.NoError(t, err)
			require.Len(t, v.Blobs, 6)
			require.Equal(t, int64(64<<20), d.Size())
			require.NoError(t, d.Close())
			requireEmptyDir(t, tmp)
		})
	}
}

// inflateChildEnv makes the test binary a child that decompresses a gzip
// image into the directory it names and stops mid-way, waiting for a kill.
const inflateChildEnv = "LVFSCK_TEST_INFLATE_CHILD"

// TestInflateChild is the child's side of TestKilledInflateLeavesNothing.
func TestInflateChild(t *testing.T) {
	dir := os.Getenv(inflateChildEnv)
	if dir == "" {
		t.Skip("child process of TestKilledInflateLeavesNothing only")
	}
	if os.Getenv(inflateChildEnv+"_NO_TMPFILE") != "" {
		openTmpfile = func(string) (int, error) { return -1, syscall.EISDIR }
	}
	inflateHook = func(written int64) {
		if written >= 4<<20 {
			fmt.Println("inflating")
			select {} // until killed
		}
	}
	_, err := Open(filepath.Join(fixtureDir, "basic-1m.img.gz"), dir)
	t.Fatalf("Open returned: %v", err)
}

// A SIGKILL while a gzip image is being decompressed leaves nothing in the
// temporary directory: the copy never had a name, or lost it at once.
func TestKilledInflateLeavesNothing(t *testing.T) {
	for _, tmpfile := range []bool{true, false} {
		t.Run(fmt.Sprint("O_TMPFILE=", tmpfile), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestInflateChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), inflateChildEnv+"="+dir)
			if !tmpfile {
				cmd.Env = append(cmd.Env, inflateChildEnv+"_NO_TMPFILE=1")
			}
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			line := within(t, 30*time.Second, func() string {
				l, _ := bufio.NewReader(out).ReadString('\n')
				return l
			})
			require.Equal(t, "inflating\n", line)
			requireEmptyDir(t, dir) // mid-inflate, with megabytes written
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()
			requireEmptyDir(t, dir)
		})
	}
}
