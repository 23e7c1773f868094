package repair

import (
	"context"
	"fmt"
	"strings"
)

// Finish rolls an interrupted delete forward: an intent with no outcome (an
// earlier run stopped between recording it and recording what happened) is
// verified against the live view and the disk, and what really happened is
// recorded. It never calls bdev_lvol_delete: an lvol still listed is
// reported still-present-not-deleted, for the operator or repair to delete.
// When the disk cannot be read the intent stays open.
func (d *Deleter) Finish(ctx context.Context, in Intent) (Result, error) {
	ref := in.Ref
	if ref == "" {
		ref = in.LvolUUID
	}
	res := Result{Ref: ref, IntentID: in.ID, BlobID: in.BlobID, Semantics: SemanticsUnknown}
	if in.LvolUUID == "" {
		// Nothing to verify against: the intent was recorded before
		// resolution finished, so nothing was sent to the target.
		res.set(OutcomeStillPresent)
		res.say("interrupted delete %s had not resolved an lvol; nothing was sent to the target", ref)
		return res, d.record(ctx, &res, nil)
	}
	lv := &Lvol{UUID: in.LvolUUID, Name: in.LvolName, LvstoreUUID: in.LvstoreUUID, LvstoreName: in.LvstoreName,
		Alias: aliasOf(in.LvstoreName, in.LvolName, in.LvolUUID)}
	res.Ref = lv.Alias
	listed, onDisk, err := d.look(ctx, lv, in.BlobID)
	switch {
	case err != nil:
		res.set(OutcomeUnverified)
		res.say("interrupted delete of %s: cannot verify (%v); the intent stays open", lv.Alias, err)
		return res, fmt.Errorf("finish %s: %w: %w", lv.Alias, ErrUnverified, err)
	case listed:
		res.set(OutcomeStillPresent)
		res.evidence("live", "listed")
		res.say("interrupted delete of %s did not happen: it is still live; delete it again if it should go", lv.Alias)
	case onDisk:
		res.evidence("live", "not listed")
		res.evidence("disk", "blob %#x still present", in.BlobID)
		// Read-only: a clone still naming it shows a fixed target's zombie.
		var v hiddenVerdict
		if cerr := d.cloneEvidence(ctx, lv, nil, &v); cerr == nil && len(v.fixed) > 0 {
			v.decide()
			res.say("interrupted delete of %s:", lv.Alias)
			v.sayHidden(&res, lv.Alias, in.BlobID)
			break
		}
		res.set(OutcomeForcedRemoval)
		res.say("interrupted delete of %s: the target dropped it from memory but its blob %#x is still on disk; it comes back at the next restart or lvstore reload; scheduled for repair", lv.Alias, in.BlobID)
	default:
		res.set(OutcomeDeletedVerified)
		res.evidence("live", "not listed")
		res.evidence("disk", "blob md pages gone")
		res.say("interrupted delete of %s completed: gone from the live view and from disk", lv.Alias)
	}
	return res, d.record(ctx, &res, nil)
}

// FinishOpen rolls forward every open intent of the journal, oldest first
// as the journal lists them. It stops at the first operational error.
func (d *Deleter) FinishOpen(ctx context.Context) ([]Result, error) {
	cctx, cancel := d.call(ctx)
	open, err := d.Journal.OpenIntents(cctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list open intents: %w", err)
	}
	out := make([]Result, 0, len(open))
	for _, in := range open {
		r, err := d.Finish(ctx, in)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func aliasOf(lvs, name, uuid string) string {
	switch {
	case name == "":
		return uuid
	case lvs == "":
		return name
	default:
		return strings.Join([]string{lvs, name}, "/")
	}
}
