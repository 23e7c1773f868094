package watch

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/lvfsck/lvfsck/blobstore"
)

// Verdict is what a blob's first md page says after its bdev unregistered.
type Verdict int

const (
	// VerdictLive: a valid first page of that blob with the lvol's uuid —
	// the blob loads at the next restart.
	VerdictLive Verdict = iota
	// VerdictZeroed: the page is zeros, as a completed delete leaves it.
	VerdictZeroed
	// VerdictOther: the page now holds something else (another blob, a
	// torn write, a chain that does not name the uuid).
	VerdictOther
)

func (v Verdict) String() string {
	switch v {
	case VerdictLive:
		return "live"
	case VerdictZeroed:
		return "zeroed"
	default:
		return "other"
	}
}

// Blob is where an lvol's md chain starts, from the last full scan.
type Blob struct {
	LvolUUID    string
	LvolName    string // lvstore/name
	Lvstore     string // lvstore name
	LvstoreUUID string
	BlobID      uint64
	Device      string
	FirstPage   uint32 // md page index
	MDStart     uint32 // in pages
	PageSize    uint32
}

func (b Blob) pageOffset(idx uint32) int64 {
	return (int64(b.MDStart) + int64(idx)) * int64(b.PageSize)
}

// maxChain bounds how far probe follows a chain whose first page does not
// carry the uuid xattr (many xattrs): a handful of pages, not a scan.
const maxChain = 8

// probe reads b's md chain from its first page (one 4 KiB read when the
// uuid xattr is on it, which is where SPDK writes it) and says what it
// holds. n is the bytes read.
func probe(r io.ReaderAt, b Blob) (v Verdict, n int64, err error) {
	if b.PageSize != blobstore.PageSize {
		return VerdictOther, 0, fmt.Errorf("blob %#x: page size %d, want %d", b.BlobID, b.PageSize, blobstore.PageSize)
	}
	buf := make([]byte, blobstore.PageSize)
	idx := b.FirstPage
	for i := 0; i < maxChain; i++ {
		k, err := r.ReadAt(buf, b.pageOffset(idx))
		n += int64(k)
		if err != nil && !(errors.Is(err, io.EOF) && k == len(buf)) {
			return VerdictOther, n, fmt.Errorf("read md page %d of blob %#x: %w", idx, b.BlobID, err)
		}
		if i == 0 && isZero(buf) {
			return VerdictZeroed, n, nil
		}
		p, err := blobstore.DecodePage(buf)
		if err != nil || p.ID != b.BlobID || p.Sequence != uint32(i) {
			return VerdictOther, n, nil
		}
		for _, d := range p.Descriptors {
			if x, ok := d.(*blobstore.Xattr); ok && !x.Internal && x.Name == blobstore.XattrUUID &&
				string(bytes.TrimRight(x.Value, "\x00")) == b.LvolUUID {
				return VerdictLive, n, nil
			}
		}
		if p.Next == blobstore.InvalidPage {
			return VerdictOther, n, nil
		}
		idx = p.Next
	}
	return VerdictOther, n, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
