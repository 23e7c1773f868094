package blobstore

import "fmt"

// Defaults of spdk_bs_init and bdev_lvol_create_lvstore.
const (
	DefaultClusterSize       = 1 << 20 // SPDK_BLOB_OPTS_CLUSTER_SZ
	DefaultLvsClusterSize    = 4 << 20 // SPDK_LVS_OPTS_CLUSTER_SZ
	DefaultMDPagesPerCluster = 100     // lvstore num_md_pages_per_cluster_ratio, percent
)

// LayoutOptions are the inputs of spdk_bs_init that shape the layout.
type LayoutOptions struct {
	ClusterSize uint32 // bytes; 0 = DefaultLvsClusterSize (lvstore default)
	// MDPages is the md region size; 0 = one page per cluster, which is both
	// spdk_bs_init's default and the lvstore default (ratio 100%).
	MDPages   uint32
	BlockSize uint32 // device block size; 0 = 4096. Becomes io_unit_size.
	Bstype    string // "" = LvolstoreBstype
}

// Layout is a freshly initialized blobstore: the super block as
// spdk_bs_init writes it (clean 0, no super blob) and the three masks, with
// the clusters the metadata occupies marked used.
type Layout struct {
	SuperBlock   *SuperBlock
	UsedPages    *Mask
	UsedClusters *Mask
	UsedBlobIDs  *Mask
}

// LvstoreMDPages is the md region size bdev_lvol_create_lvstore asks for:
// ratio percent of the device's clusters.
func LvstoreMDPages(devSize uint64, clusterSize uint32, ratio uint32) uint32 {
	if clusterSize == 0 {
		return 0
	}
	return uint32(uint64(ratio) * (devSize / uint64(clusterSize)) / 100)
}

// NewLayout lays out a blobstore on a device of devSize bytes exactly as
// spdk_bs_init does: super block, used-page mask, used-cluster mask (with
// room reserved for growth up to one cluster per md page), used-blobid
// mask, md region; leading clusters covering all that are marked used.
func NewLayout(devSize uint64, o LayoutOptions) (*Layout, error) {
	if o.ClusterSize == 0 {
		o.ClusterSize = DefaultLvsClusterSize
	}
	if o.BlockSize == 0 {
		o.BlockSize = PageSize
	}
	if o.Bstype == "" {
		o.Bstype = LvolstoreBstype
	}
	if PageSize%o.BlockSize != 0 || o.ClusterSize < PageSize || o.ClusterSize%PageSize != 0 {
		return nil, geomErr(DefectClusterSize, "cluster size %d, block size %d", o.ClusterSize, o.BlockSize)
	}
	if len(o.Bstype) > BstypeLength {
		return nil, fmt.Errorf("bstype %q longer than %d bytes", o.Bstype, BstypeLength)
	}
	blocks := devSize / uint64(o.BlockSize)
	total := blocks / uint64(o.ClusterSize/o.BlockSize)
	if total == 0 || total >= 1<<32 {
		return nil, geomErr(DefectSize, "%d clusters of %d bytes on %d bytes", total, o.ClusterSize, devSize)
	}
	mdLen := o.MDPages
	if mdLen == 0 {
		mdLen = uint32(total)
	}
	sb := &SuperBlock{
		Version:     Version,
		Length:      PageSize,
		SuperBlob:   InvalidBlobID,
		ClusterSize: o.ClusterSize,
		IOUnitSize:  o.BlockSize,
		Size:        blocks * uint64(o.BlockSize),
		MDLen:       mdLen,
	}
	copy(sb.Signature[:], Signature)
	copy(sb.Bstype[:], o.Bstype)

	next := uint64(1)
	sb.UsedPageMaskStart = uint32(next)
	sb.UsedPageMaskLen = uint32(maskPages(uint64(mdLen)))
	next += uint64(sb.UsedPageMaskLen)
	sb.UsedClusterMaskStart = uint32(next)
	sb.UsedClusterMaskLen = uint32(maskPages(total))
	next += max(maskPages(uint64(mdLen)), uint64(sb.UsedClusterMaskLen))
	sb.UsedBlobIDMaskStart = uint32(next)
	sb.UsedBlobIDMaskLen = uint32(maskPages(uint64(mdLen)))
	next += uint64(sb.UsedBlobIDMaskLen)
	if next+uint64(mdLen) > 1<<32 {
		return nil, geomErr(DefectMDTooLarge, "metadata of %d pages", next+uint64(mdLen))
	}
	sb.MDStart = uint32(next)
	mdClusters := sb.MDClusters()
	if mdClusters > total {
		// SPDK: "Blobstore metadata cannot use more clusters than is available".
		return nil, geomErr(DefectMDTooLarge, "metadata takes %d clusters of %d", mdClusters, total)
	}
	l := &Layout{
		SuperBlock:   sb,
		UsedPages:    NewMask(MaskUsedPages, mdLen),
		UsedClusters: NewMask(MaskUsedClusters, uint32(total)),
		UsedBlobIDs:  NewMask(MaskUsedBlobIDs, mdLen),
	}
	for c := uint64(0); c < mdClusters; c++ {
		l.UsedClusters.Set(c)
	}
	return l, nil
}

// DataClusters is the number of clusters left for blobs.
func (l *Layout) DataClusters() uint64 {
	return l.SuperBlock.TotalClusters() - l.SuperBlock.MDClusters()
}
