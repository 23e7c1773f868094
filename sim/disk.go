package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/scanner"
)

func init() { DefaultBackend = blobstoreBackend{} }

// blobstoreBackend persists through the project's blobstore codec and
// loads through the scanner (recovery mode when the image is not clean).
type blobstoreBackend struct{}

// Layout is spdk_bs_init's layout with lvstore defaults: one md page per
// cluster (num_md_pages_per_cluster_ratio 100), the super block, then the
// used-page, used-cluster and used-blobid masks, then the md region; the
// clusters the metadata covers are not data clusters.
func (blobstoreBackend) Layout(devSize, clusterSize uint64) (Geometry, error) {
	if clusterSize < blobstore.PageSize || clusterSize%blobstore.PageSize != 0 || clusterSize > 1<<31 {
		return Geometry{}, fmt.Errorf("cluster size %d: not a multiple of %d", clusterSize, blobstore.PageSize)
	}
	total := devSize / clusterSize
	if total == 0 || total > 1<<32-1 {
		return Geometry{}, fmt.Errorf("device of %d bytes holds %d clusters", devSize, total)
	}
	mdLen := total
	start := uint64(1)
	start += uint64(blobstore.MaskPages(mdLen)) + uint64(blobstore.MaskPages(total)) + uint64(blobstore.MaskPages(mdLen))
	ppc := clusterSize / blobstore.PageSize
	dataStart := (start + mdLen + ppc - 1) / ppc
	if dataStart >= total {
		return Geometry{}, fmt.Errorf("device of %d bytes: metadata takes all %d clusters", devSize, total)
	}
	return Geometry{
		PageSize:      blobstore.PageSize,
		ClusterSize:   clusterSize,
		Size:          devSize,
		TotalClusters: total,
		MDStart:       uint32(start),
		MDLen:         uint32(mdLen),
		DataStart:     dataStart,
	}, nil
}

func (blobstoreBackend) Writer(dev Device, g Geometry, superBlob uint64) MDWriter {
	return &diskWriter{dev: dev, g: g, superBlob: superBlob}
}

// superBlock is the super block of geometry g.
func superBlock(g Geometry, superBlob uint64, clean bool) *blobstore.SuperBlock {
	sb := &blobstore.SuperBlock{
		Version:     blobstore.Version,
		Length:      blobstore.PageSize,
		SuperBlob:   superBlob,
		ClusterSize: uint32(g.ClusterSize),
		MDStart:     g.MDStart,
		MDLen:       g.MDLen,
		Size:        g.Size,
		IOUnitSize:  blobstore.PageSize,
	}
	copy(sb.Signature[:], blobstore.Signature)
	copy(sb.Bstype[:], blobstore.LvolstoreBstype)
	sb.UsedPageMaskStart = 1
	sb.UsedPageMaskLen = blobstore.MaskPages(uint64(g.MDLen))
	sb.UsedClusterMaskStart = sb.UsedPageMaskStart + sb.UsedPageMaskLen
	sb.UsedClusterMaskLen = blobstore.MaskPages(g.TotalClusters)
	sb.UsedBlobIDMaskStart = sb.UsedClusterMaskStart + sb.UsedClusterMaskLen
	sb.UsedBlobIDMaskLen = blobstore.MaskPages(uint64(g.MDLen))
	if clean {
		sb.Clean = 1
	}
	return sb
}

// diskWriter writes one blobstore's metadata.
type diskWriter struct {
	dev       Device
	g         Geometry
	superBlob uint64
}

func (w *diskWriter) writeAt(b []byte, page uint64) error {
	if _, err := w.dev.WriteAt(b, int64(page)*blobstore.PageSize); err != nil {
		return fmt.Errorf("write page %d: %w", page, err)
	}
	return nil
}

func (w *diskWriter) Format(g Geometry, superBlob uint64) error {
	w.g, w.superBlob = g, superBlob
	// Zero the masks and the md region, as spdk_bs_init clears them.
	zero := make([]byte, 256*blobstore.PageSize)
	end := uint64(g.MDStart) + uint64(g.MDLen)
	for p := uint64(1); p < end; p += 256 {
		n := min(end-p, 256)
		if err := w.writeAt(zero[:n*blobstore.PageSize], p); err != nil {
			return fmt.Errorf("format: %w", err)
		}
	}
	if err := w.writeAt(superBlock(g, superBlob, false).Encode(), 0); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	return nil
}

func (w *diskWriter) MarkDirty() error {
	return w.writeAt(superBlock(w.g, w.superBlob, false).Encode(), 0)
}

func (w *diskWriter) mdPage(idx uint32) uint64 { return uint64(w.g.MDStart) + uint64(idx) }

// chainPages packs b's descriptors into chain pages as blob_serialize does:
// flags, xattrs, internal xattrs, then the extent table, each page filled
// until the next descriptor does not fit (the table is split).
func chainPages(b *BlobState) ([][]blobstore.Descriptor, error) {
	invalid := blobstore.FlagExtentTable
	if b.Thin {
		invalid |= blobstore.FlagThin
	}
	var internal []blobstore.Descriptor
	if b.Parent != 0 {
		internal = append(internal, &blobstore.Xattr{Name: blobstore.XattrSnapshot, Value: u64le(b.Parent), Internal: true})
	}
	for _, x := range b.Internal {
		internal = append(internal, &blobstore.Xattr{Name: x.Name, Value: x.Value, Internal: true})
	}
	if len(internal) > 0 {
		invalid |= blobstore.FlagInternalXattrs
	}
	var dataRO uint64
	if b.DataRO {
		dataRO = blobstore.FlagReadOnly
	}
	invalid |= b.InvalidExtra
	descs := []blobstore.Descriptor{&blobstore.Flags{Invalid: invalid, DataRO: dataRO, MDRO: b.MDROFlags}}
	for _, x := range b.Xattrs {
		descs = append(descs, &blobstore.Xattr{Name: x.Name, Value: x.Value})
	}
	descs = append(descs, internal...)

	var pages [][]blobstore.Descriptor
	var cur []blobstore.Descriptor
	room := blobstore.DescriptorAreaSize
	flush := func() {
		pages = append(pages, cur)
		cur, room = nil, blobstore.DescriptorAreaSize
	}
	for _, d := range descs {
		n := blobstore.DescriptorSize(d)
		if n > blobstore.DescriptorAreaSize {
			return nil, fmt.Errorf("descriptor of %d bytes does not fit a page", n)
		}
		if n > room {
			flush()
		}
		cur = append(cur, d)
		room -= n
	}
	// Extent table: zeros run-length encoded, split over pages.
	var entries []blobstore.ExtentTableEntry
	for _, p := range b.ExtentPages {
		if p == NoPage {
			if k := len(entries); k > 0 && entries[k-1].PageIdx == 0 {
				entries[k-1].NumPages++
				continue
			}
			entries = append(entries, blobstore.ExtentTableEntry{PageIdx: 0, NumPages: 1})
			continue
		}
		entries = append(entries, blobstore.ExtentTableEntry{PageIdx: p, NumPages: 1})
	}
	nc := uint64(len(b.Clusters))
	const tableHeader = 5 + 8 // descriptor header, num_clusters
	for first := true; first || len(entries) > 0; first = false {
		if room < tableHeader+8 && (len(entries) > 0 || room < tableHeader) {
			flush()
		}
		fit := (room - tableHeader) / 8
		k := min(fit, len(entries))
		t := &blobstore.ExtentTable{NumClusters: nc, Entries: entries[:k]}
		entries = entries[k:]
		cur = append(cur, t)
		room -= blobstore.DescriptorSize(t)
	}
	flush()
	return pages, nil
}

func (w *diskWriter) ChainLen(b *BlobState) (int, error) {
	p, err := chainPages(b)
	return len(p), err
}

func (w *diskWriter) WriteBlob(b *BlobState) error {
	// Extent pages first: they must be on disk before a table points at them.
	for slot, p := range b.ExtentPages {
		if p == NoPage {
			continue
		}
		from := uint64(slot) * ClustersPerExtentPage
		to := min(from+ClustersPerExtentPage, uint64(len(b.Clusters)))
		cl := make([]uint32, 0, to-from)
		for _, c := range b.Clusters[from:to] {
			cl = append(cl, uint32(c))
		}
		buf, err := blobstore.EncodePage(&blobstore.Page{
			ID:          b.Owner(slot),
			Next:        blobstore.InvalidPage,
			Descriptors: []blobstore.Descriptor{&blobstore.ExtentPage{StartCluster: uint32(from), Clusters: cl}},
		})
		if err != nil {
			return fmt.Errorf("encode extent page %d of blob %#x: %w", p, b.ID, err)
		}
		if err := w.writeAt(buf, w.mdPage(p)); err != nil {
			return err
		}
	}
	pages, err := chainPages(b)
	if err != nil {
		return fmt.Errorf("serialize blob %#x: %w", b.ID, err)
	}
	if len(pages) != len(b.Chain) {
		return fmt.Errorf("serialize blob %#x: %d pages for a chain of %d", b.ID, len(pages), len(b.Chain))
	}
	bufs := make([][]byte, len(pages))
	for i, d := range pages {
		next := uint32(blobstore.InvalidPage)
		if i+1 < len(pages) {
			next = b.Chain[i+1]
		}
		bufs[i], err = blobstore.EncodePage(&blobstore.Page{ID: b.ID, Sequence: uint32(i), Next: next, Descriptors: d})
		if err != nil {
			return fmt.Errorf("encode page %d of blob %#x: %w", i, b.ID, err)
		}
	}
	// Continuation pages first, the first page last, as SPDK writes them.
	for i := len(bufs) - 1; i >= 0; i-- {
		if err := w.writeAt(bufs[i], w.mdPage(b.Chain[i])); err != nil {
			return err
		}
	}
	return nil
}

func (w *diskWriter) ZeroPages(pages []uint32) error {
	zero := make([]byte, blobstore.PageSize)
	for _, p := range pages {
		if err := w.writeAt(zero, w.mdPage(p)); err != nil {
			return err
		}
	}
	return nil
}

func (w *diskWriter) Unload(m Masks) error {
	sb := superBlock(w.g, w.superBlob, true)
	for _, mk := range []struct {
		typ   uint8
		n     uint64
		bits  []byte
		start uint32
		len   uint32
	}{
		{blobstore.MaskUsedPages, m.NumPages, m.UsedPages, sb.UsedPageMaskStart, sb.UsedPageMaskLen},
		{blobstore.MaskUsedClusters, m.NumClusters, m.UsedClusters, sb.UsedClusterMaskStart, sb.UsedClusterMaskLen},
		{blobstore.MaskUsedBlobIDs, m.NumPages, m.UsedBlobIDs, sb.UsedBlobIDMaskStart, sb.UsedBlobIDMaskLen},
	} {
		mask := &blobstore.Mask{Type: mk.typ, Length: uint32(mk.n), Bits: mk.bits}
		if err := w.writeAt(mask.Encode(mk.len), uint64(mk.start)); err != nil {
			return fmt.Errorf("write mask %d: %w", mk.typ, err)
		}
	}
	if err := w.dev.Sync(); err != nil {
		return fmt.Errorf("sync before clean super block: %w", err)
	}
	if err := w.writeAt(sb.Encode(), 0); err != nil {
		return err
	}
	return w.dev.Sync()
}

// Load scans dev; every blob the scanner says loads becomes a BlobState,
// read back exactly with the blobstore codec.
func (blobstoreBackend) Load(dev Device) (*LoadedStore, error) {
	head := make([]byte, blobstore.PageSize)
	if _, err := dev.ReadAt(head, 0); err != nil {
		return nil, nil // too small to hold a blobstore
	}
	if string(head[:8]) != blobstore.Signature {
		return nil, nil
	}
	sb, err := blobstore.DecodeSuperBlock(head)
	if err != nil {
		return nil, fmt.Errorf("super block: %w", err)
	}
	v, err := scanner.Scan(context.Background(), dev, scanner.Options{Mode: scanner.ModeAuto})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	if v.Lvstore.Loads == finding.LoadRefuse || v.Lvstore.Loads == finding.LoadCrash {
		return nil, errors.New("the lvstore does not load")
	}
	g := Geometry{
		PageSize:      blobstore.PageSize,
		ClusterSize:   uint64(sb.ClusterSize),
		Size:          sb.Size,
		TotalClusters: sb.TotalClusters(),
		MDStart:       sb.MDStart,
		MDLen:         sb.MDLen,
		DataStart:     sb.MDClusters(),
	}
	ld := &LoadedStore{Geo: g, Clean: sb.Clean == 1, SuperBlob: sb.SuperBlob}
	// The scanner's lvol-level verdicts (which of two lvols with one name
	// gets the bdev) are the target's to make: the sim decides them at
	// examine (openOrder). Only blob-level skips keep a blob out.
	lvolOnly := map[uint64]bool{}
	otherSkip := map[uint64]bool{}
	for _, f := range v.Findings {
		if f.SPDK != finding.LoadSkip {
			continue
		}
		if f.Code == scanner.CodeDuplicateName || f.Code == scanner.CodeDuplicateUUID {
			lvolOnly[f.BlobID] = true
		} else {
			otherSkip[f.BlobID] = true
		}
	}
	for _, bi := range v.Blobs {
		loads := bi.Loads == finding.LoadOK || bi.Loads == finding.LoadDegraded ||
			(bi.Loads == finding.LoadSkip && lvolOnly[bi.ID] && !otherSkip[bi.ID])
		if !loads {
			continue
		}
		first, ok := blobstore.PageIndex(bi.ID)
		if !ok {
			continue
		}
		b, err := blobstore.ReadBlob(dev, sb, first, blobstore.ParseOptions{})
		if err != nil || b.NumClusters > MaxLvolClusters {
			continue // beyond what the model holds (see MaxLvolClusters)
		}
		ld.Blobs = append(ld.Blobs, blobState(b))
	}
	return ld, nil
}

// blobState converts a decoded blob to the model's form.
func blobState(b *blobstore.Blob) BlobState {
	st := BlobState{
		ID:       b.ID,
		Chain:    append([]uint32(nil), b.Pages...),
		Clusters: make([]uint64, b.NumClusters),
		Thin:     b.Thin(),
		DataRO:   b.ReadOnly(),
		// Flags the model does not derive are kept as read.
		InvalidExtra: b.Invalid &^ (blobstore.FlagThin | blobstore.FlagInternalXattrs | blobstore.FlagExtentTable),
		MDROFlags:    b.MDRO,
	}
	for _, r := range b.Clusters {
		for k := uint64(0); k < r.Count && r.Logical+k < b.NumClusters; k++ {
			st.Clusters[r.Logical+k] = r.Physical + k
		}
	}
	st.ExtentPages = emptyExtentPages(b.NumClusters)
	st.ExtentOwners = make([]uint64, len(st.ExtentPages))
	for _, ref := range b.ExtentRefs {
		if ref.Slot < uint64(len(st.ExtentPages)) {
			st.ExtentPages[ref.Slot] = ref.Page
			if ref.ID != b.ID {
				st.ExtentOwners[ref.Slot] = ref.ID
			}
		}
	}
	if p, ok := b.Parent(); ok {
		st.Parent = p
	}
	for _, x := range b.Xattrs {
		if x.Internal {
			if x.Name == blobstore.XattrSnapshot {
				continue
			}
			st.Internal = append(st.Internal, Xattr{Name: x.Name, Value: append([]byte(nil), x.Value...)})
			continue
		}
		st.Xattrs = append(st.Xattrs, Xattr{Name: x.Name, Value: append([]byte(nil), x.Value...)})
	}
	return st
}
