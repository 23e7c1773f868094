package repair

import (
	"context"
	"time"
)

// Lvol is one lvol as a real target reports it: bdev_lvol_get_lvols gives
// identity and flags; base_snapshot and clones come from bdev_get_bdevs'
// driver_specific.lvol (v24.09's get_lvols lacks them), the adapter merges.
type Lvol struct {
	UUID        string
	Name        string // without the lvstore prefix
	Alias       string // "lvstore/name"
	LvstoreUUID string
	LvstoreName string
	Snapshot    bool
	Clone       bool
	// BaseSnapshot is empty for a clone whose snapshot was force-removed:
	// that is itself a trace of a forced removal.
	BaseSnapshot string
	Clones       []string // clone names, for a snapshot
}

// Lvstore is one entry of bdev_lvol_get_lvstores.
type Lvstore struct {
	UUID     string
	Name     string
	BaseBdev string
}

// Bdev is what bdev_get_bdevs says about one bdev that the guards need.
// Real targets report whether a bdev is claimed (and by which claim type:
// the lvstore claims its base "read_many_write_one", an NVMe-oF namespace
// claims its lvol "exclusive_write"), but no count of open descriptors: an
// open without a claim is invisible over RPC, so no guard can rely on it.
type Bdev struct {
	Name      string
	Aliases   []string
	Product   string // product_name: "AIO disk", "Logical Volume", ...
	Claimed   bool
	ClaimType string
	BlockSize uint32
	// AioFilename is driver_specific.aio.filename; empty unless an AIO bdev.
	AioFilename string
}

// Namespace is one namespace of an NVMe-oF subsystem (nvmf_get_subsystems):
// BdevName is the bdev's name, i.e. an lvol's uuid.
type Namespace struct {
	NQN      string
	NSID     uint32
	BdevName string
}

// IOStat is one bdev's cumulative counters from bdev_get_iostat.
type IOStat struct {
	Name          string
	BytesRead     uint64
	BytesWritten  uint64
	BytesUnmapped uint64
	NumReadOps    uint64
	NumWriteOps   uint64
}

// Bytes is all data the bdev moved.
func (s IOStat) Bytes() uint64 { return s.BytesRead + s.BytesWritten + s.BytesUnmapped }

// Target is what lvfsck sees of a running spdk_tgt over JSON-RPC. Methods map
// one to one onto RPCs; errors wrap ErrBusy, ErrNotFound, ErrMethodNotFound
// where the target answered so. Implementations must honour ctx.
type Target interface {
	Lvstores(ctx context.Context) ([]Lvstore, error)     // bdev_lvol_get_lvstores
	Lvols(ctx context.Context) ([]Lvol, error)           // bdev_lvol_get_lvols (+ bdev_get_bdevs)
	Bdevs(ctx context.Context) ([]Bdev, error)           // bdev_get_bdevs
	Namespaces(ctx context.Context) ([]Namespace, error) // nvmf_get_subsystems, flattened
	// HasMethod reports whether rpc_get_methods lists name.
	HasMethod(ctx context.Context, name string) (bool, error)
	// StopSnapshotChecksum is bdev_lvol_stop_snapshot_checksum {"name"}.
	StopSnapshotChecksum(ctx context.Context, name string) error
	// DeleteLvol is bdev_lvol_delete {"name"} (alias or uuid).
	DeleteLvol(ctx context.Context, name string) error
	// IOStats is bdev_get_iostat with no name: every bdev.
	IOStats(ctx context.Context) ([]IOStat, error)
	// AioDelete is bdev_aio_delete {"name"}. It may never answer (an unload
	// with a blob still open): it must return when ctx is done.
	AioDelete(ctx context.Context, name string) error
	// AioCreate is bdev_aio_create {"filename", "name", "block_size"}.
	AioCreate(ctx context.Context, filename, name string, blockSize uint32) error
}

// MethodStopSnapshotChecksum is the Longhorn method that stops a checksum
// registration; v24.09 lacks it, newer Longhorn targets have it.
const MethodStopSnapshotChecksum = "bdev_lvol_stop_snapshot_checksum"

// BlobRef is a blob found on disk that carries an lvol's identity.
type BlobRef struct {
	BlobID      uint64
	LvstoreUUID string
	LvolUUID    string
	LvolName    string
}

// BlobQuery selects blobs on disk: the lvstore by uuid or (when the uuid is
// unknown) by name; the lvol by uuid xattr or (when empty) by name xattr.
type BlobQuery struct {
	LvstoreUUID string
	LvstoreName string
	LvolUUID    string
	LvolName    string
}

// Disk reads the base device of an lvstore the way SPDK's recovery does
// (every md page by CRC, never the stale masks), with O_DIRECT beside a
// live target. Implementations must not write.
type Disk interface {
	// BlobPresent: does a valid first md page for blobID, carrying the lvol
	// uuid, still exist? Reads only that blob's chain. blobID 0 means unknown:
	// the implementation then searches the md region for the uuid.
	BlobPresent(ctx context.Context, lvstoreUUID, lvolUUID string, blobID uint64) (bool, error)
	// FindBlob returns every blob on disk that matches q (a recovery-mode
	// walk of the lvstore's md region).
	FindBlob(ctx context.Context, q BlobQuery) ([]BlobRef, error)
}

// Intent is a delete lvfsck is about to attempt, recorded before the RPC.
type Intent struct {
	ID          string // assigned by the journal
	Op          string // "delete"
	Ref         string // what the operator named
	LvstoreUUID string
	LvstoreName string
	LvolUUID    string
	LvolName    string
	BlobID      uint64 // 0 when the disk showed none
	Snapshot    bool
	At          time.Time
}

// Record is the outcome of an intent.
type Record struct {
	Outcome   Outcome
	Semantics Semantics
	Attempts  int
	At        time.Time
	Messages  []string
	// Evidence is what each view said ("live", "disk", "rpc"), as in Finding.
	Evidence map[string]string
}

// Journal keeps intents and outcomes (badger-backed in the real CLI).
type Journal interface {
	// RecordIntent stores the intent durably and returns its id.
	RecordIntent(ctx context.Context, in Intent) (string, error)
	RecordOutcome(ctx context.Context, intentID string, r Record) error
	// OpenIntents lists intents without an outcome.
	OpenIntents(ctx context.Context) ([]Intent, error)
}
