package tgtlog

// Kind classifies a record. The strings are the journal's and reconcile's
// evidence kinds where those packages name one (forced-removal,
// cannot-remove-open-snapshot, error-opening-lvol, cannot-create-bdev,
// bdev-name-exists); they are stored in journals, so they never change.
type Kind string

// Kinds about one lvol.
const (
	// ForcedRemoval: "Could not remove blob on lvol gracefully - forced
	// removal". The lvol left the target's memory, its blob stayed on disk.
	// The line names no lvol; the parser takes it from the "Lvol <uuid>
	// closed" line that the delete logged just before (see Record.Via).
	ForcedRemoval Kind = "forced-removal"
	// CannotRemoveOpenSnapshot: "Cannot remove snapshot because it is open",
	// the blob layer's reason for the busy answer; attributed as above.
	CannotRemoveOpenSnapshot Kind = "cannot-remove-open-snapshot"
	// CannotRemoveSnapshotClones: "Cannot remove snapshot with more than one
	// clone"; attributed as above.
	CannotRemoveSnapshotClones Kind = "cannot-remove-snapshot-clones"
	// CannotRemoveBusyBlob: "Cannot remove blob - another operation in
	// progress" (a debug line of the blob layer: a locked operation such as
	// a checksum or shallow copy); attributed as above.
	CannotRemoveBusyBlob Kind = "cannot-remove-busy-blob"
	// DeleteBusyKept: "Error -16 deleting lvol <name>", logged by a target
	// with Longhorn's fix (lvol_delete_blob_cb) instead of a forced removal:
	// the lvol is hidden but kept in its lvstore, undeletable until a
	// restart (fixtures/fixed-busy). Attributed as above; the line also
	// gives the bare name.
	DeleteBusyKept Kind = "delete-busy-kept"
	// ErrorOpeningLvol: "Error opening lvol <uuid>": loaded from disk, never
	// got a bdev (SPDK #2608, #2910).
	ErrorOpeningLvol Kind = "error-opening-lvol"
	// CannotCreateBdev: "Cannot create bdev for lvol <uuid>", e.g. after a
	// name collision (the preceding bdev-name-exists line gives the alias).
	CannotCreateBdev Kind = "cannot-create-bdev"
	// BdevNameExists: "Bdev name <x> already exists". About an lvol when x
	// is an alias (lvstore/name) or a uuid; otherwise about another bdev.
	BdevNameExists Kind = "bdev-name-exists"
	// LostParentName: "Cannot obtain parent snapshots name for lvol <name>":
	// a clone whose snapshot is no longer in memory (logged on every
	// bdev_get_bdevs). The log gives the bare name, no lvstore.
	LostParentName Kind = "lost-parent-name"
	// LvolDeleted: "Lvol <uuid> deleted": a real delete.
	LvolDeleted Kind = "lvol-deleted"
	// LvolLoaded: "added lvol <id> (<uuid>)": found on disk at load.
	LvolLoaded Kind = "lvol-loaded"
	// LvolDegraded: "lvol <uuid>: blob is degraded: deferring bdev creation"
	// (an external-snapshot clone whose base is missing).
	LvolDegraded Kind = "lvol-degraded"
)

// deleteStep reports whether k is one step of a failed delete, attributed
// to the lvol closed just before.
func (k Kind) deleteStep() bool {
	switch k {
	case ForcedRemoval, DeleteBusyKept, CannotRemoveOpenSnapshot, CannotRemoveSnapshotClones, CannotRemoveBusyBlob, DeleteBlobFailed:
		return true
	}
	return false
}

// Kinds about an lvstore or the target, naming no lvol.
const (
	// TargetStart: "Starting SPDK <version> ... initialization": a new
	// target process; Record.Run counts them within one file.
	TargetStart Kind = "target-start"
	// LvstoreLoad: "found superblob <id>": an lvstore is being loaded.
	LvstoreLoad Kind = "lvstore-load"
	// LvstoreHotRemove: "bdev <base> being removed: closing lvstore <name>".
	LvstoreHotRemove Kind = "lvstore-hotremove"
	// LvstoreUnload: "Unloading lvol store".
	LvstoreUnload Kind = "lvstore-unload"
	// LvstoreUnloaded: "Lvol store unloaded".
	LvstoreUnloaded Kind = "lvstore-unloaded"
	// UnloadOpenBlobs: "Blobstore still has open blobs": an unload while
	// something held a blob; seen to wedge the target (fixture reload-unsafe).
	UnloadOpenBlobs Kind = "unload-open-blobs"
	// RecoveryStart: "Performing recovery on blobstore": a dirty load.
	RecoveryStart Kind = "recovery-start"
	// UnloadLvolsPending: "Cannot unload lvol store - operations on lvols
	// pending": an unload (shutdown or reload) refused while a hidden lvol
	// of a fixed target is held; the target cannot stop until killed.
	UnloadLvolsPending Kind = "unload-lvols-pending"
	// UnregisterFailed: "Unable to unregister bdev '<x>' during
	// spdk_bdev_finish()": the target could not shut down cleanly.
	UnregisterFailed Kind = "unregister-failed"
)

// Context kinds: lines that only help attribute others. Emitted when
// Options.Context is set.
const (
	// LvolClosed: "Lvol <uuid> closed".
	LvolClosed Kind = "lvol-closed"
	// DeleteBlobFailed: "Failed to remove blob" (between the two delete
	// errors above); attributed like them.
	DeleteBlobFailed Kind = "delete-blob-failed"
	// RecoveryBlob: "Recover: blob 0x<page>": a blob found by recovery.
	RecoveryBlob Kind = "recovery-blob"
	// DeletingBlob: "Deleting blob 0x<id>" (debug builds with -L blob): gives
	// the blob id of the delete that follows.
	DeletingBlob Kind = "deleting-blob"
)

// Kinds lists every kind, evidence first, for documentation and tests.
var Kinds = []Kind{
	ForcedRemoval, DeleteBusyKept, CannotRemoveOpenSnapshot, CannotRemoveSnapshotClones, CannotRemoveBusyBlob, ErrorOpeningLvol,
	CannotCreateBdev, BdevNameExists, LostParentName, LvolDeleted, LvolLoaded, LvolDegraded,
	TargetStart, LvstoreLoad, LvstoreHotRemove, LvstoreUnload, LvstoreUnloaded, UnloadOpenBlobs, UnloadLvolsPending,
	RecoveryStart, UnregisterFailed,
	LvolClosed, DeleteBlobFailed, RecoveryBlob, DeletingBlob,
}

// Context reports whether k is a context kind (not emitted by default).
func (k Kind) Context() bool {
	return k == LvolClosed || k == DeleteBlobFailed || k == RecoveryBlob || k == DeletingBlob
}
