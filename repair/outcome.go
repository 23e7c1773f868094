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
	// OutcomePendingResurrection: the lvol was already absent from the live
	// view with its blob on disk when lvfsck was asked to delete it.
	OutcomePendingResurrection Outcome = "pending-resurrection"
	// OutcomeRefused: a preflight guard refused; nothing changed.
	OutcomeRefused Outcome = "refused"
	// OutcomeRefusedBusy: fixed semantics, still busy when --wait ran out;
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
	SemanticsFixed   Semantics = "fixed"   // busy, lvol kept: the target has the fix
	SemanticsForced  Semantics = "forced"  // busy, lvol dropped from memory, blob on disk
)

// ExitCode maps an outcome onto e2fsck's codes (report.Exit* values):
//
//	deleted-verified, dry-run (would proceed)      0
//	forced-removal, pending-resurrection, refused,
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
