package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lvfsck/lvfsck/repair"
)

// DeleteDoc is the --json document of `lvfsck delete`.
type DeleteDoc struct {
	Command  string         `json:"command"`
	Target   string         `json:"target"`
	DryRun   bool           `json:"dry_run"`
	Finished []DeleteResult `json:"finished_intents"`
	Results  []DeleteResult `json:"results"`
	Notes    []string       `json:"notes"`
	Exit     int            `json:"exit"`
	Meaning  string         `json:"exit_meaning"`
}

// DeleteResult is what became of one lvol (or one interrupted delete).
type DeleteResult struct {
	Ref       string            `json:"ref"`
	LvolUUID  string            `json:"lvol_uuid,omitempty"`
	BlobID    uint64            `json:"blob_id,omitempty"`
	IntentID  string            `json:"intent_id,omitempty"`
	Outcome   repair.Outcome    `json:"outcome"`
	Semantics repair.Semantics  `json:"semantics"`
	Attempts  int               `json:"attempts"`
	Summary   string            `json:"summary"`
	Messages  []string          `json:"messages"`
	Evidence  map[string]string `json:"evidence,omitempty"`
	Error     string            `json:"error,omitempty"`
	Exit      int               `json:"exit"`
}

// NewDeleteResult is the document of r, which err ended (may be nil).
func NewDeleteResult(r repair.Result, err error) DeleteResult {
	d := DeleteResult{Ref: r.Ref, BlobID: r.BlobID, IntentID: r.IntentID, Outcome: r.Outcome, Semantics: r.Semantics,
		Attempts: r.Attempts, Messages: r.Messages, Evidence: r.Evidence, Exit: r.ExitCode, Summary: deleteSummary(r)}
	if r.Lvol != nil {
		d.LvolUUID = r.Lvol.UUID
	}
	if d.Messages == nil {
		d.Messages = []string{}
	}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

// deleteSummary is the one line the operator reads first.
func deleteSummary(r repair.Result) string {
	switch r.Outcome {
	case repair.OutcomeDeletedVerified:
		return "deleted and verified: gone from the live view and from disk"
	case repair.OutcomeDryRun:
		return "dry run: nothing changed"
	case repair.OutcomeRefused:
		return "refused, nothing changed"
	case repair.OutcomeRefusedBusy:
		return "refused: still busy when --wait ran out (the target kept it listed), nothing changed"
	case repair.OutcomeForcedRemoval:
		return "FORCED REMOVAL detected and scheduled: the target dropped it from memory only; it comes back at the next restart or lvstore reload; run `lvfsck repair` after the restart"
	case repair.OutcomeHiddenZombie:
		return "HIDDEN ZOMBIE on a fixed target, scheduled: undeletable until the target restarts (a clean shutdown will hang: plan a kill; never reload); it comes back then; run `lvfsck repair --yes` after the restart"
	case repair.OutcomePendingResurrection:
		return "HIDDEN, scheduled: gone from the live view, blob on disk, back at the next restart; forced removal or fixed-target zombie not told apart: do not reload; run `lvfsck repair --yes` after the restart"
	case repair.OutcomeStillPresent:
		return "the interrupted delete did not happen: still live"
	case repair.OutcomeNotFound:
		return "not found: in neither the live view nor on disk"
	case repair.OutcomeCancelled:
		return "cancelled, nothing changed"
	default:
		return "NOT verified: lvfsck could not establish what happened; the journal keeps the intent open and the next run verifies it"
	}
}

// WriteDelete writes doc as JSON, or as text: notes, interrupted deletes
// finished, then one paragraph per lvol.
func WriteDelete(w io.Writer, doc DeleteDoc, asJSON bool) error {
	if asJSON {
		return writeDoc(w, doc)
	}
	var b strings.Builder
	for _, n := range doc.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(doc.Finished) > 0 {
		fmt.Fprintf(&b, "Finished %d interrupted delete(s) from an earlier run:\n", len(doc.Finished))
		writeResults(&b, doc.Finished)
		b.WriteString("\n")
	}
	writeResults(&b, doc.Results)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeResults(b *strings.Builder, rs []DeleteResult) {
	for _, r := range rs {
		fmt.Fprintf(b, "%s: %s\n", r.Ref, r.Summary)
		for _, m := range r.Messages {
			fmt.Fprintf(b, "  %s\n", m)
		}
		// A not-found's error repeats its message; other errors say more.
		if r.Error != "" && !slices.Contains(r.Messages, r.Error) && r.Outcome != repair.OutcomeNotFound {
			fmt.Fprintf(b, "  error: %s\n", r.Error)
		}
	}
}
