package repair

// Exit codes as e2fsck's; the same values as report.Exit* values (not imported so
// that this pure package does not build against the renderers).
const (
	exitOK          = 0
	exitCorrected   = 1
	exitUncorrected = 4
	exitOperational = 8
	exitCancelled   = 32
)

// Outcome is what a delete (or its roll-forward) really achieved.
type Outcome string

const (
	// OutcomeDeletedVerified: gone from the live view and its md pages gone
	// from the device.
	OutcomeDeletedVerified Outcome = "deleted-verified"
	// OutcomeForcedRemoval: the target dropped the lvol from memory only;
	// its blob is on disk and it comes back at the next restart or reload.
	OutcomeForcedRemoval Outcome = "forced-removal"
	// OutcomeHiddenZombie: a target with Longhorn's fix answered busy, hid
	// the lvol (bdev gone, not listed) and kept it in its lvstore, closed:
	// undeletable until a restart, which brings it back; a clean shutdown
	// hangs and a reload wedges the lvstore meanwhile.
	OutcomeHiddenZombie Outcome = "hidden-zombie"
	// OutcomePendingResurrection: the lvol was already absent from the live
	// view with its blob on disk when lvfsck was asked to delete it, or the
	// evidence could not tell a forced removal from a hidden zombie.
	OutcomePendingResurrection Outcome = "pending-resurrection"
	// OutcomeRefused: a preflight guard refused; nothing changed.
	OutcomeRefused Outcome = "refused"
	// OutcomeRefusedBusy: busy with the lvol still listed (keep-listed
	// semantics; no captured target does this) when --wait ran out;
	// nothing changed.
	OutcomeRefusedBusy Outcome = "refused-busy"
	// OutcomeStillPresent: roll-forward found the lvol still live: the
	// interrupted delete did not happen.
	OutcomeStillPresent Outcome = "still-present-not-deleted"
	// OutcomeNotFound: in neither the live view nor on disk.
	OutcomeNotFound Outcome = "not-found"
	// OutcomeUnverified: lvfsck could not establish what happened (disk
	// unreadable, target answered something unexpected). Never a success.
	OutcomeUnverified Outcome = "unverified"
	// OutcomeCancelled: the operator cancelled while waiting; nothing changed.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeDryRun: nothing was attempted.
	OutcomeDryRun Outcome = "dry-run"
)

// Semantics is what the target showed on a busy delete.
type Semantics string

const (
	SemanticsUnknown Semantics = "unknown" // no busy answer seen
	// SemanticsFixed: Longhorn's fix, as the real target shows it: busy, the
	// lvol hidden but kept in the lvstore (a zombie); retries answer
	// "Invalid argument"; a clone still names it as its base snapshot.
	SemanticsFixed Semantics = "fixed"
	// SemanticsForced: busy, lvol dropped from memory, blob on disk;
	// retries answer "No such device"; a clone loses its base snapshot.
	SemanticsForced Semantics = "forced"
	// SemanticsKeepListed: busy with the lvol still listed and intact. No
	// captured target does this (sim --delete-semantics keep-listed does).
	SemanticsKeepListed Semantics = "keep-listed"
)

// ExitCode maps an outcome onto e2fsck's codes (report.Exit* values):
//
//	deleted-verified, dry-run (would proceed)      0
//	forced-removal, hidden-zombie,
//	pending-resurrection, refused,
//	refused-busy, still-present                    4  errors left uncorrected
//	not-found, unverified                          8  operational: could not
//	                                                  find or verify the object
//	cancelled                                     32
//
// refused-busy gets 4 rather than a code of its own: e2fsck's codes are bits
// that scripts OR together, and "busy, nothing changed" is an uncorrected
// state; JSON output carries the outcome to tell it from a forced removal.
func (o Outcome) ExitCode() int {
	switch o {
	case OutcomeDeletedVerified, OutcomeDryRun:
		return exitOK
	case OutcomeNotFound, OutcomeUnverified:
		return exitOperational
	case OutcomeCancelled:
		return exitCancelled
	default:
		return exitUncorrected
	}
}
