package reconcile

import (
	"time"

	"github.com/lvfsck/lvfsck/finding"
)

// History is what the journal remembers. The journal implements it; Check
// calls it once or a few times per lvol, so implementations should answer
// from memory (load once, then look up in maps).
type History interface {
	// SeenInIncarnation reports whether an earlier run listed the lvol in the
	// live view of that target incarnation.
	SeenInIncarnation(incarnation, uuid string) bool
	// DeletesOf returns the delete intents recorded for the lvol, oldest
	// first, including open ones (Result == ResultNone).
	DeletesOf(uuid string) []DeleteRecord
	// SeenEarlierAndGone reports an lvol that was listed and then no longer
	// listed within one earlier incarnation.
	SeenEarlierAndGone(uuid string) (Disappearance, bool)
	// LogEvidence returns what imported spdk_tgt logs say about the lvol
	// (matched by uuid or by "lvstore/name" alias or name).
	LogEvidence(uuid, name string) []Evidence
	// OpenIntents returns delete intents with no recorded outcome.
	OpenIntents() []Intent
	// TargetSemantics is the delete semantics the target last showed:
	// SemanticsForced, SemanticsFixed, or "" / "unknown".
	TargetSemantics() string
	// RecordedFindings returns the findings earlier runs recorded about
	// the lvol (by uuid), with the incarnation that last reported each:
	// a pending resurrection recorded in an earlier incarnation is
	// positive evidence of a drop even when no run saw the lvol live.
	RecordedFindings(uuid string) []RecordedFinding
}

// RecordedCodes are the codes of the recorded findings Check weighs as
// history: a History must give every recorded finding of these codes (and
// needs no other).
var RecordedCodes = []finding.Code{CodePendingResurrection, CodeHiddenZombie, CodeResurrected, CodeNotOpenedAtLoad}

// RecordedFinding is a finding an earlier run recorded (journal's
// FindingRecord, reduced to what the checks weigh).
type RecordedFinding struct {
	Code        finding.Code
	Incarnation string // the incarnation that last reported it; "" unknown
	FirstSeen   time.Time
	LastSeen    time.Time
	Open        bool   // not resolved by a later run
	Summary     string // its evidence, in one line
	// Semantics is its delete-semantics evidence (EvSemantics) as
	// recorded, "" if it had none: what a pending resurrection showed of
	// the target before a restart.
	Semantics string
}

// Delete semantics a target shows on a busy delete.
const (
	SemanticsForced = "forced" // drops the lvol from its view, blob stays
	SemanticsFixed  = "fixed"  // Longhorn's fix: busy, the lvol hidden but kept (zombie.go)
)

// DeleteResult is the recorded outcome of a delete intent. The values are
// the journal's (journal.DeleteResult), so an adapter converts by type.
type DeleteResult string

const (
	ResultNone            DeleteResult = ""                 // no outcome recorded (open intent)
	ResultDeletedVerified DeleteResult = "deleted-verified" // gone from the view and from disk
	ResultRefusedBusy     DeleteResult = "refused-busy"     // busy, lvol still listed: nothing changed
	ResultRefusedGuard    DeleteResult = "refused-guard"    // a preflight guard refused
	ResultForcedRemoval   DeleteResult = "forced-removal"   // busy, gone from the view, blob on disk
	ResultNotFound        DeleteResult = "not-found"        // the target answered "No such device"
	ResultError           DeleteResult = "error"            // another error
)

// gone reports whether the result means the delete took the lvol out of the
// live view (not-found did not: it was not there to take).
func (r DeleteResult) gone() bool {
	return r == ResultDeletedVerified || r == ResultForcedRemoval || r == ResultHiddenZombie
}

// DeleteRecord is one delete intent and its outcome.
type DeleteRecord struct {
	IntentAt    time.Time
	Result      DeleteResult
	Incarnation string
	Alias       string // "lvstore/name" at the time
}

// Disappearance is an lvol listed, then not listed, within one incarnation.
type Disappearance struct {
	Incarnation string
	LastSeen    time.Time
	FirstAbsent time.Time
}

// Kinds of log evidence (the journal's strings).
const (
	// EvidenceForcedRemoval: "Could not remove blob on lvol gracefully -
	// forced removal", attributed to the lvol by the surrounding lines.
	EvidenceForcedRemoval = "forced-removal"
	// EvidenceErrorOpeningLvol ("Error opening lvol <uuid>") and
	// EvidenceCannotCreateBdev ("Cannot create bdev for lvol <uuid>"): the
	// lvol got no bdev at load.
	EvidenceErrorOpeningLvol = "error-opening-lvol"
	EvidenceCannotCreateBdev = "cannot-create-bdev"
)

// Evidence is one item from an imported log.
type Evidence struct {
	Kind        string
	Text        string // the log line, or a summary of it
	At          time.Time
	Incarnation string // empty when the log does not say
}

// Intent is an open delete intent (journal.DeleteIntent without outcome).
type Intent struct {
	ID          string
	LvolUUID    string
	Alias       string // "lvstore/name"
	LvstoreUUID string
	BlobID      uint64
	At          time.Time
	Incarnation string
}
