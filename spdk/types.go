package spdk

import (
	"encoding/json"
	"fmt"
)

// JSON tags follow the answers of a real v24.09 (Longhorn fork) target
// field for field. Members a target may leave out are omitzero, so that a
// decoded answer re-encodes to the same JSON; decoding is lenient about
// members added by newer targets.

// Version is the result of spdk_get_version.
type Version struct {
	Version string        `json:"version"`
	Fields  VersionFields `json:"fields"`
}

// VersionFields are the parsed parts of Version.Version.
type VersionFields struct {
	Major  int    `json:"major"`
	Minor  int    `json:"minor"`
	Patch  int    `json:"patch"`
	Suffix string `json:"suffix"`
	Commit string `json:"commit,omitzero"`
}

// Lvstore is one element of bdev_lvol_get_lvstores.
type Lvstore struct {
	UUID              string `json:"uuid"`
	Name              string `json:"name"`
	BaseBdev          string `json:"base_bdev"`
	TotalDataClusters uint64 `json:"total_data_clusters"`
	FreeClusters      uint64 `json:"free_clusters"`
	BlockSize         uint64 `json:"block_size"`
	ClusterSize       uint64 `json:"cluster_size"`
}

// Lvol is one element of bdev_lvol_get_lvols.
type Lvol struct {
	Alias             string  `json:"alias"`
	UUID              string  `json:"uuid"`
	Name              string  `json:"name"`
	CreationTime      string  `json:"creation_time,omitzero"` // Longhorn fork only
	IsThinProvisioned bool    `json:"is_thin_provisioned"`
	IsSnapshot        bool    `json:"is_snapshot"`
	IsClone           bool    `json:"is_clone"`
	IsEsnapClone      bool    `json:"is_esnap_clone"`
	IsDegraded        bool    `json:"is_degraded"`
	Lvs               LvolLvs `json:"lvs"`
	// NumAllocatedClusters is reported by newer SPDK only.
	NumAllocatedClusters *uint64 `json:"num_allocated_clusters,omitzero"`
}

// LvolLvs names the lvstore of an Lvol.
type LvolLvs struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// Bdev is one element of bdev_get_bdevs.
type Bdev struct {
	Name               string            `json:"name"`
	Aliases            []string          `json:"aliases"`
	ProductName        string            `json:"product_name"`
	BlockSize          uint64            `json:"block_size"`
	NumBlocks          uint64            `json:"num_blocks"`
	UUID               string            `json:"uuid"`
	NumaID             *int              `json:"numa_id,omitzero"` // NVMe bdevs
	CreationTime       string            `json:"creation_time"`
	AssignedRateLimits map[string]uint64 `json:"assigned_rate_limits"`
	Claimed            bool              `json:"claimed"`
	// ClaimType is present only when Claimed ("exclusive_write",
	// "read_many_write_one", "read_many_write_none", ...).
	ClaimType        string          `json:"claim_type,omitzero"`
	Zoned            bool            `json:"zoned"`
	SupportedIOTypes map[string]bool `json:"supported_io_types"`
	MemoryDomains    []MemoryDomain  `json:"memory_domains,omitzero"`
	DriverSpecific   *DriverSpecific `json:"driver_specific,omitzero"`
}

// MemoryDomain is one element of Bdev.MemoryDomains.
type MemoryDomain struct {
	DMADeviceID   string `json:"dma_device_id"`
	DMADeviceType int    `json:"dma_device_type"`
}

// DriverSpecific holds the per-module part of a bdev. Modules lvfsck reads
// are typed; the others are kept raw in Other so nothing is lost.
type DriverSpecific struct {
	Lvol  *LvolDriver                `json:"lvol,omitzero"`
	Aio   *AioDriver                 `json:"aio,omitzero"`
	Delay *DelayDriver               `json:"delay,omitzero"`
	Other map[string]json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps unknown modules in Other.
func (d *DriverSpecific) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*d = DriverSpecific{}
	for k, v := range raw {
		var err error
		switch k {
		case "lvol":
			d.Lvol = new(LvolDriver)
			err = json.Unmarshal(v, d.Lvol)
		case "aio":
			d.Aio = new(AioDriver)
			err = json.Unmarshal(v, d.Aio)
		case "delay":
			d.Delay = new(DelayDriver)
			err = json.Unmarshal(v, d.Delay)
		default:
			if d.Other == nil {
				d.Other = map[string]json.RawMessage{}
			}
			d.Other[k] = v
		}
		if err != nil {
			return fmt.Errorf("driver_specific.%s: %w", k, err)
		}
	}
	return nil
}

// MarshalJSON is the inverse of UnmarshalJSON.
func (d DriverSpecific) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(d.Other)+3)
	for k, v := range d.Other {
		m[k] = v
	}
	if d.Lvol != nil {
		m["lvol"] = d.Lvol
	}
	if d.Aio != nil {
		m["aio"] = d.Aio
	}
	if d.Delay != nil {
		m["delay"] = d.Delay
	}
	return json.Marshal(m)
}

// LvolDriver is driver_specific.lvol of an lvol bdev.
type LvolDriver struct {
	LvolStoreUUID        string `json:"lvol_store_uuid"`
	BaseBdev             string `json:"base_bdev"`
	ThinProvision        bool   `json:"thin_provision"`
	NumAllocatedClusters uint64 `json:"num_allocated_clusters"`
	Snapshot             bool   `json:"snapshot"`
	Clone                bool   `json:"clone"`
	// BaseSnapshot is absent on a clone whose snapshot the target cannot
	// name — which is what a force-removed snapshot leaves behind.
	BaseSnapshot         string   `json:"base_snapshot,omitzero"`
	Clones               []string `json:"clones,omitzero"`
	EsnapClone           bool     `json:"esnap_clone"`
	ExternalSnapshotName string   `json:"external_snapshot_name,omitzero"`
}

// AioDriver is driver_specific.aio of an AIO bdev.
type AioDriver struct {
	Filename          string `json:"filename"`
	BlockSizeOverride bool   `json:"block_size_override"`
	Readonly          bool   `json:"readonly"`
	Fallocate         bool   `json:"fallocate"`
}

// DelayDriver is driver_specific.delay of a delay bdev (latencies in µs).
type DelayDriver struct {
	Name            string `json:"name"`
	UUID            string `json:"uuid"`
	BaseBdevName    string `json:"base_bdev_name"`
	AvgReadLatency  uint64 `json:"avg_read_latency"`
	P99ReadLatency  uint64 `json:"p99_read_latency"`
	AvgWriteLatency uint64 `json:"avg_write_latency"`
	P99WriteLatency uint64 `json:"p99_write_latency"`
}

// NvmfSubsystem is one element of nvmf_get_subsystems. The discovery
// subsystem has only the first five members.
type NvmfSubsystem struct {
	NQN             string              `json:"nqn"`
	Subtype         string              `json:"subtype"`
	ListenAddresses []NvmfListenAddress `json:"listen_addresses"`
	AllowAnyHost    bool                `json:"allow_any_host"`
	Hosts           []NvmfHost          `json:"hosts"`
	SerialNumber    string              `json:"serial_number,omitzero"`
	ModelNumber     string              `json:"model_number,omitzero"`
	MaxNamespaces   uint32              `json:"max_namespaces,omitzero"`
	MinCntlid       uint16              `json:"min_cntlid,omitzero"`
	MaxCntlid       uint16              `json:"max_cntlid,omitzero"`
	Namespaces      []NvmfNamespace     `json:"namespaces,omitzero"`
}

// NvmfListenAddress is where a subsystem listens (also the
// nvmf_subsystem_add_listener parameter).
type NvmfListenAddress struct {
	Trtype  string `json:"trtype"`
	Adrfam  string `json:"adrfam,omitzero"`
	Traddr  string `json:"traddr"`
	Trsvcid string `json:"trsvcid,omitzero"`
}

// NvmfHost is an allowed host of a subsystem.
type NvmfHost struct {
	NQN string `json:"nqn"`
}

// NvmfNamespace is an exported bdev. For an lvol, BdevName, Name and UUID
// are all the lvol's uuid.
type NvmfNamespace struct {
	NSID     uint32 `json:"nsid"`
	BdevName string `json:"bdev_name"`
	Name     string `json:"name"`
	NGUID    string `json:"nguid,omitzero"`
	UUID     string `json:"uuid,omitzero"`
}

// ShallowCopyStatus is the result of bdev_lvol_check_shallow_copy. Once a
// "complete" status has been read, the operation is freed and the next
// check answers ErrNotFound.
type ShallowCopyStatus struct {
	CopiedClusters uint64 `json:"copied_clusters"`
	TotalClusters  uint64 `json:"total_clusters"`
	State          string `json:"state"` // "in progress", "complete", "error"
	Error          string `json:"error,omitzero"`
}

// Shallow copy states.
const (
	ShallowCopyInProgress = "in progress"
	ShallowCopyComplete   = "complete"
	ShallowCopyError      = "error"
)

// Notification is one event of notify_get_notifications. For bdev events
// Ctx is the bdev name (an lvol's uuid); ids restart at 0 in each target run.
type Notification struct {
	Type string `json:"type"`
	Ctx  string `json:"ctx"`
	ID   uint64 `json:"id"`
}

// Notification types of the bdev layer.
const (
	NotifyBdevRegister   = "bdev_register"
	NotifyBdevUnregister = "bdev_unregister"
)

// Iostat is the result of bdev_get_iostat.
type Iostat struct {
	TickRate uint64       `json:"tick_rate"`
	Ticks    uint64       `json:"ticks"`
	Bdevs    []BdevIostat `json:"bdevs"`
}

// BdevIostat are one bdev's counters since it registered.
type BdevIostat struct {
	Name                 string            `json:"name"`
	BytesRead            uint64            `json:"bytes_read"`
	NumReadOps           uint64            `json:"num_read_ops"`
	BytesWritten         uint64            `json:"bytes_written"`
	NumWriteOps          uint64            `json:"num_write_ops"`
	BytesUnmapped        uint64            `json:"bytes_unmapped"`
	NumUnmapOps          uint64            `json:"num_unmap_ops"`
	BytesCopied          uint64            `json:"bytes_copied"`
	NumCopyOps           uint64            `json:"num_copy_ops"`
	ReadLatencyTicks     uint64            `json:"read_latency_ticks"`
	MaxReadLatencyTicks  uint64            `json:"max_read_latency_ticks"`
	MinReadLatencyTicks  uint64            `json:"min_read_latency_ticks"`
	WriteLatencyTicks    uint64            `json:"write_latency_ticks"`
	MaxWriteLatencyTicks uint64            `json:"max_write_latency_ticks"`
	MinWriteLatencyTicks uint64            `json:"min_write_latency_ticks"`
	UnmapLatencyTicks    uint64            `json:"unmap_latency_ticks"`
	MaxUnmapLatencyTicks uint64            `json:"max_unmap_latency_ticks"`
	MinUnmapLatencyTicks uint64            `json:"min_unmap_latency_ticks"`
	CopyLatencyTicks     uint64            `json:"copy_latency_ticks"`
	MaxCopyLatencyTicks  uint64            `json:"max_copy_latency_ticks"`
	MinCopyLatencyTicks  uint64            `json:"min_copy_latency_ticks"`
	IOError              map[string]uint64 `json:"io_error"`
}
