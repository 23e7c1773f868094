package sim

import (
	"sort"

	"github.com/lvfsck/lvfsck/spdk"
)

// JSON shapes of the real target's answers, field for field and in its
// order (testdata/fixtures/*.bdev_get_bdevs.json and friends). Where the
// client's spdk types encode the same bytes the sim answers with them; the
// types below are kept only where the sim must send something they would
// not: a member the client omits when empty, or an object in the target's
// member order where the client decodes into a map (encoded sorted).

// lvolJSON always sends creation_time, even empty (an lvol loaded without
// the xattr), as the Longhorn fork does; spdk.Lvol omits it when empty.
type lvolJSON struct {
	Alias             string       `json:"alias"`
	UUID              string       `json:"uuid"`
	Name              string       `json:"name"`
	CreationTime      string       `json:"creation_time"`
	IsThinProvisioned bool         `json:"is_thin_provisioned"`
	IsSnapshot        bool         `json:"is_snapshot"`
	IsClone           bool         `json:"is_clone"`
	IsEsnapClone      bool         `json:"is_esnap_clone"`
	IsDegraded        bool         `json:"is_degraded"`
	Lvs               spdk.LvolLvs `json:"lvs"`
}

// rateLimitsJSON and ioTypesJSON keep the target's member order;
// spdk.Bdev holds them as maps, which encode in sorted key order.
type rateLimitsJSON struct {
	RWIOsPerSec    uint64 `json:"rw_ios_per_sec"`
	RWMBytesPerSec uint64 `json:"rw_mbytes_per_sec"`
	RMBytesPerSec  uint64 `json:"r_mbytes_per_sec"`
	WMBytesPerSec  uint64 `json:"w_mbytes_per_sec"`
}

type ioTypesJSON struct {
	Read            bool `json:"read"`
	Write           bool `json:"write"`
	Unmap           bool `json:"unmap"`
	Flush           bool `json:"flush"`
	Reset           bool `json:"reset"`
	NvmeAdmin       bool `json:"nvme_admin"`
	NvmeIO          bool `json:"nvme_io"`
	NvmeIOMD        bool `json:"nvme_io_md"`
	WriteZeroes     bool `json:"write_zeroes"`
	Zcopy           bool `json:"zcopy"`
	GetZoneInfo     bool `json:"get_zone_info"`
	ZoneManagement  bool `json:"zone_management"`
	ZoneAppend      bool `json:"zone_append"`
	Compare         bool `json:"compare"`
	CompareAndWrite bool `json:"compare_and_write"`
	Abort           bool `json:"abort"`
	SeekHole        bool `json:"seek_hole"`
	SeekData        bool `json:"seek_data"`
	Copy            bool `json:"copy"`
	NvmeIovMD       bool `json:"nvme_iov_md"`
}

// lvolDriverJSON sends base_snapshot whenever the parent is named, even
// with an empty name (a damaged image); spdk.LvolDriver omits it when empty.
type lvolDriverJSON struct {
	LvolStoreUUID        string    `json:"lvol_store_uuid"`
	BaseBdev             string    `json:"base_bdev"`
	ThinProvision        bool      `json:"thin_provision"`
	NumAllocatedClusters uint64    `json:"num_allocated_clusters"`
	Snapshot             bool      `json:"snapshot"`
	Clone                bool      `json:"clone"`
	BaseSnapshot         *string   `json:"base_snapshot,omitempty"`
	Clones               *[]string `json:"clones,omitempty"`
	EsnapClone           bool      `json:"esnap_clone"`
}

type driverJSON struct {
	AIO  *spdk.AioDriver `json:"aio,omitempty"`
	Lvol *lvolDriverJSON `json:"lvol,omitempty"`
}

// bdevJSON differs from spdk.Bdev in its ordered rate limits and io types.
type bdevJSON struct {
	Name               string         `json:"name"`
	Aliases            []string       `json:"aliases"`
	ProductName        string         `json:"product_name"`
	BlockSize          uint32         `json:"block_size"`
	NumBlocks          uint64         `json:"num_blocks"`
	UUID               string         `json:"uuid"`
	CreationTime       string         `json:"creation_time"`
	AssignedRateLimits rateLimitsJSON `json:"assigned_rate_limits"`
	Claimed            bool           `json:"claimed"`
	ClaimType          string         `json:"claim_type,omitempty"`
	Zoned              bool           `json:"zoned"`
	SupportedIOTypes   ioTypesJSON    `json:"supported_io_types"`
	DriverSpecific     driverJSON     `json:"driver_specific"`
}

func (t *Target) lvstoreView(s *lvstore) spdk.Lvstore {
	return spdk.Lvstore{
		UUID:              s.uuid,
		Name:              s.name,
		BaseBdev:          s.base.name,
		TotalDataClusters: s.geo.DataClusters(),
		FreeClusters:      s.freeClusters(),
		BlockSize:         DefaultBlockSize,
		ClusterSize:       s.geo.ClusterSize,
	}
}

// relations indexes, per call, each blob's clones and each blob id's live
// lvol, so that a view of n lvols costs O(n), not O(n²).
type relations struct {
	clones map[uint64][]*blob
	live   map[uint64]*lvol
}

func (t *Target) relations() relations {
	r := relations{clones: map[uint64][]*blob{}, live: map[uint64]*lvol{}}
	for _, s := range t.stores {
		for _, b := range s.blobs {
			if b.Parent != 0 {
				r.clones[b.Parent] = append(r.clones[b.Parent], b)
			}
		}
		for _, l := range s.lvols {
			r.live[l.blob.ID] = l
		}
	}
	for _, cs := range r.clones {
		sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	}
	return r
}

func (t *Target) lvolView(l *lvol, rel relations) lvolJSON {
	return lvolJSON{
		Alias:             l.alias(),
		UUID:              l.uuid,
		Name:              l.name,
		CreationTime:      l.creationTime,
		IsThinProvisioned: l.blob.Thin,
		IsSnapshot:        len(rel.clones[l.blob.ID]) > 0,
		IsClone:           l.isClone(),
		IsEsnapClone:      l.esnap,
		IsDegraded:        l.degraded,
		Lvs:               spdk.LvolLvs{Name: l.store.name, UUID: l.store.uuid},
	}
}

func (t *Target) bdevView(b *bdev, rel relations) bdevJSON {
	if b.lvol == nil {
		v := bdevJSON{
			Name:        b.name,
			Aliases:     []string{b.uuid},
			ProductName: "AIO disk",
			BlockSize:   b.blockSize,
			NumBlocks:   b.numBlocks,
			UUID:        b.uuid,
			Claimed:     b.claim != "",
			ClaimType:   b.claim,
			SupportedIOTypes: ioTypesJSON{Read: true, Write: true, Flush: true, Reset: true,
				WriteZeroes: true},
			DriverSpecific: driverJSON{AIO: &spdk.AioDriver{Filename: b.filename, BlockSizeOverride: true}},
		}
		return v
	}
	l := b.lvol
	ro := l.blob.DataRO
	d := &lvolDriverJSON{
		LvolStoreUUID:        l.store.uuid,
		BaseBdev:             l.store.base.name,
		ThinProvision:        l.blob.Thin,
		NumAllocatedClusters: l.blob.allocated(),
		Snapshot:             len(rel.clones[l.blob.ID]) > 0,
		Clone:                l.isClone(),
	}
	if l.isClone() {
		if p := rel.live[l.blob.Parent]; p != nil {
			name := p.name
			d.BaseSnapshot = &name
		} else {
			t.log.logf(srcDumpInfo, lvlError, "Cannot obtain parent snapshots name for lvol %s", l.name)
		}
	}
	if d.Snapshot {
		names := []string{}
		for _, c := range rel.clones[l.blob.ID] {
			if cl := rel.live[c.ID]; cl != nil {
				names = append(names, cl.name)
			}
		}
		d.Clones = &names
	}
	return bdevJSON{
		Name:         l.uuid,
		Aliases:      []string{l.alias()},
		ProductName:  "Logical Volume",
		BlockSize:    DefaultBlockSize,
		NumBlocks:    l.sizeBytes() / DefaultBlockSize,
		UUID:         l.uuid,
		CreationTime: l.creationTime,
		Claimed:      b.claim != "",
		ClaimType:    b.claim,
		SupportedIOTypes: ioTypesJSON{Read: true, Write: !ro, Unmap: !ro, Flush: true, Reset: true,
			WriteZeroes: !ro, SeekHole: true, SeekData: true},
		DriverSpecific: driverJSON{Lvol: d},
	}
}
