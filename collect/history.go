package collect

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
)

// JournalReader is the part of the journal the history needs.
type JournalReader interface {
	Timeline(since time.Time) ([]journal.Event, error)
	AllDeletes() ([]journal.DeleteRecord, error)
	TargetSemantics(target string) (journal.SemanticsRecord, bool, error)
	Runs() ([]journal.Run, error)
	Sightings(incarnation string) (map[string]journal.Sighting, error)
	AllEvidence() ([]journal.Evidence, error)
	FindingsWith(codes ...finding.Code) ([]journal.FindingRecord, error)
}

var _ JournalReader = (*journal.Journal)(nil)

// History answers reconcile's questions from maps filled once from the
// journal: Check asks several times per lvol, and a badger lookup per
// question would make a 10,000-lvol check slow.
type History struct {
	seen      map[string]map[string]bool // incarnation → uuid → listed at some point
	gone      map[string]reconcile.Disappearance
	deletes   map[string][]reconcile.DeleteRecord
	logs      map[string][]reconcile.Evidence // uuid or name → evidence
	intents   []reconcile.Intent
	semantics string
	runs      []journal.Run
	findings  map[string][]reconcile.RecordedFinding // lvol uuid → recorded findings
	names     map[string]string                      // lvstore uuid → its name, from lvol aliases
	previous  []reconcile.EarlierLvstore
}

var _ reconcile.History = (*History)(nil)

// HistoryOptions say which target run the history is read for.
type HistoryOptions struct {
	// Incarnation is the target run checked; "" when unknown.
	Incarnation string
	// Socket is the target's socket path: the target's delete semantics
	// are looked up under the incarnation, then under it.
	Socket string
	// TargetStart is when the target process started (zero when unknown).
	// Imported log lines older than it are from an earlier run of the
	// target: reconcile must not take them as evidence about this one.
	TargetStart time.Time
}

// earlierRun labels log evidence from before the target's start; any
// incarnation id other than the current one means "another run".
const earlierRun = "(an earlier target run)"

// LoadHistory reads the whole journal once.
func LoadHistory(j JournalReader, o HistoryOptions) (*History, error) {
	h := &History{
		seen:    map[string]map[string]bool{},
		gone:    map[string]reconcile.Disappearance{},
		deletes: map[string][]reconcile.DeleteRecord{},
		logs:    map[string][]reconcile.Evidence{},
	}
	if err := h.addFindings(j, o.TargetStart); err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	evs, err := j.Timeline(time.Time{})
	if err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	h.addEvents(evs)
	for _, step := range []func() error{
		func() error { return h.addDeletes(j) },
		func() error { return h.addSightings(j, o.Incarnation) },
		func() error { return h.addEvidence(j, o.TargetStart) },
		func() error { return h.addSemantics(j, o.Incarnation, o.Socket) },
	} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("load history: %w", err)
		}
	}
	if h.runs, err = j.Runs(); err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	if err := h.addPrevious(j, o.Incarnation, o.Socket); err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	return h, nil
}

// addPrevious finds the lvstores the previous run of the target at socket
// (the latest other incarnation a run of it recorded) still listed at its
// last look.
func (h *History) addPrevious(j JournalReader, inc, socket string) error {
	if inc == "" || socket == "" {
		return nil
	}
	prev := ""
	for _, r := range h.runs { // oldest first
		if r.Target == socket && r.Incarnation != "" && r.Incarnation != inc {
			prev = r.Incarnation
		}
	}
	if prev == "" {
		return nil
	}
	sights, err := j.Sightings(prev)
	if err != nil {
		return err
	}
	by := map[string]*reconcile.EarlierLvstore{}
	for _, s := range sights {
		if s.Gone || s.LvstoreUUID == "" {
			continue
		}
		e := by[s.LvstoreUUID]
		if e == nil {
			e = &reconcile.EarlierLvstore{UUID: s.LvstoreUUID, Name: h.names[s.LvstoreUUID], Incarnation: prev}
			by[s.LvstoreUUID] = e
		}
		e.Lvols++
		if s.LastSeen.After(e.LastSeen) {
			e.LastSeen = s.LastSeen
		}
	}
	for _, u := range slices.Sorted(maps.Keys(by)) {
		h.previous = append(h.previous, *by[u])
	}
	return nil
}

// PreviousLvstores are the lvstores the previous run of this target
// listed (reconcile.Input.Earlier).
func (h *History) PreviousLvstores() []reconcile.EarlierLvstore { return h.previous }

// addDeletes indexes the delete records by lvol uuid, and keeps those
// without an outcome as open intents.
func (h *History) addDeletes(j JournalReader) error {
	recs, err := j.AllDeletes()
	if err != nil {
		return err
	}
	for _, r := range recs {
		in := r.Intent
		d := reconcile.DeleteRecord{IntentAt: in.At, Incarnation: in.Incarnation, Alias: in.Alias}
		if r.Outcome == nil {
			h.intents = append(h.intents, reconcile.Intent{
				ID: in.ID, LvolUUID: in.LvolUUID, Alias: in.Alias, LvstoreUUID: in.LvstoreUUID,
				BlobID: in.BlobID, At: in.At, Incarnation: in.Incarnation,
			})
		} else {
			// The journal's result strings are reconcile's (reconcile/history.go).
			d.Result = reconcile.DeleteResult(r.Outcome.Result)
		}
		if in.LvolUUID != "" {
			h.deletes[in.LvolUUID] = append(h.deletes[in.LvolUUID], d)
		}
	}
	return nil
}

// addSightings marks every lvol listed in incarnation inc. The seen
// records outlive pruned timeline events: a long-running target's early
// sightings still count.
func (h *History) addSightings(j JournalReader, inc string) error {
	if inc == "" {
		return nil
	}
	sights, err := j.Sightings(inc)
	if err != nil {
		return err
	}
	m := h.seen[inc]
	if m == nil {
		m = make(map[string]bool, len(sights))
		h.seen[inc] = m
	}
	for u := range sights {
		m[u] = true
	}
	return nil
}

// addEvidence indexes the imported log evidence by the lvol it names; a
// line from before targetStart is from an earlier run of the target.
func (h *History) addEvidence(j JournalReader, targetStart time.Time) error {
	evid, err := j.AllEvidence()
	if err != nil {
		return err
	}
	for _, e := range evid {
		ev := reconcile.Evidence{Kind: e.Kind, Text: e.Text, At: e.At}
		if !targetStart.IsZero() && !e.At.IsZero() && e.At.Before(targetStart) {
			ev.Incarnation = earlierRun
		}
		// A line that names a uuid is about that lvol only: indexed by
		// its name too, it would be taken as evidence about a later lvol
		// created under the same name (a nightly backup-1), and repair
		// would delete that one.
		who := e.LvolUUID
		if who == "" {
			who = e.LvolName
		}
		if who != "" {
			h.logs[who] = append(h.logs[who], ev)
		}
	}
	return nil
}

// addSemantics takes the delete semantics the target showed, recorded
// under its incarnation or else under its socket.
func (h *History) addSemantics(j JournalReader, inc, socket string) error {
	for _, t := range []string{inc, socket} {
		if t == "" {
			continue
		}
		rec, ok, err := j.TargetSemantics(t)
		if err != nil {
			return err
		}
		if ok && rec.Semantics != journal.SemanticsUnknown {
			h.semantics = string(rec.Semantics)
			return nil
		}
	}
	return nil
}

// addFindings indexes the recorded findings by lvol uuid: a finding is
// history too (a pending resurrection reported before a restart is what
// makes the lvol resurrected after it). A record of no known incarnation
// last reported before the target started is from an earlier run of it.
func (h *History) addFindings(j JournalReader, targetStart time.Time) error {
	// Only the codes reconcile weighs as history are read.
	recs, err := j.FindingsWith(reconcile.RecordedCodes...)
	if err != nil {
		return err
	}
	h.findings = make(map[string][]reconcile.RecordedFinding)
	for _, r := range recs {
		u := r.Finding.LvolUUID
		if u == "" {
			continue
		}
		inc := r.Incarnation
		if inc == "" && !targetStart.IsZero() && !r.LastSeen.IsZero() && r.LastSeen.Before(targetStart) {
			inc = earlierRun
		}
		h.findings[u] = append(h.findings[u], reconcile.RecordedFinding{
			Code: r.Finding.Code, Incarnation: inc, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
			Open: r.Open(), Summary: evidenceLine(r.Finding), Semantics: r.Finding.Evidence[reconcile.EvSemantics],
		})
	}
	return nil
}

// maxSummary bounds the one-line evidence of a recorded finding: it is
// quoted inside another finding's evidence.
const maxSummary = 512

func evidenceLine(f finding.Finding) string {
	var b strings.Builder
	for _, k := range f.EvidenceKeys() {
		if k == reconcile.EvDisk {
			continue // the disk is read again by this run
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + f.Evidence[k])
	}
	s := b.String()
	if len(s) > maxSummary {
		s = strings.ToValidUTF8(s[:maxSummary], "") + "…"
	}
	return s
}

// addEvents folds the timeline (oldest first) into the maps.
func (h *History) addEvents(evs []journal.Event) {
	type key struct{ inc, uuid string }
	// last is the latest presence event of an lvol within an incarnation:
	// a disappearance counts only if the lvol did not come back in it.
	last := map[key]journal.Event{}
	h.names = map[string]string{}
	for _, e := range evs {
		switch e.Kind {
		case journal.EventSeen, journal.EventGone, journal.EventChanged:
			if lvs, _, ok := strings.Cut(e.LvolName, "/"); ok && e.LvstoreUUID != "" {
				h.names[e.LvstoreUUID] = lvs
			}
			if e.Incarnation == "" || e.LvolUUID == "" {
				continue
			}
			m := h.seen[e.Incarnation]
			if m == nil {
				m = map[string]bool{}
				h.seen[e.Incarnation] = m
			}
			m[e.LvolUUID] = true
			last[key{e.Incarnation, e.LvolUUID}] = e
		}
	}
	for k, e := range last {
		if e.Kind != journal.EventGone {
			continue
		}
		d := reconcile.Disappearance{Incarnation: k.inc, LastSeen: e.LastSeen, FirstAbsent: e.At}
		// Of several incarnations, keep the latest disappearance: it is the
		// one a resurrection now follows.
		if old, ok := h.gone[k.uuid]; !ok || d.FirstAbsent.After(old.FirstAbsent) {
			h.gone[k.uuid] = d
		}
	}
}

// SeenInIncarnation implements reconcile.History.
func (h *History) SeenInIncarnation(inc, uuid string) bool { return h.seen[inc][uuid] }

// DeletesOf implements reconcile.History.
func (h *History) DeletesOf(uuid string) []reconcile.DeleteRecord { return h.deletes[uuid] }

// SeenEarlierAndGone implements reconcile.History. It is derived from the
// seen and gone events: the lvol's last presence event in some incarnation
// is a gone event. reconcile ignores one from the current incarnation.
func (h *History) SeenEarlierAndGone(uuid string) (reconcile.Disappearance, bool) {
	d, ok := h.gone[uuid]
	return d, ok
}

// LogEvidence implements reconcile.History.
func (h *History) LogEvidence(uuid, name string) []reconcile.Evidence {
	out := h.logs[uuid]
	if name != "" && name != uuid {
		if more := h.logs[name]; len(more) > 0 {
			out = append(append([]reconcile.Evidence(nil), out...), more...)
		}
	}
	return out
}

// RecordedFindings implements reconcile.History.
func (h *History) RecordedFindings(uuid string) []reconcile.RecordedFinding {
	return h.findings[uuid]
}

// OpenIntents implements reconcile.History.
func (h *History) OpenIntents() []reconcile.Intent { return h.intents }

// TargetSemantics implements reconcile.History.
func (h *History) TargetSemantics() string { return h.semantics }

// EarlierRuns counts the finished runs of incarnation inc other than
// runID: how many times lvfsck looked at this target run before.
func (h *History) EarlierRuns(inc, runID string) int {
	if inc == "" {
		return 0
	}
	n := 0
	for _, r := range h.runs {
		if r.Incarnation == inc && r.ID != runID && !r.Unfinished() {
			n++
		}
	}
	return n
}
