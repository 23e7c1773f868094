package repair

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A busy delete leaves the lvol out of the live view with its blob on disk
// on both kinds of target (fixtures/resurrection, fixtures/fixed-busy): a
// forced removal dropped it from the lvstore; a target with Longhorn's fix
// kept it there, closed and hidden (a "zombie"). Both bring it back at the
// restart; what the operator must and must not do differs, so lvfsck tells
// them apart from evidence before it says anything.

// hiddenVerdict is what the evidence says about such an lvol.
type hiddenVerdict struct {
	sem           Semantics // SemanticsForced, SemanticsFixed or SemanticsUnknown
	forced, fixed []string  // the evidence for each
	deleted       bool      // the probe's retry answered success
}

// classifyHidden looks for that evidence: a retry of the delete by uuid
// (harmless on both: a forced target answers -19, a fixed one "Invalid
// argument") and the lvol's clones in the live view (after a forced removal
// a clone has no base snapshot; on a fixed target it still names the lvol).
// clones are the clone names known from before the delete (nil if none).
func (d *Deleter) classifyHidden(ctx context.Context, lv *Lvol, clones []string, res *Result) (hiddenVerdict, error) {
	var v hiddenVerdict
	err := d.deleteOnce(ctx, lv, res)
	switch {
	case err == nil:
		res.evidence("probe", "a retry by uuid answered success")
		v.deleted = true
		return v, nil
	case errors.Is(err, ErrNotFound):
		res.evidence("probe", "a retry by uuid answered No such device")
		v.forced = append(v.forced, "a retry by uuid answered No such device (the target no longer holds it)")
	case errors.Is(err, ErrInvalid):
		res.evidence("probe", "a retry by uuid answered Invalid argument")
		v.fixed = append(v.fixed, `a retry by uuid answered "Invalid argument" (the target still holds it, closed)`)
	default:
		res.evidence("probe", "a retry by uuid answered: %v", err)
	}
	if err := d.cloneEvidence(ctx, lv, clones, &v); err != nil {
		return v, err
	}
	v.decide()
	return v, nil
}

// cloneEvidence adds what the lvol's clones in the live view say.
func (d *Deleter) cloneEvidence(ctx context.Context, lv *Lvol, clones []string, v *hiddenVerdict) error {
	cctx, cancel := d.call(ctx)
	lvols, err := d.Target.Lvols(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("list lvols: %w", err)
	}
	for _, l := range lvols {
		if !l.Clone || !strings.EqualFold(l.LvstoreUUID, lv.LvstoreUUID) {
			continue
		}
		switch {
		case lv.Name != "" && l.BaseSnapshot == lv.Name:
			v.fixed = append(v.fixed, fmt.Sprintf("its clone %s still names it as base snapshot", l.Alias))
		case l.BaseSnapshot == "" && slices.Contains(clones, l.Name):
			v.forced = append(v.forced, fmt.Sprintf("its clone %s reports no base snapshot", l.Alias))
		}
	}
	return nil
}

// decide sets sem from the evidence: one way only, or unknown.
func (v *hiddenVerdict) decide() {
	switch {
	case len(v.fixed) > 0 && len(v.forced) == 0:
		v.sem = SemanticsFixed
	case len(v.forced) > 0 && len(v.fixed) == 0:
		v.sem = SemanticsForced
	default:
		v.sem = SemanticsUnknown
	}
}

// sayHidden sets the outcome and the operator's lines for a hidden lvol.
func (v hiddenVerdict) sayHidden(res *Result, alias string, blobID uint64) {
	res.Semantics = v.sem
	if len(v.fixed) > 0 {
		res.evidence("fixed", "%s", strings.Join(v.fixed, "; "))
	}
	if len(v.forced) > 0 {
		res.evidence("forced", "%s", strings.Join(v.forced, "; "))
	}
	switch v.sem {
	case SemanticsFixed:
		res.set(OutcomeHiddenZombie)
		res.say("HIDDEN ZOMBIE (fixed target): the target answered busy, unregistered %s and kept it in its lvstore, closed; its blob %#x is still on disk (%s).", alias, blobID, strings.Join(v.fixed, "; "))
		res.say("This target has Longhorn's fix: %s comes back at the restart.", alias)
		res.say(ZombieAdvice)
	case SemanticsForced:
		res.set(OutcomeForcedRemoval)
		res.say("FORCED REMOVAL: the target answered busy and dropped %s from its memory only; its blob %#x is still on disk (%s).", alias, blobID, strings.Join(v.forced, "; "))
		res.say("It comes back at the next target restart or lvstore reload. This target lacks the fix (forced delete semantics).")
		res.say("Scheduled for repair: after a restart run `lvfsck repair --yes`, or `lvfsck repair --yes --reload` in a maintenance window.")
	default:
		res.set(OutcomePendingResurrection)
		why := "no evidence tells which"
		if len(v.fixed) > 0 && len(v.forced) > 0 {
			why = "the evidence disagrees"
		}
		res.say("HIDDEN: the target answered busy and %s is gone from the live view while its blob %#x stays on disk; it comes back at the next restart. Forced removal or a fixed target's hidden zombie: %s.", alias, blobID, why)
		res.say("Until that is known treat it as a zombie: do not reload its lvstore, and expect a clean shutdown of the target to hang (plan the restart as a crash); after the restart run `lvfsck repair --yes`.")
	}
}

// ZombieAdvice is what the operator must do about a fixed target's hidden
// zombie (fixtures/fixed-busy).
const ZombieAdvice = "Restart, then delete: it cannot be deleted before the target restarts. A clean shutdown (SIGINT) of the target will hang (\"operations on lvols pending\") and need a kill: plan the restart as a crash (dirty recovery time). Never reload its lvstore (`repair --reload`, bdev_aio_delete): that takes the whole lvstore offline until a restart. After the restart run `lvfsck repair --yes`."
