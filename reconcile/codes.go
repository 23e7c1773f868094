package reconcile

import "github.com/lvfsck/lvfsck/finding"

// Codes of the findings Check produces. Stable: never reuse one for another
// meaning.
const (
	// CodePendingResurrection: a blob SPDK would load, absent from the live
	// view, with positive evidence that the target dropped it in this run
	// (a forced removal). Error.
	CodePendingResurrection finding.Code = "pending-resurrection"
	// CodeResurrected: an lvol the journal saw deleted is live again. Error.
	CodeResurrected finding.Code = "resurrected"
	// CodeNotOpenedAtLoad: persisted and loadable, never given a bdev in
	// this run. Warning.
	CodeNotOpenedAtLoad finding.Code = "not-opened-at-load"
	// CodeNameCollision: an absent persisted lvol whose name a live lvol of
	// the same lvstore uses. Error.
	CodeNameCollision finding.Code = "name-collision"
	// CodePhantom: a live lvol with no persisted blob. Error.
	CodePhantom finding.Code = "phantom"
	// CodeAttrMismatch: the views disagree on an attribute. Warning or error
	// by attribute (size, name, parent, lvstore: error; thin, snapshot,
	// clone, read-only: warning).
	CodeAttrMismatch finding.Code = "attr-mismatch"
	// CodeLvstoreLiveOnly: a live lvstore that the scanned devices do not
	// hold. Error when its own device was scanned, warning otherwise.
	CodeLvstoreLiveOnly finding.Code = "lvstore-live-only"
	// CodeLvstoreDiskOnly: an lvstore on a scanned device that the target
	// has not loaded. Warning.
	CodeLvstoreDiskOnly finding.Code = "lvstore-disk-only"
	// CodeLvstoreNotLoaded: an lvstore the previous run of this target
	// listed, which this run neither lists nor has a device of: not
	// checked. Warning.
	CodeLvstoreNotLoaded finding.Code = "lvstore-not-loaded"
	// CodeCloneLostBaseSnapshot: a live clone with no base snapshot name,
	// the RPC-only trace of a snapshot's forced removal. Error. Folded into
	// the parent's pending resurrection when the disk names the parent.
	CodeCloneLostBaseSnapshot finding.Code = "clone-lost-base-snapshot"
	// CodeOpenDeleteIntent: a delete lvfsck started and never recorded the
	// outcome of. Warning.
	CodeOpenDeleteIntent finding.Code = "open-delete-intent"
	// CodeNoEvidence: a persisted, loadable lvol absent from the live view
	// with no evidence of why. Warning.
	CodeNoEvidence finding.Code = "no-evidence"
	// CodeDiskNotRead: the persisted view of a live lvstore was not read, so
	// only the RPC-only checks ran for it. Warning: a store whose device was
	// not read was not checked, and the run must not read as clean.
	CodeDiskNotRead finding.Code = "disk-not-read"
)

// Evidence keys of Finding.Evidence.
const (
	EvDisk    = "disk"
	EvLive    = "live"
	EvJournal = "journal"
	EvNotify  = "notify"
	EvLog     = "log"
)
