package testfix

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// blockSize is the unit of sparseness: an all-zero block becomes a hole.
const blockSize = 1 << 16

// InflateSparse writes the gzip image src to dst as a sparse file: all-zero
// 64 KiB blocks are skipped, so a 4 GiB capture costs only its used blocks.
func InflateSparse(t testing.TB, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	out, err := os.Create(dst)
	require.NoError(t, err)
	defer out.Close()
	size, err := eachBlock(f, func(off int64, b []byte) error {
		_, err := out.WriteAt(b, off)
		return err
	})
	require.NoError(t, err, src)
	require.NoError(t, out.Truncate(size))
}

// image is an inflated capture held in memory: its non-zero blocks by
// offset, and its size.
type image struct {
	blocks map[int64][]byte
	size   int64
}

// images holds InflateSparseCached's images by source path, each behind a
// sync.OnceValues so that concurrent first callers inflate it once.
var images sync.Map

// InflateSparseCached is InflateSparse for an image that many tests of one
// binary copy: src is inflated once into memory (its non-zero blocks only),
// and each call writes its own sparse copy in milliseconds, where inflating
// again costs a second or more under the race detector.
func InflateSparseCached(t testing.TB, src, dst string) {
	t.Helper()
	load, _ := images.LoadOrStore(src, sync.OnceValues(func() (*image, error) {
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		img := &image{blocks: map[int64][]byte{}}
		img.size, err = eachBlock(f, func(off int64, b []byte) error {
			img.blocks[off] = append([]byte(nil), b...)
			return nil
		})
		return img, err
	}))
	img, err := load.(func() (*image, error))()
	require.NoError(t, err, src)
	out, err := os.Create(dst)
	require.NoError(t, err)
	defer out.Close()
	for off, b := range img.blocks {
		_, err := out.WriteAt(b, off)
		require.NoError(t, err)
	}
	require.NoError(t, out.Truncate(img.size))
}

// eachBlock inflates the gzip stream r and calls fn with each block that is
// not all zero (the slice is reused after fn returns); it returns the
// inflated size.
func eachBlock(r io.Reader, fn func(off int64, b []byte) error) (int64, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("gzip header: %w", err)
	}
	buf := make([]byte, blockSize)
	zero := make([]byte, blockSize)
	var off int64
	for {
		n, err := io.ReadFull(zr, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if ferr := fn(off, buf[:n]); ferr != nil {
				return 0, fmt.Errorf("block at %d: %w", off, ferr)
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return off, nil
		}
		if err != nil {
			return 0, fmt.Errorf("inflate at %d: %w", off, err)
		}
	}
}
