// Package reconcile compares what is persisted on an lvstore's device, what
// the running spdk_tgt shows over RPC, and what lvfsck remembers, and turns
// the disagreements into findings.
//
// Check is pure: it takes values (Persisted, Live) and a History interface,
// and does no I/O. Package collect fills these types from the scanner, the
// spdk client and the journal; the types stay small so that captured RPC answers and a
// persisted view map onto them field by field.
//
// Evidence rules, for a persisted lvol that SPDK would load (load or
// load-degraded) in an lvstore that is both read from disk and loaded by the
// target, and that the live view does not list (matched by uuid):
//
//   - pending-resurrection needs positive evidence that the target dropped it
//     in this run: the journal listed it earlier in this incarnation; a
//     delete intent was recorded for it in this incarnation (any outcome:
//     lvfsck only deletes what it resolved live); the notify ring's last
//     event for its uuid is bdev_unregister; a live clone whose blob's parent
//     is this blob reports clone=true without a base snapshot name; an
//     imported forced-removal log line (not from another incarnation); a
//     pending-resurrection an earlier check of this incarnation recorded
//     (the ring may have rolled over since).
//   - with a live lvol of the same lvstore under the same name (another
//     uuid): name-collision as well (before the restart), or name-collision
//     alone when there is no positive evidence (after it: the invisible
//     lvol and its clusters). Also for a blob the scanner says SPDK skips.
//   - otherwise not-opened-at-load when the notify ring still holds id 0 and
//     has no event for its uuid, or a log says the open failed, or an
//     earlier check of this incarnation recorded it not opened;
//   - otherwise no-evidence: absent, cause unknown; the evidence says what
//     was missing (ring, journal, incarnation).
//
// A live lvol is resurrected when the journal recorded its delete with an
// outcome that removed it from the view (deleted-verified, forced-removal,
// hidden-zombie), or saw it listed then gone within an earlier incarnation,
// or an imported log attributes a forced removal to it, or an earlier run
// recorded it as pending-resurrection in another incarnation (dropped
// between two checks: no run saw it listed), or a resurrected finding about
// it is still open. A live clone that
// lost its base snapshot name is clone-lost-base-snapshot unless the disk
// names the absent parent, whose pending resurrection then carries it.
//
// A pending resurrection whose evidence shows Longhorn's fixed delete
// semantics only (a live clone still naming it, an "Error -16 deleting
// lvol" log line, lvfsck's own delete finding it hidden, the target showing
// fixed semantics before) is hidden-zombie instead: the lvstore still holds
// it, so the advice differs (zombie.go).
package reconcile

import "time"

import "github.com/lvfsck/lvfsck/finding"

// Input is everything Check looks at.
type Input struct {
	// Persisted is the on-disk view; nil when no device was read (then only
	// the RPC-only and journal checks run, and each live lvstore is reported
	// as not read from disk).
	Persisted *Persisted
	// Live is the view of the running target.
	Live Live
	// History is the journal; nil when there is none.
	History History
	// Incarnation identifies the target run that Live was taken from.
	Incarnation Incarnation
	// Earlier are the lvstores the previous run of this target listed (from
	// the journal); nil when not known. One this run does not have at all
	// was not checked, and the report must say so.
	Earlier []EarlierLvstore
}

// EarlierLvstore is an lvstore a previous run of the target listed.
type EarlierLvstore struct {
	UUID, Name  string
	Incarnation string
	Lvols       int       // lvols it listed then
	LastSeen    time.Time // the latest sighting of one of them
}

// Incarnation is the target run Live comes from (pid + start time, or an
// explicit --incarnation).
type Incarnation struct {
	// ID is empty when unknown; then no journal record can be tied to this
	// run and journal evidence about "this incarnation" is not used.
	ID string
	// EarlierRuns is how many lvfsck runs the journal recorded in this
	// incarnation before this one (it qualifies "never listed").
	EarlierRuns int
}

// Persisted is the on-disk view: what SPDK would load if it loaded the
// scanned devices now.
type Persisted struct {
	Lvstores []PersistedLvstore
	Lvols    []PersistedLvol
	// Complete says every base device of the live lvstores was scanned, so a
	// live lvstore missing here is on none of them. Otherwise a live lvstore
	// whose device was not scanned is "not read from disk", not an error.
	Complete bool
}

// PersistedLvstore is one scanned device and the lvstore on it.
type PersistedLvstore struct {
	UUID string // lvstore uuid; empty when the device holds no lvstore identity
	Name string
	// Device is the path that was read (an AIO bdev's file); it is matched
	// against LiveLvstore.Device.
	Device      string
	ClusterSize uint64 // bytes
	Clean       bool   // super block clean flag
	// Readable is false when the device could not be read at all; Err says
	// why. Lvols of such an lvstore get the RPC-only checks.
	Readable bool
	Err      string
	// Loads is what SPDK does with the lvstore at load; refuse-lvstore and
	// crash disable the per-lvol comparison (the scanner reports why).
	Loads finding.LoadOutcome
}

// PersistedLvol is one blob with an lvol identity (name and uuid xattrs).
type PersistedLvol struct {
	LvstoreUUID string
	BlobID      uint64
	Name        string // lvol name, without the lvstore prefix
	UUID        string
	SizeBytes   uint64 // num_clusters * cluster size
	Thin        bool
	ReadOnly    bool
	IsSnapshot  bool // some loadable blob names it as parent (spdk_blob_is_snapshot)
	IsClone     bool // has a parent snapshot blob (SNAP), not an external one
	EsnapClone  bool // has an external snapshot (EXTSNAP)
	// ParentBlobID is the SNAP internal xattr (0 when none); ParentName is
	// that blob's name xattr when it has one.
	ParentBlobID uint64
	ParentName   string
	// Loads is what SPDK does with this blob at load. Only load and
	// load-degraded count here: a blob SPDK skips is the scanner's integrity
	// finding, not a resurrection.
	Loads             finding.LoadOutcome
	AllocatedClusters uint64
	// Pages are the md page indices of the blob's chain, first page first.
	Pages []uint32
}

// Live is the running target's view.
type Live struct {
	Lvstores []LiveLvstore // bdev_lvol_get_lvstores
	Lvols    []LiveLvol    // bdev_lvol_get_lvols, completed from bdev_get_bdevs
	// Notifications is notify_get_notifications from id 0;
	// NotifyAvailable is false when it was not asked or not answered.
	Notifications   []Notify
	NotifyAvailable bool
}

// LiveLvstore is one entry of bdev_lvol_get_lvstores.
type LiveLvstore struct {
	UUID        string
	Name        string
	BaseBdev    string
	Device      string // the base bdev's file (AIO filename) when known
	ClusterSize uint64
}

// LiveLvol is one live lvol: bdev_lvol_get_lvols, plus bdev_get_bdevs'
// driver_specific.lvol and num_blocks*block_size when available.
type LiveLvol struct {
	UUID        string
	Name        string // without the lvstore prefix
	Alias       string // "lvstore/name"
	LvstoreUUID string
	LvstoreName string
	Thin        bool
	Snapshot    bool
	Clone       bool
	EsnapClone  bool
	Degraded    bool
	// ReadOnly is nil when the source does not report it (v24.09 does not).
	ReadOnly *bool
	// BaseSnapshot is driver_specific.lvol.base_snapshot. ParentReported
	// says the entry came from a source that names a clone's base snapshot
	// (bdev_get_bdevs); only then does Clone with an empty BaseSnapshot
	// mean the target lost the parent's name.
	BaseSnapshot   string
	ParentReported bool
	SizeBytes      uint64 // 0 when unknown
	Clones         []string
}

// Notify is one event of notify_get_notifications. Ctx is the bdev name,
// which for an lvol bdev is its uuid.
type Notify struct {
	ID   uint64
	Type string
	Ctx  string
}

// Notification types the checks use.
const (
	NotifyBdevRegister   = "bdev_register"
	NotifyBdevUnregister = "bdev_unregister"
)

func loadable(o finding.LoadOutcome) bool {
	return o == finding.LoadOK || o == finding.LoadDegraded
}
