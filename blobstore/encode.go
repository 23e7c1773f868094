package blobstore

import (
	"fmt"
	"math"
	"strings"
)

// EncodedPage is one encoded md page and the md page index it belongs at.
type EncodedPage struct {
	Index uint32
	Data  []byte
}

// pageWriter fills chain pages the way blob_serialize does: descriptors
// back to back, a new page when the next one does not fit.
type pageWriter struct {
	id        uint64
	pages     []*Page
	remaining int
}

func (w *pageWriter) add() {
	w.pages = append(w.pages, &Page{ID: w.id, Sequence: uint32(len(w.pages)), Next: InvalidPage})
	w.remaining = DescriptorAreaSize
}

func (w *pageWriter) put(d Descriptor) {
	p := w.pages[len(w.pages)-1]
	p.Descriptors = append(p.Descriptors, d)
	w.remaining -= DescriptorSize(d)
}

// SerializeBlob lays out a blob's chain pages as SPDK's blob_serialize
// does: FLAGS first, then user xattrs, internal xattrs (each moved whole to
// a new page when it does not fit), then the extent table (split over
// pages, with unallocated extent pages run-length encoded) or the
// EXTENT_RLE list (split likewise). Pages carry the blob id and sequence
// numbers; Next is InvalidPage (EncodeBlob links them).
//
// For blobs with an extent table, ExtentTableLen slots are written; 0 with
// NumClusters > 0 means ceil(NumClusters/512), as after a resize.
func SerializeBlob(b *Blob) ([]*Page, error) {
	w := &pageWriter{id: b.ID}
	w.add()
	w.put(&Flags{Invalid: b.Invalid, DataRO: b.DataRO, MDRO: b.MDRO})
	for _, internal := range []bool{false, true} {
		for _, x := range b.Xattrs {
			if x.Internal != internal {
				continue
			}
			// SPDK takes the name with strlen.
			name, _, _ := strings.Cut(x.Name, "\x00")
			d := &Xattr{Name: name, Value: x.Value, Internal: internal}
			if len(name) > math.MaxUint16 || len(x.Value) > math.MaxUint16 {
				return nil, formatErr(ErrTooLarge, -1, -1, "xattr %q: name or value over 65535 bytes", name)
			}
			if DescriptorSize(d) > w.remaining {
				w.add()
				if DescriptorSize(d) > w.remaining {
					return nil, formatErr(ErrTooLarge, -1, -1, "xattr %q of %d bytes does not fit a page", name, DescriptorSize(d))
				}
			}
			w.put(d)
		}
	}
	var err error
	if b.UsesExtentTable {
		err = serializeTable(w, b)
	} else {
		err = serializeRLE(w, b)
	}
	if err != nil {
		return nil, err
	}
	return w.pages, nil
}

// rleSegments splits the blob into maximal allocated runs and holes.
func rleSegments(b *Blob) ([]Extent, error) {
	var segs []Extent
	var pos uint64
	add := func(idx, n uint64) error {
		if n == 0 {
			return nil
		}
		if n > math.MaxUint32 || idx+n > 1<<32 {
			return formatErr(ErrTooLarge, -1, -1, "extent of %d clusters at %d does not fit EXTENT_RLE", n, idx)
		}
		segs = append(segs, Extent{ClusterIdx: uint32(idx), Length: uint32(n)})
		return nil
	}
	for _, r := range b.Clusters {
		if r.Logical < pos || r.Logical+r.Count > b.NumClusters || r.Physical == 0 {
			return nil, formatErr(ErrDescriptor, -1, -1, "run %+v out of order or past %d clusters", r, b.NumClusters)
		}
		if err := add(0, r.Logical-pos); err != nil {
			return nil, err
		}
		if err := add(r.Physical, r.Count); err != nil {
			return nil, err
		}
		pos = r.Logical + r.Count
	}
	if err := add(0, b.NumClusters-pos); err != nil {
		return nil, err
	}
	// Runs that touch merge, as SPDK's serializer merges them.
	out := segs[:0]
	for _, s := range segs {
		if n := len(out); n > 0 {
			l := &out[n-1]
			if (l.ClusterIdx == 0 && s.ClusterIdx == 0 || l.ClusterIdx != 0 && l.ClusterIdx+l.Length == s.ClusterIdx) &&
				uint64(l.Length)+uint64(s.Length) <= math.MaxUint32 {
				l.Length += s.Length
				continue
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func serializeRLE(w *pageWriter, b *Blob) error {
	segs, err := rleSegments(b)
	if err != nil {
		return err
	}
	for i := 0; i < len(segs); {
		if w.remaining < descHeaderSize+8 {
			w.add()
			continue
		}
		d := &ExtentRLE{Extents: []Extent{segs[i]}}
		i++
		for i < len(segs) && w.remaining >= DescriptorSize(d)+8 {
			d.Extents = append(d.Extents, segs[i])
			i++
		}
		w.put(d)
		if i < len(segs) {
			w.add()
		}
	}
	return nil
}

// tableLen is the number of extent table slots SerializeBlob writes.
func tableLen(b *Blob) uint64 {
	if b.ExtentTableLen == 0 && b.NumClusters > 0 {
		return (b.NumClusters + ExtentsPerPage - 1) / ExtentsPerPage
	}
	return b.ExtentTableLen
}

// tableSegments is the extent table as entries: one per allocated extent
// page, one per run of unallocated slots.
func tableSegments(b *Blob) ([]ExtentTableEntry, error) {
	n := tableLen(b)
	var segs []ExtentTableEntry
	var pos uint64
	hole := func(k uint64) error {
		for k > 0 {
			// A longer hole would need two entries; SPDK's u32 counter would wrap.
			if k > math.MaxUint32 {
				return formatErr(ErrTooLarge, -1, -1, "hole of %d extent pages", k)
			}
			segs = append(segs, ExtentTableEntry{PageIdx: 0, NumPages: uint32(k)})
			k = 0
		}
		return nil
	}
	for _, r := range b.ExtentRefs {
		if r.Slot < pos || r.Slot >= n || r.Page == 0 {
			return nil, formatErr(ErrExtentPage, int64(r.Page), -1, "extent page at slot %d out of order or past %d slots", r.Slot, n)
		}
		if err := hole(r.Slot - pos); err != nil {
			return nil, err
		}
		segs = append(segs, ExtentTableEntry{PageIdx: r.Page, NumPages: 1})
		pos = r.Slot + 1
	}
	if err := hole(n - pos); err != nil {
		return nil, err
	}
	return segs, nil
}

func serializeTable(w *pageWriter, b *Blob) error {
	segs, err := tableSegments(b)
	if err != nil {
		return err
	}
	for i := 0; ; {
		// With less room than a bare table descriptor, SPDK writes nothing
		// on this page; otherwise it writes one, even with no entries.
		if w.remaining >= descHeaderSize+8 {
			d := &ExtentTable{NumClusters: b.NumClusters}
			for i < len(segs) && w.remaining >= DescriptorSize(d)+8 {
				d.Entries = append(d.Entries, segs[i])
				i++
			}
			w.put(d)
		}
		if i == len(segs) {
			return nil
		}
		w.add()
	}
}

// ChainLength is how many chain pages the blob serializes to.
func ChainLength(b *Blob) (int, error) {
	pages, err := SerializeBlob(b)
	if err != nil {
		return 0, err
	}
	return len(pages), nil
}

// SerializeExtentPages builds the blob's extent pages as
// blob_serialize_extent_page does: one EXTENT_PAGE descriptor with the
// clusters from the slot's first cluster to the end of the blob, at most
// 512. Each page carries ExtentRef.ID (0 means the blob's own id), so pages
// that another blob first wrote keep that blob's id.
func SerializeExtentPages(b *Blob) ([]EncodedPage, error) {
	out := make([]EncodedPage, 0, len(b.ExtentRefs))
	for _, r := range b.ExtentRefs {
		start := r.Slot * ExtentsPerPage
		if start > math.MaxUint32 {
			return nil, formatErr(ErrTooLarge, int64(r.Page), -1, "extent page slot %d starts past cluster 2^32", r.Slot)
		}
		d := &ExtentPage{StartCluster: uint32(start)}
		for i := start; i < b.NumClusters && i < start+ExtentsPerPage; i++ {
			c := b.Cluster(i)
			if c > math.MaxUint32 {
				return nil, formatErr(ErrTooLarge, int64(r.Page), -1, "cluster %d past 2^32", c)
			}
			d.Clusters = append(d.Clusters, uint32(c))
		}
		id := r.ID
		if id == 0 {
			id = b.ID
		}
		data, err := EncodePage(&Page{ID: id, Next: InvalidPage, Descriptors: []Descriptor{d}})
		if err != nil {
			return nil, err
		}
		out = append(out, EncodedPage{Index: r.Page, Data: data})
	}
	return out, nil
}

// EncodeBlob encodes a blob's chain pages, linked through b.Pages (which
// must have exactly ChainLength entries, b.Pages[0] the page of b.ID), and
// its extent pages.
func EncodeBlob(b *Blob) (chain, extents []EncodedPage, err error) {
	pages, err := SerializeBlob(b)
	if err != nil {
		return nil, nil, err
	}
	if len(pages) != len(b.Pages) {
		return nil, nil, formatErr(ErrChain, -1, -1, "blob %#x serializes to %d pages, has %d page indices", b.ID, len(pages), len(b.Pages))
	}
	if idx, ok := PageIndex(b.ID); !ok || idx != b.Pages[0] {
		return nil, nil, formatErr(ErrChain, int64(b.Pages[0]), -1, "blob id %#x does not match first page %d", b.ID, b.Pages[0])
	}
	for i, p := range pages {
		if i+1 < len(pages) {
			p.Next = b.Pages[i+1]
		}
		data, err := EncodePage(p)
		if err != nil {
			return nil, nil, fmt.Errorf("blob %#x page %d: %w", b.ID, b.Pages[i], err)
		}
		chain = append(chain, EncodedPage{Index: b.Pages[i], Data: data})
	}
	extents, err = SerializeExtentPages(b)
	if err != nil {
		return nil, nil, fmt.Errorf("blob %#x: %w", b.ID, err)
	}
	return chain, extents, nil
}
