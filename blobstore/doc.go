// Package blobstore is a codec for the on-disk format (version 3) of SPDK's
// blobstore, the layer under SPDK logical volume stores. It decodes and
// encodes; it never opens files and never writes to a device.
//
// Layout of a blobstore, in 4 KiB pages from the start of the device: the
// super block (page 0), three bit masks (used md pages, used clusters, used
// blob ids), the metadata (md) region, then data clusters. Every blob owns a
// chain of md pages (first page index = low 32 bits of its blob id), linked
// by each page's next field; a blob with an extent table also owns extent
// pages, md pages outside its chain.
//
// Decoding, over bytes:
//
//	sb, err := DecodeSuperBlock(page0)          // signature, version, CRC, geometry
//	m, err := DecodeMask(region, MaskUsedPages) // length bounded by the buffer
//	p, err := DecodePage(buf)                   // CRC error: p still has its header
//	ds, err := DecodeDescriptors(p.DescriptorArea())
//	b, err := ParseBlob(chain, readExtentPage, ParseOptions{})
//
// and over an io.ReaderAt with bounded reads: ReadSuperBlock, ReadMask,
// ReadPage, ReadChain, ReadBlob.
//
// Encoding mirrors SPDK's serializer byte for byte: SuperBlock.Encode,
// Mask.Encode, EncodePage, SerializeBlob/EncodeBlob (chain pages and extent
// pages), and NewLayout (the geometry spdk_bs_init lays out).
//
// Errors are *FormatError (page, offset, message) wrapping one of the
// sentinels (ErrSignature, ErrVersion, ErrCRC, ErrGeometry, ErrDescriptor,
// ErrChain, ErrExtentPage, ErrTruncated, ErrTooLarge), usable with errors.Is
// and errors.As. Geometry defects are *GeometryError with a Defect code.
//
// Where SPDK's loader accepts or rejects something, the decoder does the
// same, and says what it saw: unknown descriptor types are skipped by
// blob_parse_page (a newer feature must set an invalid flag to stop a load)
// and recorded as Unknown descriptors, but the dirty-load replay
// (bs_load_replay_md_parse_page) rejects them, which fails the whole load;
// extent pages are not checked for the owning blob id (SPDK does not).
// Cluster lists are kept as runs, so a hostile num_clusters costs no memory.
package blobstore
