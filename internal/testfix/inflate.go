package testfix

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// InflateSparse writes the gzip image src to dst as a sparse file: all-zero
// 64 KiB blocks are skipped, so a 4 GiB capture costs only its used blocks.
func InflateSparse(t testing.TB, src, dst string) {
	t.Helper()
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	out, err := os.Create(dst)
	require.NoError(t, err)
	defer out.Close()
	buf := make([]byte, 1<<16)
	zero := make([]byte, len(buf))
	var off int64
	for {
		n, err := io.ReadFull(zr, buf)
		if n > 0 {
			if !bytes.Equal(buf[:n], zero[:n]) {
				_, werr := out.WriteAt(buf[:n], off)
				require.NoError(t, werr)
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		require.NoError(t, err)
	}
	require.NoError(t, out.Truncate(off))
}
