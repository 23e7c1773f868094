package blobstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Sizes and magic values of the on-disk format (lib/blob/blobstore.h).
const (
	PageSize       = 4096
	Signature      = "SPDKBLOB"
	Version        = 3
	InitialVersion = 1
	InvalidPage    = 0xFFFFFFFF
	BlobIDHighBit  = uint64(1) << 32

	// Page layout: id u64, sequence u32, reserved u32, descriptors, next u32, crc u32.
	pageHeaderSize     = 16
	DescriptorAreaSize = PageSize - pageHeaderSize - 8 // 4072
	pageNextOffset     = PageSize - 8
	crcOffset          = PageSize - 4

	descHeaderSize = 5 // type u8, length u32

	// ExtentsPerPage: SPDK takes the largest count that fits one descriptor
	// area ((4072-9)/4 = 1015), rounds up to a power of two and halves it.
	ExtentsPerPageMax = (DescriptorAreaSize - descHeaderSize - 4) / 4
	ExtentsPerPage    = 512

	// BstypeLength is the size of the bstype field of the super block.
	BstypeLength = 16
	// LvolstoreBstype is what lvstores write as bstype.
	LvolstoreBstype = "LVOLSTORE"
)

// Descriptor types.
const (
	DescPadding       uint8 = 0
	DescExtentRLE     uint8 = 1
	DescXattr         uint8 = 2
	DescFlags         uint8 = 3
	DescXattrInternal uint8 = 4
	DescExtentTable   uint8 = 5
	DescExtentPage    uint8 = 6
)

// Mask types.
const (
	MaskUsedPages    uint8 = 0
	MaskUsedClusters uint8 = 1
	MaskUsedBlobIDs  uint8 = 2
)

// Blob flags. An invalid flag SPDK does not know makes it refuse the blob; an
// unknown data_ro flag opens it read-only; an unknown md_ro flag opens its
// metadata read-only.
const (
	FlagThin             uint64 = 1 << 0
	FlagInternalXattrs   uint64 = 1 << 1
	FlagExtentTable      uint64 = 1 << 2
	FlagExternalSnapshot uint64 = 1 << 3
	InvalidFlagsMask            = FlagThin | FlagInternalXattrs | FlagExtentTable | FlagExternalSnapshot

	FlagReadOnly    uint64 = 1 << 0
	DataROFlagsMask        = FlagReadOnly
	ClearMethodMask uint64 = 3 // md_ro bits 0-1: the blob's clear method
	MDROFlagsMask          = ClearMethodMask
)

// Xattr names.
const (
	XattrSnapshot         = "SNAP"    // internal: parent snapshot blob id (u64)
	XattrExternalSnapshot = "EXTSNAP" // internal: external snapshot id
	XattrSnapshotTmp      = "SNAPTMP" // internal: snapshot in progress
	XattrSnapshotRemove   = "SNAPRM"  // internal: snapshot pending removal
	XattrName             = "name"    // lvol / lvstore name
	XattrUUID             = "uuid"    // lvol / lvstore uuid
)

// BlobID is the id of the blob whose first md page is pageIdx.
func BlobID(pageIdx uint32) uint64 { return BlobIDHighBit | uint64(pageIdx) }

// PageIndex is the first md page of a blob id; false if id is not of the
// form SPDK creates (high bit 32 set, nothing above it).
func PageIndex(id uint64) (uint32, bool) {
	return uint32(id), id>>32 == 1
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PageCRC is the CRC SPDK stores at offset 4092 of a page: CRC-32C over the
// first PageSize-4 bytes. b must hold at least PageSize bytes.
func PageCRC(b []byte) uint32 { return crc32.Checksum(b[:crcOffset], castagnoli) }

var le = binary.LittleEndian

// Sentinel errors; every decode error wraps one of them.
var (
	ErrSignature  = errors.New("bad blobstore signature")
	ErrVersion    = errors.New("unsupported blobstore version")
	ErrCRC        = errors.New("crc mismatch")
	ErrGeometry   = errors.New("bad blobstore geometry")
	ErrMask       = errors.New("bad mask")
	ErrDescriptor = errors.New("malformed descriptor")
	ErrChain      = errors.New("broken md chain")
	ErrExtentPage = errors.New("bad extent page")
	ErrTruncated  = errors.New("short buffer")
	ErrTooLarge   = errors.New("does not fit a page")

	// Finer kinds, each also matching its family with errors.Is.
	// ErrForeignPage: a chain runs into a page of another blob (SPDK only
	// asserts page->id == blob->id: a debug build aborts the target).
	ErrForeignPage = fmt.Errorf("%w: page of another blob", ErrChain)
	// ErrSequence: chain sequence numbers out of order (also an assert).
	ErrSequence = fmt.Errorf("%w: sequence out of order", ErrChain)
	// ErrIDMismatch: the first page does not carry the blob id of its index
	// (blob_parse: -ENOENT).
	ErrIDMismatch = fmt.Errorf("%w: first page id", ErrChain)
	// ErrUnknownFlags: invalid flags SPDK does not know; it will not open
	// the blob (-EINVAL). ParseBlob still parses the rest.
	ErrUnknownFlags = fmt.Errorf("%w: unknown invalid flags", ErrDescriptor)
)

// FormatError locates a decode error. Page is the md page index (or device
// page for super block and masks) when known, else -1; Offset is the byte
// offset inside that page (or buffer).
type FormatError struct {
	Page   int64
	Offset int64
	Msg    string
	Err    error
}

func (e *FormatError) Error() string {
	s := e.Err.Error()
	if e.Page >= 0 {
		s += fmt.Sprintf(": page %d", e.Page)
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(" offset %d", e.Offset)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(sentinel error, page, off int64, format string, args ...any) *FormatError {
	return &FormatError{Page: page, Offset: off, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// atPage sets the page of a *FormatError that did not know it.
func atPage(err error, page int64) error {
	var fe *FormatError
	if errors.As(err, &fe) && fe.Page < 0 {
		fe.Page = page
	}
	return err
}
