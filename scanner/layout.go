package scanner

// This file decodes the few on-disk structures the scanner needs, straight
// from page buffers. It is deliberately tolerant: it never fails on garbage,
// it reports what it saw so that the checks can say what SPDK will do.

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/lvfsck/lvfsck/blobstore"
)

const (
	pageSize = 4096
	// invalidPage terminates an md chain.
	invalidPage = 0xFFFFFFFF
	// blobIDHigh is OR-ed into a page index to make a blob id.
	blobIDHigh = uint64(1) << 32

	descAreaStart = 16
	descAreaEnd   = pageSize - 8 // next u32, crc u32
	descHdrLen    = 5            // type u8, length u32

	descPadding       = 0
	descXattr         = 2
	descFlags         = 3
	descXattrInternal = 4
	descExtentPage    = 6

	flagThin          = 1 << 0
	flagInternalXattr = 1 << 1
	flagExtentTable   = 1 << 2
	flagExtSnapshot   = 1 << 3
	knownInvalidFlags = flagThin | flagInternalXattr | flagExtentTable | flagExtSnapshot

	// extentsPerPage is SPDK_EXTENTS_PER_EP for 4 KiB pages.
	extentsPerPage = 512

	maxLvolName = 256
	uuidStrLen  = 37 // 36 characters and the NUL
)

// pageCRC is SPDK's md page / super block CRC: CRC-32C of all but the last
// four bytes.
func pageCRC(p []byte) uint32 { return blobstore.PageCRC(p) }

func pageCRCOK(p []byte) bool {
	return pageCRC(p) == binary.LittleEndian.Uint32(p[pageSize-4:])
}

func blobIDOf(page uint32) uint64 { return blobIDHigh | uint64(page) }

// pageOfBlob returns the md page index of a blob id and whether the id has
// the shape SPDK gives blob ids.
func pageOfBlob(id uint64) (uint32, bool) { return uint32(id), id>>32 == 1 }

// superBlock is the decoded page 0. Field names follow SPDK's struct.
type superBlock struct {
	Signature        [8]byte
	Version          uint32
	Length           uint32
	Clean            uint32
	SuperBlob        uint64
	ClusterSize      uint32
	UsedPageStart    uint32
	UsedPageLen      uint32
	UsedClusterStart uint32
	UsedClusterLen   uint32
	MDStart          uint32
	MDLen            uint32
	BSType           [16]byte
	UsedBlobIDStart  uint32
	UsedBlobIDLen    uint32
	Size             uint64
	IOUnitSize       uint32
	MDPageSize       uint32
	CRC              uint32
	CalcCRC          uint32
	CRCOK            bool
}

// decodeSuper reads page 0 (at least 4096 bytes) without judging it: the
// checks are the scan's, so that each defect becomes its finding.
func decodeSuper(p []byte) superBlock {
	b, err := blobstore.PeekSuperBlock(p)
	if err != nil {
		return superBlock{} // shorter than a page: callers never pass one
	}
	s := superBlock{
		Signature: b.Signature, Version: b.Version, Length: b.Length, Clean: b.Clean,
		SuperBlob: b.SuperBlob, ClusterSize: b.ClusterSize,
		UsedPageStart: b.UsedPageMaskStart, UsedPageLen: b.UsedPageMaskLen,
		UsedClusterStart: b.UsedClusterMaskStart, UsedClusterLen: b.UsedClusterMaskLen,
		MDStart: b.MDStart, MDLen: b.MDLen, BSType: b.Bstype,
		UsedBlobIDStart: b.UsedBlobIDMaskStart, UsedBlobIDLen: b.UsedBlobIDMaskLen,
		Size: b.Size, IOUnitSize: b.IOUnitSize, MDPageSize: b.MDPageSize, CRC: b.CRC,
	}
	s.CalcCRC = pageCRC(p)
	s.CRCOK = s.CalcCRC == s.CRC
	return s
}

// xattr is one decoded xattr descriptor.
type xattr struct {
	Name     string
	Value    []byte
	Internal bool
}

// extentRef is one extent table entry: an extent page index, or a run of
// unallocated extent pages (Page == 0).
type extentRef struct {
	Page  uint32
	Count uint32
}

// pageDesc is the compact content of one CRC-valid md page: what the checks
// need, nothing of the raw 4 KiB is kept.
type pageDesc struct {
	Index uint32
	ID    uint64
	Seq   uint32
	Next  uint32

	HasFlags    bool
	FlagsLenBad bool
	Invalid     uint64
	DataRO      uint64
	MDRO        uint64

	// RLE holds EXTENT_RLE pairs (cluster index, length); 0 = unallocated.
	RLE      [][2]uint32
	RLECount int // descriptors seen

	// ET holds EXTENT_TABLE descriptors of this page.
	ET []extentTable

	// EP is the EXTENT_PAGE descriptor, when the page holds one.
	EP *extentPage

	Xattrs []xattr

	// Bad lists malformed descriptors (what blob_parse_page would reject).
	Bad []string
	// ReplayBad lists what SPDK's recovery replay would reject
	// (bs_load_replay_md_parse_page), which is stricter for unknown types.
	ReplayBad []string
	// Unknown counts descriptors of unknown types (ignored by blob_parse_page).
	Unknown int
	// OnlyExtentPage is true when the page is a well-formed extent page as
	// bs_load_cur_extent_page_valid wants it.
	OnlyExtentPage bool
}

type extentTable struct {
	NumClusters uint64
	Refs        []extentRef
}

type extentPage struct {
	Start    uint32
	Clusters []uint32 // raw cluster indexes, 0 = unallocated
}

// decodePage turns a page whose CRC is known good into its compact form.
// The descriptors are decoded by the blobstore codec; this adds what SPDK's
// two parsers make of them: blob_parse_page (Bad) and the recovery replay
// (ReplayBad), which rejects unknown types but skips malformed xattrs and
// flags. It never panics.
func decodePage(idx uint32, p []byte) *pageDesc {
	le := binary.LittleEndian
	d := &pageDesc{
		Index: idx,
		ID:    le.Uint64(p[0:]),
		Seq:   le.Uint32(p[8:]),
		Next:  le.Uint32(p[descAreaEnd:]),
	}
	ds, err := blobstore.DecodeDescriptors(p[descAreaStart:descAreaEnd])
	d.presize(ds)
	for i, x := range ds {
		switch t := x.(type) {
		case *blobstore.Flags:
			d.HasFlags = true
			d.Invalid, d.DataRO, d.MDRO = t.Invalid, t.DataRO, t.MDRO
		case *blobstore.ExtentRLE:
			d.RLECount++
			n := 0
			for _, e := range t.Extents {
				d.RLE = append(d.RLE, [2]uint32{e.ClusterIdx, e.Length})
				n += int(e.Length)
			}
			if n == 0 {
				d.Bad = append(d.Bad, "extent RLE describes no cluster")
				d.ReplayBad = append(d.ReplayBad, "extent RLE describes no cluster")
			}
		case *blobstore.ExtentTable:
			et := extentTable{NumClusters: t.NumClusters, Refs: make([]extentRef, len(t.Entries))}
			for k, e := range t.Entries {
				et.Refs[k] = extentRef{Page: e.PageIdx, Count: e.NumPages}
				if e.PageIdx != 0 && e.NumPages != 1 {
					d.ReplayBad = append(d.ReplayBad, "extent table entry with a page and a count other than 1")
				}
			}
			d.ET = append(d.ET, et)
		case *blobstore.ExtentPage:
			if d.EP == nil {
				d.EP = &extentPage{Start: t.StartCluster, Clusters: t.Clusters}
			}
			if i == 0 {
				// bs_load_cur_extent_page_valid: the only descriptor, or
				// followed by one of length 0
				d.OnlyExtentPage = len(ds) == 1 || blobstore.DescriptorSize(ds[1]) == descHdrLen
			}
		case *blobstore.Xattr:
			d.Xattrs = append(d.Xattrs, xattr{Name: t.Name, Value: t.Value, Internal: t.Internal})
		case *blobstore.Unknown:
			d.Unknown++
			d.ReplayBad = append(d.ReplayBad, "unknown descriptor type")
		}
	}
	if err != nil {
		msg := err.Error()
		d.Bad = append(d.Bad, msg)
		var fe *blobstore.FormatError
		typ := -1
		if errors.As(err, &fe) && fe.Offset >= 0 && fe.Offset < int64(len(p)) {
			typ = int(p[fe.Offset])
		}
		switch {
		case len(ds) == 0 && typ == descExtentPage:
			// an extent page whose only descriptor is malformed: not one
		case typ == descFlags || typ == descXattr || typ == descXattrInternal:
			// the replay skips these without looking
		default:
			d.ReplayBad = append(d.ReplayBad, msg)
		}
	}
	return d
}

// presize sizes the lists decodePage fills: one allocation each.
func (d *pageDesc) presize(ds []blobstore.Descriptor) {
	var nx, net int
	for _, x := range ds {
		switch x.(type) {
		case *blobstore.Xattr:
			nx++
		case *blobstore.ExtentTable:
			net++
		}
	}
	if nx > 0 {
		d.Xattrs = make([]xattr, 0, nx)
	}
	if net > 0 {
		d.ET = make([]extentTable, 0, net)
	}
}

// maskBits reads a mask region (type u8, length u32 in bits, bit array) and
// returns the set bits via fn, bounded by the buffer.
type mask struct {
	Type   uint8
	Length uint32
	bits   []byte
}

func decodeMask(p []byte) mask {
	if len(p) < 5 {
		return mask{}
	}
	m := mask{Type: p[0], Length: binary.LittleEndian.Uint32(p[1:]), bits: p[5:]}
	return m
}

// get reports bit i, false beyond the declared length or the buffer.
func (m mask) get(i uint64) bool {
	if i >= uint64(m.Length) || i/8 >= uint64(len(m.bits)) {
		return false
	}
	return m.bits[i/8]&(1<<(i%8)) != 0
}

// each calls fn for every set bit below limit.
func (m mask) each(limit uint64, fn func(i uint64)) {
	n := uint64(m.Length)
	if n > limit {
		n = limit
	}
	if n > uint64(len(m.bits))*8 {
		n = uint64(len(m.bits)) * 8
	}
	for i := uint64(0); i < n; i += 8 {
		b := m.bits[i/8]
		if b == 0 {
			continue
		}
		for j := uint64(0); j < 8 && i+j < n; j++ {
			if b&(1<<j) != 0 {
				fn(i + j)
			}
		}
	}
}

// count is the number of set bits below limit (what each would visit).
func (m mask) count(limit uint64) int {
	n := min(uint64(m.Length), limit, uint64(len(m.bits))*8)
	c := 0
	for i := uint64(0); i < n/8; i++ {
		c += bits.OnesCount8(m.bits[i])
	}
	if r := n % 8; r != 0 {
		c += bits.OnesCount8(m.bits[n/8] & (1<<r - 1))
	}
	return c
}

func leU64(p []byte) uint64 { return binary.LittleEndian.Uint64(p) }
func leU32(p []byte) uint32 { return binary.LittleEndian.Uint32(p) }
