package adapt

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/scanner"
)

// mdImage is the head of the real resurrection-pending image (super block,
// masks, md region): enough for BlobPresent, small enough to fuzz in memory.
// It is read once per test binary; when that fails, the first caller fails
// and so does every later one.
func mdImage(t testing.TB) []byte {
	t.Helper()
	mdHead.once.Do(func() {
		f, err := os.Open(inflate(t, "resurrection-pending.img.gz", t.TempDir()))
		require.NoError(t, err)
		defer f.Close()
		sb, err := blobstore.ReadSuperBlock(f)
		require.NoError(t, err)
		head := make([]byte, sb.MDPageOffset(sb.MDLen-1)+blobstore.PageSize)
		_, err = f.ReadAt(head, 0)
		require.NoError(t, err)
		mdHead.head = head
	})
	require.NotNil(t, mdHead.head, "the image's head could not be read")
	return mdHead.head
}

var mdHead struct {
	once sync.Once
	head []byte
}

func backup1Page(t testing.TB, head []byte) uint32 {
	d := NewDisk()
	sb, err := blobstore.ReadSuperBlock(bytes.NewReader(head))
	require.NoError(t, err)
	for i := uint32(0); i < sb.MDLen; i++ {
		ok, err := d.presentIn(context.Background(), bytes.NewReader(head), "mem", i, backup1)
		if err == nil && ok {
			return i
		}
	}
	t.Fatal("backup-1 not found in the md region")
	return 0
}

// FuzzBlobPresent replaces backup-1's first md page with arbitrary bytes:
// never a panic, and "present" only for a CRC-valid page that starts the
// blob — a deletion is never reported from a page lvfsck could not read.
func FuzzBlobPresent(f *testing.F) {
	head := mdImage(f)
	first := backup1Page(f, head)
	sb, err := blobstore.ReadSuperBlock(bytes.NewReader(head))
	require.NoError(f, err)
	off := sb.MDPageOffset(first)
	orig := append([]byte(nil), head[off:off+blobstore.PageSize]...)
	f.Add(orig)
	f.Add(make([]byte, blobstore.PageSize))
	torn := append([]byte(nil), orig...)
	torn[300] ^= 0xff
	f.Add(torn)
	f.Add(orig[:100])
	f.Fuzz(func(t *testing.T, page []byte) {
		img := append([]byte(nil), head...)
		p := make([]byte, blobstore.PageSize)
		copy(p, page)
		copy(img[off:], p)
		d := &Disk{Rereads: 1}
		ok, err := d.presentIn(context.Background(), scanner.BytesSource(img), "mem", first, backup1)
		if ok {
			require.NoError(t, err)
			pg, derr := blobstore.DecodePage(p)
			require.NotNil(t, pg)
			require.False(t, bytes.Equal(p, make([]byte, len(p))))
			require.True(t, pg.StartsBlob(first), "%v", derr)
		}
		if allZero(p) {
			require.NoError(t, err)
			require.False(t, ok, "a zeroed page is a deleted blob")
		}
	})
}

// BenchmarkBlobPresent is the verification read after every delete: one
// page and its chain, not the device.
func BenchmarkBlobPresent(b *testing.B) {
	img := inflate(b, "resurrection-pending.img.gz", b.TempDir())
	d := NewDisk(img)
	refs, err := d.FindBlob(context.Background(), repair.BlobQuery{LvolUUID: backup1})
	require.NoError(b, err)
	blob := refs[0].BlobID
	b.ResetTimer()
	for b.Loop() {
		ok, err := d.BlobPresent(context.Background(), lvsR, backup1, blob)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/verify")
}

// BenchmarkFindBlob is the recovery-mode walk of the md region that a
// delete does once, to learn the blob id.
func BenchmarkFindBlob(b *testing.B) {
	img := inflate(b, "resurrection-pending.img.gz", b.TempDir())
	d := NewDisk(img)
	for b.Loop() {
		if _, err := d.FindBlob(context.Background(), repair.BlobQuery{LvstoreUUID: lvsR, LvolUUID: backup1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/find")
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r     io.ReaderAt
	bytes int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes += int64(n)
	return n, err
}

// The verification after a delete reads the super block and the blob's
// own chain: a few pages, not the md region.
func TestBlobPresentReadsOnlyItsPages(t *testing.T) {
	head := mdImage(t)
	first := backup1Page(t, head)
	cr := &countingReader{r: bytes.NewReader(head)}
	ok, err := NewDisk().presentIn(context.Background(), cr, "mem", first, backup1)
	require.NoError(t, err)
	require.True(t, ok)
	// super block + first page + chain (one page here, read again by the walk)
	require.LessOrEqual(t, cr.bytes, int64(4*blobstore.PageSize))
	require.Less(t, cr.bytes, int64(len(head))/8, "not the md region")
}
