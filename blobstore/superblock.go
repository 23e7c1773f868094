package blobstore

import (
	"bytes"
	"fmt"
)

// SuperBlock is page 0 of a blobstore. Starts and lengths count 4 KiB pages
// from the start of the device.
type SuperBlock struct {
	Signature            [8]byte
	Version              uint32
	Length               uint32
	Clean                uint32 // 1 after a clean unload; masks are current only then
	SuperBlob            uint64
	ClusterSize          uint32 // bytes
	UsedPageMaskStart    uint32
	UsedPageMaskLen      uint32
	UsedClusterMaskStart uint32
	UsedClusterMaskLen   uint32
	MDStart              uint32
	MDLen                uint32
	Bstype               [BstypeLength]byte
	UsedBlobIDMaskStart  uint32
	UsedBlobIDMaskLen    uint32
	Size                 uint64 // bytes; 0 in old images means "the whole device"
	IOUnitSize           uint32 // 0 in old images means 4096
	// MDPageSize is the field newer SPDK keeps in the first reserved bytes;
	// v24.09 writes 0 there, which means PageSize.
	MDPageSize uint32
	CRC        uint32
}

// Offsets of the super block fields.
const (
	sbVersion     = 8
	sbLength      = 12
	sbClean       = 16
	sbSuperBlob   = 20
	sbClusterSize = 28
	sbUPMStart    = 32
	sbUPMLen      = 36
	sbUCMStart    = 40
	sbUCMLen      = 44
	sbMDStart     = 48
	sbMDLen       = 52
	sbBstype      = 56
	sbUBMStart    = 72
	sbUBMLen      = 76
	sbSize        = 80
	sbIOUnit      = 88
	sbMDPageSize  = 92
)

// DecodeSuperBlock decodes and checks page 0: signature, version, CRC over
// the first 4092 bytes, then geometry (see Geometry). Errors wrap
// ErrSignature, ErrVersion, ErrCRC (*FormatError) or are a *GeometryError.
// On a geometry error the decoded super block is returned with the error.
func DecodeSuperBlock(b []byte) (*SuperBlock, error) {
	if len(b) < PageSize {
		return nil, formatErr(ErrTruncated, 0, 0, "super block needs %d bytes, have %d", PageSize, len(b))
	}
	sb := decodeSuperBlockFields(b)
	if !bytes.Equal(sb.Signature[:], []byte(Signature)) {
		return nil, formatErr(ErrSignature, 0, 0, "signature %q", sb.Signature[:])
	}
	if sb.Version < InitialVersion || sb.Version > Version {
		return nil, formatErr(ErrVersion, 0, sbVersion, "version %d, want %d..%d", sb.Version, InitialVersion, Version)
	}
	if got := PageCRC(b); got != sb.CRC {
		return sb, formatErr(ErrCRC, 0, crcOffset, "stored %#08x, computed %#08x", sb.CRC, got)
	}
	if err := sb.Geometry(); err != nil {
		return sb, err
	}
	return sb, nil
}

// PeekSuperBlock decodes the fields of page 0 without any check, for
// diagnostics of a super block that DecodeSuperBlock rejected.
func PeekSuperBlock(b []byte) (*SuperBlock, error) {
	if len(b) < PageSize {
		return nil, formatErr(ErrTruncated, 0, 0, "super block needs %d bytes, have %d", PageSize, len(b))
	}
	return decodeSuperBlockFields(b), nil
}

func decodeSuperBlockFields(b []byte) *SuperBlock {
	sb := &SuperBlock{
		Version:              le.Uint32(b[sbVersion:]),
		Length:               le.Uint32(b[sbLength:]),
		Clean:                le.Uint32(b[sbClean:]),
		SuperBlob:            le.Uint64(b[sbSuperBlob:]),
		ClusterSize:          le.Uint32(b[sbClusterSize:]),
		UsedPageMaskStart:    le.Uint32(b[sbUPMStart:]),
		UsedPageMaskLen:      le.Uint32(b[sbUPMLen:]),
		UsedClusterMaskStart: le.Uint32(b[sbUCMStart:]),
		UsedClusterMaskLen:   le.Uint32(b[sbUCMLen:]),
		MDStart:              le.Uint32(b[sbMDStart:]),
		MDLen:                le.Uint32(b[sbMDLen:]),
		UsedBlobIDMaskStart:  le.Uint32(b[sbUBMStart:]),
		UsedBlobIDMaskLen:    le.Uint32(b[sbUBMLen:]),
		Size:                 le.Uint64(b[sbSize:]),
		IOUnitSize:           le.Uint32(b[sbIOUnit:]),
		MDPageSize:           le.Uint32(b[sbMDPageSize:]),
		CRC:                  le.Uint32(b[crcOffset:]),
	}
	copy(sb.Signature[:], b[:8])
	copy(sb.Bstype[:], b[sbBstype:sbBstype+BstypeLength])
	return sb
}

// Encode returns the 4096-byte page 0, CRC filled in. Reserved bytes are zero.
func (sb *SuperBlock) Encode() []byte {
	b := make([]byte, PageSize)
	copy(b[:8], sb.Signature[:])
	le.PutUint32(b[sbVersion:], sb.Version)
	le.PutUint32(b[sbLength:], sb.Length)
	le.PutUint32(b[sbClean:], sb.Clean)
	le.PutUint64(b[sbSuperBlob:], sb.SuperBlob)
	le.PutUint32(b[sbClusterSize:], sb.ClusterSize)
	le.PutUint32(b[sbUPMStart:], sb.UsedPageMaskStart)
	le.PutUint32(b[sbUPMLen:], sb.UsedPageMaskLen)
	le.PutUint32(b[sbUCMStart:], sb.UsedClusterMaskStart)
	le.PutUint32(b[sbUCMLen:], sb.UsedClusterMaskLen)
	le.PutUint32(b[sbMDStart:], sb.MDStart)
	le.PutUint32(b[sbMDLen:], sb.MDLen)
	copy(b[sbBstype:], sb.Bstype[:])
	le.PutUint32(b[sbUBMStart:], sb.UsedBlobIDMaskStart)
	le.PutUint32(b[sbUBMLen:], sb.UsedBlobIDMaskLen)
	le.PutUint64(b[sbSize:], sb.Size)
	le.PutUint32(b[sbIOUnit:], sb.IOUnitSize)
	le.PutUint32(b[sbMDPageSize:], sb.MDPageSize)
	le.PutUint32(b[crcOffset:], PageCRC(b))
	return b
}

// BstypeString is bstype without its NUL padding ("LVOLSTORE" for lvstores).
func (sb *SuperBlock) BstypeString() string {
	return string(bytes.TrimRight(sb.Bstype[:], "\x00"))
}

// PageSizeMD is the md page size, with 0 read as PageSize.
func (sb *SuperBlock) PageSizeMD() uint32 {
	if sb.MDPageSize == 0 {
		return PageSize
	}
	return sb.MDPageSize
}

// TotalClusters is size / cluster size, as bs_parse_super computes it (0 if
// the cluster size is 0 or the size is unknown).
func (sb *SuperBlock) TotalClusters() uint64 {
	if sb.ClusterSize == 0 {
		return 0
	}
	return sb.Size / uint64(sb.ClusterSize)
}

// PagesPerCluster is cluster size / 4096.
func (sb *SuperBlock) PagesPerCluster() uint64 { return uint64(sb.ClusterSize) / PageSize }

// MDClusters is how many leading clusters the super block, masks and md
// region occupy (SPDK marks them used at init).
func (sb *SuperBlock) MDClusters() uint64 {
	ppc := sb.PagesPerCluster()
	if ppc == 0 {
		return 0
	}
	end := uint64(sb.MDStart) + uint64(sb.MDLen)
	return (end + ppc - 1) / ppc
}

// MDPageOffset is the byte offset on the device of md page idx.
func (sb *SuperBlock) MDPageOffset(idx uint32) int64 {
	return (int64(sb.MDStart) + int64(idx)) * PageSize
}

// ClusterOffset is the byte offset on the device of cluster idx.
func (sb *SuperBlock) ClusterOffset(idx uint64) int64 {
	return int64(idx) * int64(sb.ClusterSize)
}

// GeometryDefect names one kind of geometry defect.
type GeometryDefect int

const (
	DefectClusterSize    GeometryDefect = iota + 1 // zero, below a page, or not a page multiple
	DefectSize                                     // size not a page multiple, or no data clusters
	DefectIOUnitSize                               // io unit not dividing a page
	DefectMDPageSize                               // md page size other than 4096
	DefectLength                                   // length field other than 4096
	DefectRegionOutside                            // a region past the end of the device
	DefectRegionOverlap                            // two regions share pages (or cover page 0)
	DefectMaskTooSmall                             // a mask region cannot hold its bits
	DefectMDTooLarge                               // md region beyond the device's clusters
	DefectDeviceTooSmall                           // size larger than the device (SPDK: -EILSEQ)
	DefectSuperBlob                                // super blob id not of the form 1<<32|page, or outside md
)

var defectNames = map[GeometryDefect]string{
	DefectClusterSize: "cluster-size", DefectSize: "size", DefectIOUnitSize: "io-unit-size",
	DefectMDPageSize: "md-page-size", DefectLength: "length", DefectRegionOutside: "region-outside",
	DefectRegionOverlap: "region-overlap", DefectMaskTooSmall: "mask-too-small",
	DefectMDTooLarge: "md-too-large", DefectDeviceTooSmall: "device-too-small", DefectSuperBlob: "super-blob",
}

func (d GeometryDefect) String() string {
	if s, ok := defectNames[d]; ok {
		return s
	}
	return fmt.Sprintf("defect(%d)", int(d))
}

// GeometryError is one geometry defect of a super block. errors.Is(err,
// ErrGeometry) holds for every one; Defect tells which.
type GeometryError struct {
	Defect GeometryDefect
	Msg    string
}

func (e *GeometryError) Error() string {
	return fmt.Sprintf("%v: %v: %s", ErrGeometry, e.Defect, e.Msg)
}
func (e *GeometryError) Unwrap() error { return ErrGeometry }

func geomErr(d GeometryDefect, format string, args ...any) *GeometryError {
	return &GeometryError{Defect: d, Msg: fmt.Sprintf(format, args...)}
}

// Region is a range of device pages.
type Region struct {
	Name       string
	Start, Len uint64
}

// Regions lists the super block, the three masks and the md region.
func (sb *SuperBlock) Regions() []Region {
	r := []Region{
		{"super block", 0, 1},
		{"used page mask", uint64(sb.UsedPageMaskStart), uint64(sb.UsedPageMaskLen)},
		{"used cluster mask", uint64(sb.UsedClusterMaskStart), uint64(sb.UsedClusterMaskLen)},
		{"md region", uint64(sb.MDStart), uint64(sb.MDLen)},
	}
	if sb.Version >= 3 {
		r = append(r, Region{"used blobid mask", uint64(sb.UsedBlobIDMaskStart), uint64(sb.UsedBlobIDMaskLen)})
	}
	return r
}

// maskPages is how many pages a mask of n bits takes, header included.
func maskPages(nbits uint64) uint64 {
	return (maskHeaderSize + (nbits+7)/8 + PageSize - 1) / PageSize
}

// Geometry checks the layout the super block describes, returning the first
// defect as a *GeometryError. A Size of 0 (old images: "whole device")
// skips the checks that need it; check the device with CheckDevice.
func (sb *SuperBlock) Geometry() error {
	if sb.Length != PageSize {
		return geomErr(DefectLength, "length %d, want %d", sb.Length, PageSize)
	}
	if sb.ClusterSize < PageSize || sb.ClusterSize%PageSize != 0 {
		return geomErr(DefectClusterSize, "cluster size %d is not a positive multiple of %d", sb.ClusterSize, PageSize)
	}
	if sb.IOUnitSize != 0 && (sb.IOUnitSize > PageSize || PageSize%sb.IOUnitSize != 0) {
		return geomErr(DefectIOUnitSize, "io unit size %d does not divide %d", sb.IOUnitSize, PageSize)
	}
	if sb.MDPageSize != 0 && sb.MDPageSize != PageSize {
		return geomErr(DefectMDPageSize, "md page size %d, only %d is supported", sb.MDPageSize, PageSize)
	}
	if sb.MDLen == 0 {
		return geomErr(DefectRegionOutside, "md region is empty")
	}
	regs := sb.Regions()
	for i, a := range regs {
		for _, b := range regs[i+1:] {
			if a.Len > 0 && b.Len > 0 && a.Start < b.Start+b.Len && b.Start < a.Start+a.Len {
				return geomErr(DefectRegionOverlap, "%s [%d,+%d) overlaps %s [%d,+%d)", a.Name, a.Start, a.Len, b.Name, b.Start, b.Len)
			}
		}
	}
	if maskPages(uint64(sb.MDLen)) > uint64(sb.UsedPageMaskLen) {
		return geomErr(DefectMaskTooSmall, "used page mask of %d pages cannot hold %d bits", sb.UsedPageMaskLen, sb.MDLen)
	}
	if sb.Version >= 3 && maskPages(uint64(sb.MDLen)) > uint64(sb.UsedBlobIDMaskLen) {
		return geomErr(DefectMaskTooSmall, "used blobid mask of %d pages cannot hold %d bits", sb.UsedBlobIDMaskLen, sb.MDLen)
	}
	if sb.Size == 0 {
		return nil
	}
	if sb.Size%PageSize != 0 {
		return geomErr(DefectSize, "size %d is not a multiple of %d", sb.Size, PageSize)
	}
	pages := sb.Size / PageSize
	for _, r := range regs {
		if r.Start+r.Len > pages {
			return geomErr(DefectRegionOutside, "%s [%d,+%d) past the last page %d", r.Name, r.Start, r.Len, pages)
		}
	}
	total := sb.TotalClusters()
	if maskPages(total) > uint64(sb.UsedClusterMaskLen) {
		return geomErr(DefectMaskTooSmall, "used cluster mask of %d pages cannot hold %d bits", sb.UsedClusterMaskLen, total)
	}
	if sb.MDClusters() > total {
		return geomErr(DefectMDTooLarge, "metadata takes %d clusters of %d", sb.MDClusters(), total)
	}
	if sb.SuperBlob != InvalidBlobID {
		idx, ok := PageIndex(sb.SuperBlob)
		if !ok || idx >= sb.MDLen {
			return geomErr(DefectSuperBlob, "super blob %#x is not a blob id of this md region", sb.SuperBlob)
		}
	}
	return nil
}

// InvalidBlobID is SPDK_BLOBID_INVALID (no super blob set).
const InvalidBlobID = ^uint64(0)

// CheckDevice checks the super block against the device it was read from:
// SPDK refuses to load (-EILSEQ) when size is larger than the device.
func (sb *SuperBlock) CheckDevice(devSize int64) error {
	if devSize < 0 || sb.Size > uint64(devSize) {
		return geomErr(DefectDeviceTooSmall, "blobstore size %d, device %d bytes", sb.Size, devSize)
	}
	return nil
}
