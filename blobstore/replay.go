package blobstore

import "errors"

// ErrReplay marks a page that a dirty load (recovery replay,
// bs_load_replay_md_parse_page) rejects. SPDK then fails the whole
// lvstore load with -EILSEQ (-84), not just the blob.
var ErrReplay = errors.New("recovery replay rejects page")

// StartsBlob reports what the recovery replay takes as the first page of a
// blob: sequence 0 and the blob id of its own index (a CRC-valid page is
// assumed). Extent pages carry their owner's id, so they do not qualify.
func (p *Page) StartsBlob(idx uint32) bool {
	return p.Sequence == 0 && p.ID == BlobID(idx)
}

// CheckReplay applies the replay's own descriptor checks to a decoded page
// (chain or extent page). They differ from those of a blob open: an unknown
// descriptor type, skipped at open, is fatal here; so are an EXTENT_RLE
// with no clusters and an extent table entry with a page and a count other
// than 1. Errors are *FormatError wrapping ErrReplay.
func CheckReplay(p *Page) error {
	for _, d := range p.Descriptors {
		switch d := d.(type) {
		case *Unknown:
			return formatErr(ErrReplay, -1, -1, "unknown descriptor type %d", d.Type)
		case *ExtentRLE:
			var n uint64
			for _, e := range d.Extents {
				n += uint64(e.Length)
			}
			if n == 0 {
				return formatErr(ErrReplay, -1, -1, "EXTENT_RLE with no clusters")
			}
		case *ExtentTable:
			for _, e := range d.Entries {
				if e.PageIdx != 0 && e.NumPages != 1 {
					return formatErr(ErrReplay, -1, -1, "extent table entry page %d with %d pages", e.PageIdx, e.NumPages)
				}
			}
		}
	}
	return nil
}
