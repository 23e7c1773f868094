package sim

import (
	"fmt"

	"github.com/lvfsck/lvfsck/blobstore"
)

func init() { DefaultBackend = blobstoreBackend{} }

// blobstoreBackend persists through the project's blobstore codec and
// loads as SPDK does (load.go; recovery when the image is not clean).
type blobstoreBackend struct{}

// Layout is spdk_bs_init's layout with lvstore defaults, from the
// blobstore package (one md page per cluster: ratio 100%).
func (blobstoreBackend) Layout(devSize, clusterSize uint64) (Geometry, error) {
	if clusterSize > 1<<31 {
		return Geometry{}, fmt.Errorf("cluster size %d too large", clusterSize)
	}
	l, err := blobstore.NewLayout(devSize, blobstore.LayoutOptions{ClusterSize: uint32(clusterSize)})
	if err != nil {
		return Geometry{}, err
	}
	if l.DataClusters() == 0 {
		return Geometry{}, fmt.Errorf("device of %d bytes: metadata takes every cluster", devSize)
	}
	return geometryOf(l.SuperBlock), nil
}

// geometryOf is the model's view of a super block.
func geometryOf(sb *blobstore.SuperBlock) Geometry {
	return Geometry{
		PageSize:      blobstore.PageSize,
		ClusterSize:   uint64(sb.ClusterSize),
		Size:          sb.Size,
		TotalClusters: sb.TotalClusters(),
		MDStart:       sb.MDStart,
		MDLen:         sb.MDLen,
		DataStart:     sb.MDClusters(),
		PageMask:      Region{sb.UsedPageMaskStart, sb.UsedPageMaskLen},
		ClusterMask:   Region{sb.UsedClusterMaskStart, sb.UsedClusterMaskLen},
		BlobIDMask:    Region{sb.UsedBlobIDMaskStart, sb.UsedBlobIDMaskLen},
		IOUnitSize:    sb.IOUnitSize,
	}
}

func (blobstoreBackend) Writer(dev Device, g Geometry, superBlob uint64) MDWriter {
	return &diskWriter{dev: dev, g: g, superBlob: superBlob}
}

// superBlock is the super block of geometry g.
func superBlock(g Geometry, superBlob uint64, clean bool) *blobstore.SuperBlock {
	sb := &blobstore.SuperBlock{
		Version:              blobstore.Version,
		Length:               blobstore.PageSize,
		SuperBlob:            superBlob,
		ClusterSize:          uint32(g.ClusterSize),
		UsedPageMaskStart:    g.PageMask.Start,
		UsedPageMaskLen:      g.PageMask.Len,
		UsedClusterMaskStart: g.ClusterMask.Start,
		UsedClusterMaskLen:   g.ClusterMask.Len,
		MDStart:              g.MDStart,
		MDLen:                g.MDLen,
		UsedBlobIDMaskStart:  g.BlobIDMask.Start,
		UsedBlobIDMaskLen:    g.BlobIDMask.Len,
		Size:                 g.Size,
		IOUnitSize:           g.IOUnitSize,
	}
	copy(sb.Signature[:], blobstore.Signature)
	copy(sb.Bstype[:], blobstore.LvolstoreBstype)
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

// toBlob is b as the blobstore codec encodes it: flags, user xattrs,
// internal xattrs (SNAP first), then the extent table (or EXTENT_RLE).
func toBlob(b *BlobState) *blobstore.Blob {
	out := &blobstore.Blob{
		ID:              b.ID,
		Pages:           b.Chain,
		NumClusters:     uint64(len(b.Clusters)),
		UsesExtentTable: !b.NoExtentTable,
		MDRO:            b.MDROFlags,
	}
	out.Invalid = b.InvalidExtra
	if out.UsesExtentTable {
		out.Invalid |= blobstore.FlagExtentTable
		out.ExtentTableLen = uint64(len(b.ExtentPages))
	}
	if b.Thin {
		out.Invalid |= blobstore.FlagThin
	}
	if b.DataRO {
		out.DataRO = blobstore.FlagReadOnly
	}
	for _, x := range b.Xattrs {
		out.Xattrs = append(out.Xattrs, blobstore.Xattr{Name: x.Name, Value: x.Value})
	}
	if b.Parent != 0 {
		out.Xattrs = append(out.Xattrs, blobstore.Xattr{Name: blobstore.XattrSnapshot, Value: u64le(b.Parent), Internal: true})
	}
	for _, x := range b.Internal {
		out.Xattrs = append(out.Xattrs, blobstore.Xattr{Name: x.Name, Value: x.Value, Internal: true})
	}
	if b.Parent != 0 || len(b.Internal) > 0 {
		out.Invalid |= blobstore.FlagInternalXattrs
	}
	for i := 0; i < len(b.Clusters); {
		if b.Clusters[i] == 0 {
			i++
			continue
		}
		j := i + 1
		for j < len(b.Clusters) && b.Clusters[j] == b.Clusters[j-1]+1 {
			j++
		}
		out.Clusters = append(out.Clusters, blobstore.Run{Logical: uint64(i), Physical: b.Clusters[i], Count: uint64(j - i)})
		i = j
	}
	for slot, p := range b.ExtentPages {
		if p != NoPage && !b.NoExtentTable {
			ref := blobstore.ExtentRef{Slot: uint64(slot), Page: p}
			if o := b.Owner(slot); o != b.ID {
				ref.ID = o
			}
			out.ExtentRefs = append(out.ExtentRefs, ref)
			out.ExtentPages = append(out.ExtentPages, p)
		}
	}
	return out
}

func (w *diskWriter) ChainLen(b *BlobState) (int, error) {
	bl := toBlob(b)
	n, err := blobstore.ChainLength(bl)
	if err != nil {
		return 0, fmt.Errorf("serialize blob %#x: %w", b.ID, err)
	}
	return n, nil
}

func (w *diskWriter) WriteBlob(b *BlobState) error {
	chain, extents, err := blobstore.EncodeBlob(toBlob(b))
	if err != nil {
		return fmt.Errorf("encode blob %#x: %w", b.ID, err)
	}
	// Extent pages first, then continuation pages, the first page last,
	// as SPDK writes them.
	for _, p := range extents {
		if err := w.writeAt(p.Data, w.mdPage(p.Index)); err != nil {
			return err
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if err := w.writeAt(chain[i].Data, w.mdPage(chain[i].Index)); err != nil {
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
		{blobstore.MaskUsedPages, m.NumPages, m.UsedPages, w.g.PageMask.Start, w.g.PageMask.Len},
		{blobstore.MaskUsedClusters, m.NumClusters, m.UsedClusters, w.g.ClusterMask.Start, w.g.ClusterMask.Len},
		{blobstore.MaskUsedBlobIDs, m.NumPages, m.UsedBlobIDs, w.g.BlobIDMask.Start, w.g.BlobIDMask.Len},
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

// Load is the stand-in's own load of dev (load.go).
func (blobstoreBackend) Load(dev Device) (*LoadedStore, error) { return loadImage(dev) }

// blobState converts a decoded blob to the model's form.
func blobState(b *blobstore.Blob) BlobState {
	st := BlobState{
		ID:       b.ID,
		Chain:    append([]uint32(nil), b.Pages...),
		Clusters: make([]uint64, b.NumClusters),
		Thin:     b.Thin(),
		DataRO:   b.ReadOnly(),
		// Flags the model does not derive are kept as read.
		InvalidExtra:  b.Invalid &^ (blobstore.FlagThin | blobstore.FlagInternalXattrs | blobstore.FlagExtentTable),
		MDROFlags:     b.MDRO,
		NoExtentTable: !b.UsesExtentTable,
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
