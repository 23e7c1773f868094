package blobstore

import (
	"errors"
	"fmt"
	"io"
)

// readFull reads exactly n bytes at off; a short device is ErrTruncated.
func readFull(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, formatErr(ErrTruncated, off/PageSize, 0, "read %d of %d bytes at %d", got, n, off)
	}
	return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
}

// ReadSuperBlock reads and decodes page 0.
func ReadSuperBlock(r io.ReaderAt) (*SuperBlock, error) {
	b, err := readFull(r, 0, PageSize)
	if err != nil {
		return nil, fmt.Errorf("read super block: %w", err)
	}
	return DecodeSuperBlock(b)
}

// ReadMask reads and decodes one mask region of sb (MaskUsedPages,
// MaskUsedClusters or MaskUsedBlobIDs). It reads the first page, checks
// the length with CheckMask, and then reads only the pages that length
// needs, so a hostile length or region costs no more than the md region or
// the cluster count justify. A used-cluster mask longer than the cluster
// count is cut to it, as SPDK does.
func ReadMask(r io.ReaderAt, sb *SuperBlock, kind uint8) (*Mask, error) {
	var start, n uint32
	switch kind {
	case MaskUsedPages:
		start, n = sb.UsedPageMaskStart, sb.UsedPageMaskLen
	case MaskUsedClusters:
		start, n = sb.UsedClusterMaskStart, sb.UsedClusterMaskLen
	case MaskUsedBlobIDs:
		start, n = sb.UsedBlobIDMaskStart, sb.UsedBlobIDMaskLen
	default:
		return nil, fmt.Errorf("mask type %d: %w", kind, ErrMask)
	}
	if n == 0 {
		return nil, formatErr(ErrMask, int64(start), -1, "mask %d has no pages", kind)
	}
	head, err := readFull(r, int64(start)*PageSize, PageSize)
	if err != nil {
		return nil, fmt.Errorf("read mask %d: %w", kind, err)
	}
	if head[0] != kind {
		return nil, formatErr(ErrMask, int64(start), 0, "mask type %d, want %d", head[0], kind)
	}
	length := uint64(le.Uint32(head[1:]))
	if err := checkMaskLength(sb, kind, length, n); err != nil {
		return nil, atPage(err, int64(start))
	}
	if kind == MaskUsedClusters && sb.Size != 0 && length > sb.TotalClusters() {
		length = sb.TotalClusters()
		le.PutUint32(head[1:], uint32(length))
	}
	need := maskPages(length)
	b := make([]byte, need*PageSize)
	copy(b, head)
	if need > 1 {
		rest, err := readFull(r, int64(start+1)*PageSize, int(need-1)*PageSize)
		if err != nil {
			return nil, fmt.Errorf("read mask %d: %w", kind, err)
		}
		copy(b[PageSize:], rest)
	}
	m, err := DecodeMask(b, kind)
	if err != nil {
		return nil, fmt.Errorf("mask %d: %w", kind, atPage(err, int64(start)))
	}
	return m, nil
}

// CheckMask checks a decoded mask against the super block as SPDK's load
// does: it fits its region; the used-page and used-blobid masks have
// exactly md_len bits; the used-cluster mask at least the cluster count.
func CheckMask(sb *SuperBlock, m *Mask) error {
	var n uint32
	switch m.Type {
	case MaskUsedPages:
		n = sb.UsedPageMaskLen
	case MaskUsedClusters:
		n = sb.UsedClusterMaskLen
	case MaskUsedBlobIDs:
		n = sb.UsedBlobIDMaskLen
	default:
		return formatErr(ErrMask, -1, 0, "mask type %d", m.Type)
	}
	return checkMaskLength(sb, m.Type, uint64(m.Length), n)
}

func checkMaskLength(sb *SuperBlock, kind uint8, length uint64, pages uint32) error {
	if maskPages(length) > uint64(pages) {
		return formatErr(ErrMask, -1, 1, "mask %d of %d bits does not fit %d pages", kind, length, pages)
	}
	switch kind {
	case MaskUsedPages, MaskUsedBlobIDs:
		if length != uint64(sb.MDLen) {
			return formatErr(ErrMask, -1, 1, "mask %d has %d bits, md region %d pages", kind, length, sb.MDLen)
		}
	case MaskUsedClusters:
		if sb.Size != 0 && length < sb.TotalClusters() {
			return formatErr(ErrMask, -1, 1, "cluster mask has %d bits, %d clusters", length, sb.TotalClusters())
		}
	}
	return nil
}

// ReadPageBytes reads md page idx of sb.
func ReadPageBytes(r io.ReaderAt, sb *SuperBlock, idx uint32) ([]byte, error) {
	if idx >= sb.MDLen {
		return nil, formatErr(ErrChain, int64(idx), -1, "md page %d outside the md region of %d pages", idx, sb.MDLen)
	}
	b, err := readFull(r, sb.MDPageOffset(idx), PageSize)
	if err != nil {
		return nil, fmt.Errorf("read md page %d: %w", idx, err)
	}
	return b, nil
}

// ReadPage reads and decodes md page idx; errors carry the page index. As
// with DecodePage, a page with a bad CRC is returned with the error.
func ReadPage(r io.ReaderAt, sb *SuperBlock, idx uint32) (*Page, error) {
	b, err := ReadPageBytes(r, sb, idx)
	if err != nil {
		return nil, err
	}
	p, err := DecodePage(b)
	return p, atPage(err, int64(idx))
}

// ReadChain reads the chain that starts at md page first, following next
// links. A link outside the md region, a page visited twice (a loop), or a
// chain longer than the md region is an ErrChain error; a page that fails
// to decode ends the walk with its error. The pages read so far are
// returned with any error.
func ReadChain(r io.ReaderAt, sb *SuperBlock, first uint32) ([]*Page, error) {
	var chain []*Page
	seen := make(map[uint32]bool)
	for idx := first; ; {
		if seen[idx] {
			return chain, formatErr(ErrChain, int64(idx), pageNextOffset, "chain from %d loops back to page %d", first, idx)
		}
		seen[idx] = true
		p, err := ReadPage(r, sb, idx)
		if err != nil {
			return chain, err
		}
		chain = append(chain, p)
		if p.Next == InvalidPage {
			return chain, nil
		}
		idx = p.Next
	}
}

// ReadBlob reads and parses the blob whose first md page is first.
func ReadBlob(r io.ReaderAt, sb *SuperBlock, first uint32, opts ParseOptions) (*Blob, error) {
	chain, err := ReadChain(r, sb, first)
	if err != nil {
		return nil, fmt.Errorf("blob %#x: %w", BlobID(first), err)
	}
	if chain[0].ID != BlobID(first) {
		return nil, formatErr(ErrIDMismatch, int64(first), 0, "page %d carries id %#x, want %#x", first, chain[0].ID, BlobID(first))
	}
	b, err := ParseBlob(chain, func(idx uint32) (*Page, error) { return ReadPage(r, sb, idx) }, opts)
	if err != nil {
		return b, fmt.Errorf("blob %#x: %w", BlobID(first), err)
	}
	return b, nil
}
