package scanner

import (
	"time"

	"github.com/lvfsck/lvfsck/finding"
)

// Mode is how the md region is read.
type Mode string

const (
	// ModeAuto picks clean when the super block says clean, else recovery.
	ModeAuto Mode = "auto"
	// ModeClean follows the on-disk masks, as SPDK's clean load does.
	ModeClean Mode = "clean"
	// ModeRecovery walks every md page, as SPDK's dirty load (bs_recover)
	// does: what would load if the target restarted now.
	ModeRecovery Mode = "recovery"
)

// View is the persisted state of one device or image.
type View struct {
	Device string `json:"device"`
	// Size is the size of the device or image in bytes.
	Size    int64   `json:"size"`
	Lvstore Lvstore `json:"lvstore"`
	// Mode is the mode the scan ran in (never auto).
	Mode Mode `json:"mode"`
	// Buffered is true when O_DIRECT was refused (tmpfs) and the scan fell
	// back to buffered reads, which may see stale page-cache data.
	Buffered bool              `json:"buffered,omitempty"`
	Blobs    []BlobInfo        `json:"blobs"`
	Findings []finding.Finding `json:"findings"`
	Stats    Stats             `json:"stats"`
}

// Lvstore is what the super block and the super blob say.
type Lvstore struct {
	Name          string `json:"name"`
	UUID          string `json:"uuid"`
	ClusterSize   uint32 `json:"cluster_size"`
	PageSize      uint32 `json:"page_size"`
	MDStart       uint32 `json:"md_start"`
	MDLen         uint32 `json:"md_len"`
	TotalClusters uint64 `json:"total_clusters"`
	// MDClusters are the clusters the super block, masks and md region take.
	MDClusters uint64 `json:"md_clusters"`
	Clean      bool   `json:"clean"`
	BSType     string `json:"bstype"`
	Version    uint32 `json:"version"`
	SuperBlob  uint64 `json:"super_blob"`
	// Loads is what SPDK does with the lvstore as a whole.
	Loads finding.LoadOutcome `json:"loads"`
}

// Run is a stretch of a blob's clusters that are contiguous on the device.
type Run struct {
	// Offset is the first cluster of the run within the blob.
	Offset uint64 `json:"offset"`
	// Cluster is the device cluster index the run starts at.
	Cluster uint64 `json:"cluster"`
	Count   uint64 `json:"count"`
}

// Xattr is one extended attribute. Value is the text up to the first NUL
// when the value is printable text, else "0x" and hex.
type Xattr struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Internal bool   `json:"internal,omitempty"`
	Raw      []byte `json:"-"`
}

// BlobInfo is one blob as persisted.
type BlobInfo struct {
	ID uint64 `json:"id"`
	// Pages is the md chain, first page first (md region indexes).
	Pages []uint32 `json:"pages"`
	// ExtentPages are the extent pages the extent table points at.
	ExtentPages []uint32 `json:"extent_pages,omitempty"`
	IsLvol      bool     `json:"is_lvol"`
	LvolName    string   `json:"lvol_name,omitempty"`
	LvolUUID    string   `json:"lvol_uuid,omitempty"`
	// NumClusters is the blob's size in clusters; SizeBytes the same in bytes.
	NumClusters       uint64 `json:"num_clusters"`
	SizeBytes         uint64 `json:"size_bytes"`
	Allocated         []Run  `json:"allocated,omitempty"`
	AllocatedClusters uint64 `json:"allocated_clusters"`
	Thin              bool   `json:"thin"`
	ReadOnly          bool   `json:"read_only"`
	// Parent is the snapshot blob id (SNAP xattr), 0 when none.
	Parent uint64 `json:"parent,omitempty"`
	// ExternalSnapshot is the esnap id (EXTSNAP xattr) of an esnap clone.
	ExternalSnapshot string `json:"external_snapshot,omitempty"`
	// Clones are the blobs whose Parent is this one (derived).
	Clones []uint64 `json:"clones,omitempty"`
	// IsSnapshot is SPDK's spdk_blob_is_snapshot at load: some loaded blob
	// names this one as its parent.
	IsSnapshot bool    `json:"is_snapshot"`
	IsSuper    bool    `json:"is_super,omitempty"`
	Xattrs     []Xattr `json:"xattrs,omitempty"`
	// InvalidFlags, DataROFlags, MDROFlags are the raw flags descriptor.
	InvalidFlags uint64 `json:"invalid_flags"`
	DataROFlags  uint64 `json:"data_ro_flags"`
	MDROFlags    uint64 `json:"md_ro_flags"`
	// Loads is what SPDK does with this blob at its next load.
	Loads finding.LoadOutcome `json:"loads"`
}

// Stats are the scan's own figures.
type Stats struct {
	PagesRead uint64 `json:"pages_read"`
	BytesRead uint64 `json:"bytes_read"`
	Rereads   uint64 `json:"rereads"`
	// HolePages are md pages not read because they lie in a hole of a
	// sparse image (they read as zeros, and zeros are no md page).
	HolePages uint64        `json:"hole_pages"`
	Duration  time.Duration `json:"duration_ns"`
}

// Lvol finds a blob by lvol name (without the lvstore prefix).
func (v *View) Lvol(name string) (BlobInfo, bool) {
	for _, b := range v.Blobs {
		if b.IsLvol && b.LvolName == name {
			return b, true
		}
	}
	return BlobInfo{}, false
}

// Blob finds a blob by id.
func (v *View) Blob(id uint64) (BlobInfo, bool) {
	for _, b := range v.Blobs {
		if b.ID == id {
			return b, true
		}
	}
	return BlobInfo{}, false
}
