package reconcile

import (
	"fmt"
	"strings"

	"github.com/lvfsck/lvfsck/finding"
)

// A busy delete leaves the lvol out of the live view with its blob on disk
// on both kinds of target, and it is back after the restart either way. A
// target with Longhorn's fix (fixtures/fixed-busy) differs in what the
// operator must do: the lvol stays in its lvstore, closed and hidden (a
// "zombie"), undeletable until a restart, and it blocks a clean shutdown
// and a reload. The evidence that tells the two apart is gathered here.

// CodeHiddenZombie: a pending resurrection on a target with Longhorn's fix:
// the lvol is hidden but still held by its lvstore. Error.
const CodeHiddenZombie finding.Code = "hidden-zombie"

// EvSemantics is the evidence key that says which delete semantics left a
// pending resurrection: "forced: …", "fixed: …" or "not known: …".
const EvSemantics = "semantics"

// EvidenceDeleteBusyKept is the log evidence kind of "Error -16 deleting
// lvol NAME", which only a target with the fix logs (tgtlog.DeleteBusyKept).
const EvidenceDeleteBusyKept = "delete-busy-kept"

// ResultHiddenZombie: a delete lvfsck ran on a fixed target answered busy
// and the lvol was hidden (journal.ResultHiddenZombie).
const ResultHiddenZombie DeleteResult = "hidden-zombie"

// semVerdict is the evidence for each semantics about one dropped lvol;
// fixedFrom holds, per item of fixed, the view it came from (Ev*).
type semVerdict struct {
	fixed, forced []string
	fixedFrom     []string
}

func (v *semVerdict) addFixed(from, text string) {
	v.fixed = append(v.fixed, text)
	v.fixedFrom = append(v.fixedFrom, from)
}

// which is SemanticsFixed or SemanticsForced when the evidence points one
// way only, "" otherwise.
func (v semVerdict) which() string {
	switch {
	case len(v.fixed) > 0 && len(v.forced) == 0:
		return SemanticsFixed
	case len(v.forced) > 0 && len(v.fixed) == 0:
		return SemanticsForced
	}
	return ""
}

func (v semVerdict) text() string {
	switch v.which() {
	case SemanticsFixed:
		return "fixed: " + strings.Join(v.fixed, "; ")
	case SemanticsForced:
		return "forced: " + strings.Join(v.forced, "; ")
	}
	if len(v.fixed) == 0 {
		return "not known: no evidence tells a forced removal from a fixed target's hidden zombie"
	}
	return fmt.Sprintf("not known: the evidence disagrees (fixed: %s; forced: %s)", strings.Join(v.fixed, "; "), strings.Join(v.forced, "; "))
}

// dropSemantics gathers which semantics dropped the persisted lvol idx
// (absent from the live view).
func (c *checker) dropSemantics(idx int, alias string) semVerdict {
	var v semVerdict
	pl := &c.in.Persisted.Lvols[idx]
	for i := range c.in.Live.Lvols {
		l := &c.in.Live.Lvols[i]
		if !l.Clone || !l.ParentReported || l.LvstoreUUID != pl.LvstoreUUID || pl.Name == "" || l.BaseSnapshot != pl.Name {
			continue
		}
		if pi, ok := c.persIdx[l.UUID]; ok {
			if par := c.in.Persisted.Lvols[pi].ParentBlobID; par != 0 && par != pl.BlobID {
				continue // its parent on disk is another blob of that name
			}
		}
		v.addFixed(EvLive, fmt.Sprintf("its clone %s still names it as base snapshot (after a forced removal a clone names none)", orUnknown(l.Alias)))
	}
	if clones := c.lostBy[idx]; len(clones) > 0 {
		if _, any := c.lastEvent[pl.UUID]; !c.ringCovers || any {
			v.forced = append(v.forced, fmt.Sprintf("its clone %s reports no base snapshot", capList(clones, 8)))
		}
	}
	if c.hist == nil {
		return v
	}
	for _, d := range c.hist.DeletesOf(pl.UUID) {
		if d.Incarnation == c.cur && d.Result == ResultHiddenZombie {
			v.addFixed(EvJournal, fmt.Sprintf("lvfsck's delete at %s found it hidden (retry answered \"Invalid argument\")", stamp(d.IntentAt)))
		}
	}
	// What an earlier check of this target run saw (the clone that named
	// it may be gone since) stays true until the target restarts.
	for _, r := range c.hist.RecordedFindings(pl.UUID) {
		if r.Incarnation == "" || r.Incarnation != c.cur {
			continue
		}
		if f, ok := strings.CutPrefix(r.Semantics, "fixed: "); ok {
			v.addFixed(EvJournal, "an earlier check of this target run found it hidden: "+f)
		} else if f, ok := strings.CutPrefix(r.Semantics, "forced: "); ok {
			v.forced = append(v.forced, "an earlier check of this target run found it dropped: "+f)
		}
	}
	for _, e := range c.hist.LogEvidence(pl.UUID, alias) {
		if e.Incarnation != "" && c.cur != "" && e.Incarnation != c.cur {
			continue
		}
		switch e.Kind {
		case EvidenceDeleteBusyKept:
			v.addFixed(EvLog, "target log: "+e.Text)
		case EvidenceForcedRemoval:
			v.forced = append(v.forced, "target log: "+e.Text)
		}
	}
	switch c.hist.TargetSemantics() {
	case SemanticsFixed:
		v.addFixed(EvJournal, "this target showed fixed delete semantics to lvfsck before")
	case SemanticsForced:
		v.forced = append(v.forced, "this target showed forced delete semantics to lvfsck before")
	}
	return v
}

// zombie reports a hidden lvol of a fixed target.
func (c *checker) zombie(base finding.Finding, pl *PersistedLvol, alias string, ev map[string]string, v semVerdict) {
	f := base
	f.Code, f.Severity = CodeHiddenZombie, finding.Error
	f.Message = fmt.Sprintf("%s (uuid %s) is hidden on a target with Longhorn's fix (fixed delete semantics): a busy delete unregistered it but its lvstore still holds it, closed; its blob is on disk and it is back at the next restart (a pending resurrection)", alias, pl.UUID)
	ev[EvSemantics] = v.text()
	f.Evidence = ev
	f.Repair = fmt.Sprintf("Restart, then delete: %s cannot be deleted until the target restarts (a delete answers \"Invalid argument\"). %s", alias, ZombieAdvice)
	c.add(f)
}

// ZombieAdvice is what the operator must know about a restart with a
// hidden zombie (fixtures/fixed-busy).
const ZombieAdvice = "A clean shutdown of the target will hang (\"Cannot unload lvol store - operations on lvols pending\") and need a kill: plan the restart as a crash (dirty recovery time). Never reload its lvstore (`lvfsck repair --reload`, bdev_aio_delete): that takes the whole lvstore offline until a restart. After the restart run `lvfsck repair --yes`."

// Observed is which delete semantics lvfsck has seen a target show.
type Observed struct {
	// Semantics is SemanticsForced, SemanticsFixed, "conflicting" or
	// "not yet seen".
	Semantics string
	From      string // what showed it
}

// ObservedSemantics says which delete semantics the target of this check
// has shown, from this check's findings and the journal.
func ObservedSemantics(in Input, fs []finding.Finding) Observed {
	var fixed, forced []string
	// first is the first item of a finding's semantics evidence.
	first := func(s, prefix string) string {
		s = strings.TrimPrefix(s, prefix)
		if i := strings.Index(s, "; "); i >= 0 {
			return s[:i]
		}
		return s
	}
	for _, f := range fs {
		s := f.Evidence[EvSemantics]
		what := f.LvolName
		if f.Lvstore != "" {
			what = f.Lvstore + "/" + f.LvolName
		}
		switch {
		case f.Code == CodeHiddenZombie:
			fixed = append(fixed, fmt.Sprintf("%s hidden: %s", what, first(s, "fixed: ")))
		case f.Code == CodePendingResurrection && strings.HasPrefix(s, "forced: "):
			forced = append(forced, fmt.Sprintf("%s dropped: %s", what, first(s, "forced: ")))
		}
	}
	if in.History != nil && len(forced) == 0 && len(fixed) == 0 {
		// After a restart the drop or the hiding is history: an earlier
		// check recorded it (a pending resurrection, a hidden zombie) with
		// what showed the semantics.
		for _, f := range fs {
			if f.Code != CodeResurrected || f.LvolUUID == "" {
				continue
			}
			what := f.Lvstore + "/" + f.LvolName
			for _, r := range in.History.RecordedFindings(f.LvolUUID) {
				if r.Code == CodePendingResurrection && strings.HasPrefix(r.Semantics, "forced: ") {
					forced = append(forced, fmt.Sprintf("%s dropped before the restart: %s", what, first(r.Semantics, "forced: ")))
					break
				}
				if r.Code == CodeHiddenZombie && strings.HasPrefix(r.Semantics, "fixed: ") {
					fixed = append(fixed, fmt.Sprintf("%s hidden before the restart: %s", what, first(r.Semantics, "fixed: ")))
					break
				}
			}
		}
	}
	if in.History != nil {
		const earlier = "the journal: a busy delete lvfsck ran earlier"
		switch in.History.TargetSemantics() {
		case SemanticsFixed:
			if len(fixed) == 0 {
				fixed = append(fixed, earlier)
			}
		case SemanticsForced:
			if len(forced) == 0 {
				forced = append(forced, earlier)
			}
		}
	}
	switch {
	case len(fixed) > 0 && len(forced) > 0:
		return Observed{Semantics: "conflicting", From: capList(append(fixed, forced...), 4)}
	case len(fixed) > 0:
		return Observed{Semantics: SemanticsFixed, From: capList(fixed, 4)}
	case len(forced) > 0:
		return Observed{Semantics: SemanticsForced, From: capList(forced, 4)}
	}
	return Observed{Semantics: "not yet seen", From: "no busy delete observed"}
}
