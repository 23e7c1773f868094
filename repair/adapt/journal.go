package adapt

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/repair"
)

// Store is the part of *journal.Journal the adapter writes and reads.
type Store interface {
	RecordIntent(in journal.DeleteIntent) (string, error)
	RecordOutcome(intentID string, out journal.DeleteOutcome) error
	OpenIntents() ([]journal.DeleteIntent, error)
	RecordTargetSemantics(target string, s journal.Semantics, at time.Time) error
	RecordEvent(e journal.Event) (journal.Event, error)
}

var _ Store = (*journal.Journal)(nil)

// maxDetail bounds the words kept with an outcome: the history shows them
// on one line.
const maxDetail = 400

// Journal is repair.Journal over the badger journal. Besides intents and
// outcomes it records what the target's semantics turned out to be (under
// the incarnation, by the journal, and under the socket path, which check
// falls back on) and a "repaired" event when a delete finishes an lvol that
// an earlier forced removal had left on disk, so `lvfsck history` tells the
// whole story.
type Journal struct {
	J           Store
	Incarnation string // the target run; "" when unknown
	Socket      string // the target's socket path
	RunID       string
	By          string // "lvfsck delete", "lvfsck repair"
	// Repair marks deletes that finish a forced removal (repair's steps).
	Repair bool

	mu    sync.Mutex
	known map[string]pending // intent id → its lvol, for the events
}

var _ repair.Journal = (*Journal)(nil)

// pending is what the adapter remembers of an intent it recorded or
// listed, so that an outcome's events can name the lvol and blob.
type pending struct {
	uuid, alias, lvs string
	blob             uint64
}

// RecordIntent stores the intent, synced, before anything is sent.
func (a *Journal) RecordIntent(_ context.Context, in repair.Intent) (string, error) {
	alias := aliasOf(in.LvstoreName, in.LvolName)
	reason := "delete " + in.Ref
	if in.Snapshot {
		reason += " (snapshot)"
	}
	id, err := a.J.RecordIntent(journal.DeleteIntent{
		LvolUUID: strings.ToLower(in.LvolUUID), Alias: alias, LvstoreUUID: in.LvstoreUUID, BlobID: in.BlobID,
		Incarnation: a.Incarnation, At: in.At, Reason: reason, By: a.By, RunID: a.RunID,
	})
	if err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	a.remember(id, pending{uuid: strings.ToLower(in.LvolUUID), alias: alias, lvs: in.LvstoreUUID, blob: in.BlobID})
	return id, nil
}

func (a *Journal) remember(id string, p pending) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.known == nil {
		a.known = map[string]pending{}
	}
	a.known[id] = p
}

func (a *Journal) recall(id string) pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.known[id]
}

// resultOf maps repair's outcomes onto the journal's results. A delete asked
// for an lvol already dropped from memory (pending resurrection) is
// recorded as a forced removal: gone from the view, blob on disk.
func resultOf(o repair.Outcome) journal.DeleteResult {
	switch o {
	case repair.OutcomeDeletedVerified:
		return journal.ResultDeletedVerified
	case repair.OutcomeForcedRemoval, repair.OutcomePendingResurrection:
		return journal.ResultForcedRemoval
	case repair.OutcomeHiddenZombie:
		return journal.ResultHiddenZombie
	case repair.OutcomeRefused:
		return journal.ResultRefusedGuard
	case repair.OutcomeRefusedBusy:
		return journal.ResultRefusedBusy
	case repair.OutcomeNotFound:
		return journal.ResultNotFound
	default: // still-present, cancelled, unverified
		return journal.ResultError
	}
}

func semanticsOf(s repair.Semantics) journal.Semantics {
	switch s {
	case repair.SemanticsFixed:
		return journal.SemanticsFixed
	case repair.SemanticsForced:
		return journal.SemanticsForced
	case repair.SemanticsKeepListed:
		return journal.SemanticsKeepListed
	default:
		return journal.SemanticsUnknown
	}
}

// RecordOutcome stores how the intent ended, the target's semantics when
// it showed them, and a repaired event for a delete that finished a forced
// removal.
func (a *Journal) RecordOutcome(_ context.Context, intentID string, r repair.Record) error {
	res := resultOf(r.Outcome)
	detail := detailOf(r)
	sem := semanticsOf(r.Semantics)
	if err := a.J.RecordOutcome(intentID, journal.DeleteOutcome{At: r.At, Result: res, Semantics: sem, Detail: detail, Attempts: r.Attempts}); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if sem != journal.SemanticsUnknown && a.Socket != "" {
		if err := a.J.RecordTargetSemantics(a.Socket, sem, r.At); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	if a.Repair && res == journal.ResultDeletedVerified {
		p := a.recall(intentID)
		if _, err := a.J.RecordEvent(journal.Event{At: r.At, Kind: journal.EventRepaired, Incarnation: a.Incarnation,
			IntentID: intentID, RunID: a.RunID, LvolUUID: p.uuid, LvolName: p.alias, LvstoreUUID: p.lvs, BlobID: p.blob,
			Detail: "deleted for good by lvfsck repair, verified on disk"}); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return nil
}

// detailOf is the evidence in one bounded line ("disk: blob 0x… still
// present; live: not listed; rpc: …"): what history shows after the
// result, which it already names.
func detailOf(r repair.Record) string {
	keys := make([]string, 0, len(r.Evidence))
	for k := range r.Evidence {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+r.Evidence[k])
	}
	d := strings.Join(parts, "; ")
	if d == "" && len(r.Messages) > 0 {
		d = r.Messages[0]
	}
	if len(d) > maxDetail {
		d = strings.ToValidUTF8(d[:maxDetail], "") + "…"
	}
	return d
}

// OpenIntents lists intents without an outcome, oldest first.
func (a *Journal) OpenIntents(context.Context) ([]repair.Intent, error) {
	ins, err := a.J.OpenIntents()
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].At.Before(ins[j].At) })
	out := make([]repair.Intent, 0, len(ins))
	for _, in := range ins {
		lvs, name, _ := strings.Cut(in.Alias, "/")
		if name == "" {
			lvs, name = "", in.Alias
		}
		ref := in.Alias
		if ref == "" {
			ref = in.LvolUUID
		}
		a.remember(in.ID, pending{uuid: in.LvolUUID, alias: in.Alias, lvs: in.LvstoreUUID, blob: in.BlobID})
		out = append(out, repair.Intent{ID: in.ID, Op: "delete", Ref: ref, LvstoreUUID: in.LvstoreUUID, LvstoreName: lvs,
			LvolUUID: in.LvolUUID, LvolName: name, BlobID: in.BlobID, At: in.At})
	}
	return out, nil
}

func aliasOf(lvs, name string) string {
	switch {
	case name == "":
		return ""
	case lvs == "":
		return name
	default:
		return lvs + "/" + name
	}
}
