package blobstore

import (
	"bytes"
	"fmt"
	"sort"
)

// Run is a run of allocated clusters: logical clusters [Logical,
// Logical+Count) of the blob live in device clusters [Physical,
// Physical+Count).
type Run struct {
	Logical, Physical, Count uint64
}

// ExtentRef is one allocated extent page of a blob.
type ExtentRef struct {
	Slot uint64 // index in the extent table: clusters [Slot*512, Slot*512+512)
	Page uint32 // md page index
	ID   uint64 // blob id in the extent page header; may be another blob's (SPDK does not check)
}

// Blob is a blob as SPDK would load it from its md pages.
type Blob struct {
	ID    uint64
	Pages []uint32 // md page indices of the chain, first page first
	// ExtentPages are the md page indices of the allocated extent pages, in
	// table order; ExtentRefs says where each sits in the table.
	ExtentPages []uint32
	ExtentRefs  []ExtentRef

	Invalid, DataRO, MDRO uint64 // flags, as stored

	Xattrs []Xattr // on-disk order (user xattrs, then internal ones)

	// NumClusters is the blob's size in clusters as SPDK computes it at load.
	NumClusters uint64
	// Clusters are the allocated clusters as merged runs, by logical order.
	// Unallocated clusters (thin blobs) are the gaps.
	Clusters []Run

	UsesExtentTable bool
	// ExtentTableLen is the number of extent table slots (allocated or not);
	// TableNumClusters is num_clusters as the EXTENT_TABLE descriptors say.
	ExtentTableLen   uint64
	TableNumClusters uint64

	// Unknown lists descriptors of types SPDK does not know (skipped at
	// open, fatal in a dirty-load replay), with the chain position.
	Unknown []UnknownDesc
}

// UnknownDesc is an unknown descriptor found in a blob's chain.
type UnknownDesc struct {
	Page uint32
	Type uint8
	Len  int
}

// Thin reports the thin-provisioning flag.
func (b *Blob) Thin() bool { return b.Invalid&FlagThin != 0 }

// ReadOnly reports what SPDK derives from data_ro: the read-only flag or an
// unknown data_ro flag.
func (b *Blob) ReadOnly() bool { return b.DataRO != 0 }

// MDReadOnly reports whether SPDK opens the blob's metadata read-only: a
// read-only blob, or an unknown md_ro flag.
func (b *Blob) MDReadOnly() bool { return b.ReadOnly() || b.MDRO&^MDROFlagsMask != 0 }

// ClearMethod is the clear method kept in md_ro bits 0-1 (0 default, 1
// none, 2 unmap, 3 write zeroes).
func (b *Blob) ClearMethod() uint8 { return uint8(b.MDRO & ClearMethodMask) }

// UnknownInvalidFlags are invalid flags SPDK does not know: it refuses to
// open such a blob.
func (b *Blob) UnknownInvalidFlags() uint64 { return b.Invalid &^ InvalidFlagsMask }

// Xattr returns the value of the first user xattr named name, then of the
// first internal one.
func (b *Blob) Xattr(name string) ([]byte, bool) {
	for _, internal := range []bool{false, true} {
		for _, x := range b.Xattrs {
			if x.Internal == internal && x.Name == name {
				return x.Value, true
			}
		}
	}
	return nil, false
}

// InternalXattr returns the value of an internal xattr.
func (b *Blob) InternalXattr(name string) ([]byte, bool) {
	for _, x := range b.Xattrs {
		if x.Internal && x.Name == name {
			return x.Value, true
		}
	}
	return nil, false
}

// StringXattr is a user xattr as a string, trailing NULs stripped (lvol
// names are stored NUL-padded to 256 bytes).
func (b *Blob) StringXattr(name string) (string, bool) {
	for _, x := range b.Xattrs {
		if !x.Internal && x.Name == name {
			return string(bytes.TrimRight(x.Value, "\x00")), true
		}
	}
	return "", false
}

// Name and UUID are the lvol (or lvstore) identity xattrs.
func (b *Blob) Name() (string, bool) { return b.StringXattr(XattrName) }
func (b *Blob) UUID() (string, bool) { return b.StringXattr(XattrUUID) }

// Parent is the parent snapshot blob id from the internal SNAP xattr; false
// if absent or not 8 bytes.
func (b *Blob) Parent() (uint64, bool) {
	v, ok := b.InternalXattr(XattrSnapshot)
	if !ok || len(v) != 8 {
		return 0, false
	}
	return le.Uint64(v), true
}

// ExternalSnapshot is the external snapshot id (EXTSNAP), for esnap clones.
func (b *Blob) ExternalSnapshot() ([]byte, bool) { return b.InternalXattr(XattrExternalSnapshot) }

// Runs returns the allocated clusters as runs (the Clusters field).
func (b *Blob) Runs() []Run { return b.Clusters }

// AllocatedClusters counts the allocated clusters.
func (b *Blob) AllocatedClusters() uint64 {
	var n uint64
	for _, r := range b.Clusters {
		n += r.Count
	}
	return n
}

// Cluster returns the device cluster of logical cluster i, 0 if unallocated.
func (b *Blob) Cluster(i uint64) uint64 {
	k := sort.Search(len(b.Clusters), func(k int) bool { return b.Clusters[k].Logical+b.Clusters[k].Count > i })
	if k < len(b.Clusters) && b.Clusters[k].Logical <= i {
		return b.Clusters[k].Physical + i - b.Clusters[k].Logical
	}
	return 0
}

// addRun appends clusters, merging with the last run when contiguous in
// both spaces (as SPDK's RLE serializer merges them).
func (b *Blob) addRun(logical, physical, count uint64) {
	if count == 0 {
		return
	}
	if n := len(b.Clusters); n > 0 {
		l := &b.Clusters[n-1]
		if l.Logical+l.Count == logical && l.Physical+l.Count == physical {
			l.Count += count
			return
		}
	}
	b.Clusters = append(b.Clusters, Run{logical, physical, count})
}

// ParseOptions tune ParseBlob.
type ParseOptions struct {
	// ClusterUsed, when set, is asked for every allocated cluster; SPDK
	// refuses a blob that points at a cluster its used-cluster map does not
	// hold. Nil skips the check.
	ClusterUsed func(cluster uint32) bool
}

// ParseBlob assembles a blob from its chain pages, in chain order, and its
// extent pages, read on demand through readExtentPage (md page index; may
// be nil for blobs without an extent table). It checks what SPDK's
// blob_load/blob_parse check: the first page has sequence 0 and the id of
// its own index (the id in pages[0] decides the blob id); every chain page
// carries that id and sequence numbers count up from 0 (SPDK only asserts
// these; a mismatch is the known crash); descriptors are valid; extent
// pages pass the extent page check and start where the blob ends so far.
// Extent page ids are not checked. Errors wrap ErrChain, ErrDescriptor,
// ErrExtentPage or ErrCRC (finer: ErrForeignPage, ErrSequence,
// ErrIDMismatch, ErrUnknownFlags). chain[i].Next must point at the next
// page index; the indices are recorded in Blob.Pages, the first from the
// id. On error the returned blob (if any) holds what was parsed up to the
// error: flags and xattrs come first on disk, so it usually has its name.
func ParseBlob(chain []*Page, readExtentPage func(idx uint32) (*Page, error), opts ParseOptions) (*Blob, error) {
	if len(chain) == 0 {
		return nil, formatErr(ErrChain, -1, -1, "empty chain")
	}
	first := chain[0]
	idx, ok := PageIndex(first.ID)
	if !ok {
		return nil, formatErr(ErrIDMismatch, -1, 0, "first page id %#x is not a blob id", first.ID)
	}
	b := &Blob{ID: first.ID, Pages: make([]uint32, 0, len(chain))}
	b.Pages = append(b.Pages, idx)
	st := parseState{b: b, opts: opts}
	for i, p := range chain {
		pg := b.Pages[i]
		if p.ID != b.ID {
			return b, formatErr(ErrForeignPage, int64(pg), 0, "chain page %d carries id %#x, blob is %#x", i, p.ID, b.ID)
		}
		if p.Sequence != uint32(i) {
			return b, formatErr(ErrSequence, int64(pg), 8, "chain page %d has sequence %d", i, p.Sequence)
		}
		if i+1 < len(chain) {
			if p.Next == InvalidPage {
				return b, formatErr(ErrChain, int64(pg), pageNextOffset, "chain ends after %d of %d pages", i+1, len(chain))
			}
			b.Pages = append(b.Pages, p.Next)
		} else if p.Next != InvalidPage {
			return b, formatErr(ErrChain, int64(pg), pageNextOffset, "last chain page points on to %d", p.Next)
		}
		if err := st.page(pg, p); err != nil {
			return b, err
		}
	}
	b.UsesExtentTable = st.tableFound
	if st.tableFound {
		if err := st.extentPages(readExtentPage); err != nil {
			return b, err
		}
	}
	return b, st.deferred
}

type parseState struct {
	b                    *Blob
	opts                 ParseOptions
	rleFound, tableFound bool
	table                []ExtentTableEntry
	remaining            uint64 // remaining_clusters_in_et
	deferred             error  // reported after the whole blob is parsed
}

func (s *parseState) page(pg uint32, p *Page) error {
	b := s.b
	for _, d := range p.Descriptors {
		switch d := d.(type) {
		case *Flags:
			b.Invalid, b.DataRO, b.MDRO = d.Invalid, d.DataRO, d.MDRO
			if d.Invalid&^InvalidFlagsMask != 0 && s.deferred == nil {
				// SPDK refuses the blob (-EINVAL) here; parse on so the
				// caller can still name it.
				s.deferred = formatErr(ErrUnknownFlags, int64(pg), -1, "unknown invalid flags %#x", d.Invalid&^InvalidFlagsMask)
			}
		case *Xattr:
			b.Xattrs = append(b.Xattrs, *d)
		case *ExtentRLE:
			if s.tableFound {
				return formatErr(ErrDescriptor, int64(pg), -1, "EXTENT_RLE after EXTENT_TABLE")
			}
			s.rleFound = true
			for _, e := range d.Extents {
				if e.ClusterIdx == 0 {
					if !b.Thin() && e.Length > 0 {
						return formatErr(ErrDescriptor, int64(pg), -1, "unallocated clusters in a thick blob")
					}
					b.NumClusters += uint64(e.Length)
					continue
				}
				if uint64(e.ClusterIdx)+uint64(e.Length) > 1<<32 {
					return formatErr(ErrDescriptor, int64(pg), -1, "extent %d+%d past cluster 2^32", e.ClusterIdx, e.Length)
				}
				if err := s.checkUsed(pg, e.ClusterIdx, e.Length); err != nil {
					return err
				}
				b.addRun(b.NumClusters, uint64(e.ClusterIdx), uint64(e.Length))
				b.NumClusters += uint64(e.Length)
			}
			if b.NumClusters == 0 {
				return formatErr(ErrDescriptor, int64(pg), -1, "EXTENT_RLE with no clusters")
			}
		case *ExtentTable:
			if s.rleFound {
				return formatErr(ErrDescriptor, int64(pg), -1, "EXTENT_TABLE after EXTENT_RLE")
			}
			if s.tableFound && d.NumClusters != s.remaining {
				return formatErr(ErrDescriptor, int64(pg), -1, "EXTENT_TABLE num_clusters %d, earlier part said %d", d.NumClusters, s.remaining)
			}
			s.tableFound = true
			s.remaining = d.NumClusters
			b.TableNumClusters = d.NumClusters
			for _, e := range d.Entries {
				if e.PageIdx != 0 {
					if e.NumPages != 1 {
						// SPDK asserts this at open; the replay rejects it.
						return formatErr(ErrDescriptor, int64(pg), -1, "extent table entry page %d with %d pages", e.PageIdx, e.NumPages)
					}
				} else if !b.Thin() && e.NumPages > 0 {
					return formatErr(ErrDescriptor, int64(pg), -1, "unallocated extent pages in a thick blob")
				}
				s.table = append(s.table, e)
				b.ExtentTableLen += uint64(e.NumPages)
			}
		case *ExtentPage:
			// An EXTENT_PAGE in a chain page is parsed by SPDK as part of the
			// blob; real chains never hold one.
			if s.rleFound {
				return formatErr(ErrDescriptor, int64(pg), -1, "EXTENT_PAGE in a blob with EXTENT_RLE")
			}
			if err := s.extentPage(pg, d); err != nil {
				return err
			}
		case *Unknown:
			b.Unknown = append(b.Unknown, UnknownDesc{Page: pg, Type: d.Type, Len: len(d.Body)})
		}
	}
	return nil
}

func (s *parseState) checkUsed(pg uint32, start, n uint32) error {
	if s.opts.ClusterUsed == nil {
		return nil
	}
	for j := uint32(0); j < n; j++ {
		if !s.opts.ClusterUsed(start + j) {
			return formatErr(ErrDescriptor, int64(pg), -1, "cluster %d is not marked used", start+j)
		}
	}
	return nil
}

func (s *parseState) extentPage(pg uint32, d *ExtentPage) error {
	b := s.b
	if uint64(d.StartCluster) != b.NumClusters {
		return formatErr(ErrExtentPage, int64(pg), -1, "extent page starts at cluster %d, blob has %d", d.StartCluster, b.NumClusters)
	}
	for _, c := range d.Clusters {
		if c == 0 {
			if !b.Thin() {
				return formatErr(ErrExtentPage, int64(pg), -1, "unallocated cluster in a thick blob")
			}
		} else {
			if err := s.checkUsed(pg, c, 1); err != nil {
				return err
			}
			b.addRun(b.NumClusters, uint64(c), 1)
		}
		b.NumClusters++
	}
	n := uint64(len(d.Clusters))
	if n > s.remaining {
		// SPDK asserts remaining >= count; in a release build it wraps.
		return formatErr(ErrExtentPage, int64(pg), -1, "extent page holds %d clusters, table has %d left", n, s.remaining)
	}
	s.remaining -= n
	return nil
}

func (s *parseState) extentPages(read func(uint32) (*Page, error)) error {
	b := s.b
	var slot uint64
	for _, e := range s.table {
		if e.PageIdx == 0 {
			// Unallocated extent pages add up to 512 clusters each.
			sz := min(s.remaining, uint64(e.NumPages)*ExtentsPerPage)
			b.NumClusters += sz
			s.remaining -= sz
			slot += uint64(e.NumPages)
			continue
		}
		if read == nil {
			return formatErr(ErrExtentPage, int64(e.PageIdx), -1, "no extent page reader")
		}
		p, err := read(e.PageIdx)
		if err != nil {
			return fmt.Errorf("extent page %d of blob %#x: %w", e.PageIdx, b.ID, atPage(err, int64(e.PageIdx)))
		}
		if p.Next != InvalidPage {
			return formatErr(ErrExtentPage, int64(e.PageIdx), pageNextOffset, "extent page has next %d", p.Next)
		}
		ep, ok := p.ExtentPageDesc()
		if !ok {
			return formatErr(ErrExtentPage, int64(e.PageIdx), -1, "not an extent page (sequence %d, %d descriptors)", p.Sequence, len(p.Descriptors))
		}
		if err := s.extentPage(e.PageIdx, ep); err != nil {
			return err
		}
		b.ExtentPages = append(b.ExtentPages, e.PageIdx)
		b.ExtentRefs = append(b.ExtentRefs, ExtentRef{Slot: slot, Page: e.PageIdx, ID: p.ID})
		slot++
	}
	return nil
}
