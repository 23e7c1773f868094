package reconcile

// MemHistory is a History held in maps, for tests and benchmarks. The
// zero value is an empty history.
type MemHistory struct {
	Seen      map[string]map[string]bool // incarnation → uuid → listed
	Deletes   map[string][]DeleteRecord  // uuid → records
	Gone      map[string]Disappearance   // uuid → disappearance
	Logs      map[string][]Evidence      // uuid or name → evidence
	Intents   []Intent
	Semantics string
	Findings  map[string][]RecordedFinding // uuid → recorded findings
}

var _ History = (*MemHistory)(nil)

func (h *MemHistory) SeenInIncarnation(inc, uuid string) bool { return h.Seen[inc][uuid] }
func (h *MemHistory) DeletesOf(uuid string) []DeleteRecord    { return h.Deletes[uuid] }
func (h *MemHistory) SeenEarlierAndGone(uuid string) (Disappearance, bool) {
	d, ok := h.Gone[uuid]
	return d, ok
}
func (h *MemHistory) OpenIntents() []Intent { return h.Intents }
func (h *MemHistory) RecordedFindings(uuid string) []RecordedFinding {
	return h.Findings[uuid]
}
func (h *MemHistory) TargetSemantics() string { return h.Semantics }

func (h *MemHistory) LogEvidence(uuid, name string) []Evidence {
	out := h.Logs[uuid]
	if name != "" && name != uuid {
		if more := h.Logs[name]; len(more) > 0 {
			out = append(append([]Evidence(nil), out...), more...)
		}
	}
	return out
}
