// Package blobstore is a codec for the on-disk format (version 3) of SPDK's
// blobstore, the layer under SPDK logical volume stores, as written by SPDK
// v24.09 (Longhorn's fork). It decodes and encodes; it never opens files
// and never writes to a device.
//
// Layout of a blobstore, in 4 KiB pages from the start of the device: the
// super block (page 0), three bit masks (used md pages, used clusters, used
// blob ids), the metadata (md) region, then data clusters. Every blob owns a
// chain of md pages (first page index = low 32 bits of its blob id), linked
// by each page's next field; a blob with an extent table also owns extent
// pages, md pages outside its chain that list its clusters, 512 a page.
//
// Decoding, over bytes (what a scanner with its own O_DIRECT I/O calls):
//
//	sb, err := DecodeSuperBlock(page0)          // signature, version, CRC, geometry
//	m, err := DecodeMask(region, MaskUsedPages) // length bounded by the buffer; CheckMask
//	p, err := DecodePage(buf)                   // CRC error: p still has its header
//	ok := p.StartsBlob(idx)                     // what recovery takes as a blob's first page
//	err = CheckReplay(p)                        // would a dirty load reject the page?
//	b, err := ParseBlob(chain, readExtentPage, ParseOptions{})
//
// and over an io.ReaderAt with bounded reads: ReadSuperBlock, ReadMask,
// ReadPage, ReadChain (loop-safe), ReadBlob. A Blob keeps its clusters as
// runs, so a hostile num_clusters costs no memory.
//
// Encoding mirrors SPDK's serializer byte for byte (checked against every
// fixture image): SuperBlock.Encode, Mask.Encode, EncodePage,
// SerializeBlob/ChainLength/EncodeBlob (chain pages) and
// SerializeExtentPages, and NewLayout (the geometry spdk_bs_init lays out
// for a device, cluster size and md page count). Dump renders a listing.
//
// Errors are *FormatError (page, offset, message) wrapping a sentinel
// (ErrSignature, ErrVersion, ErrCRC, ErrMask, ErrDescriptor, ErrChain,
// ErrExtentPage, ErrTruncated, ErrTooLarge, ErrReplay; finer:
// ErrForeignPage, ErrSequence, ErrIDMismatch, ErrUnknownFlags), for
// errors.Is and errors.As. Geometry defects are *GeometryError, matching
// ErrGeometry, with a Defect code.
//
// Where SPDK's loader accepts or rejects something, the decoder does the
// same and says what it saw: unknown descriptor types are skipped when a
// blob is opened (a newer feature must set an invalid flag to stop that)
// and are kept as Unknown descriptors, but the dirty-load replay rejects
// them and fails the whole lvstore load (CheckReplay); extent pages are not
// checked for their owner's blob id, as SPDK does not check it; chain pages
// are.
package blobstore
