package repair

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/blobstore"
)

// Request is one guarded delete.
type Request struct {
	Ref Ref
	// Wait bounds the retries on a target with the fixed semantics; 0 means
	// one attempt only.
	Wait   time.Duration
	DryRun bool
	// AllowExported lets the delete go ahead on an lvol exported as an
	// NVMe-oF namespace (the connected host loses the disk).
	AllowExported bool
}

// Result is what a delete achieved; Messages are the lines for the operator.
type Result struct {
	Ref       string
	Lvol      *Lvol  // as resolved in the live view; nil when not live
	BlobID    uint64 // 0 when unknown
	IntentID  string
	Outcome   Outcome
	Semantics Semantics
	Attempts  int // bdev_lvol_delete calls
	Messages  []string
	Evidence  map[string]string
	ExitCode  int

	noStopMethod bool // the target lacks bdev_lvol_stop_snapshot_checksum
}

// busyNote explains a busy answer the stop could have prevented.
func (r *Result) busyNote() {
	if r.noStopMethod {
		r.say("the target has no %s: a running checksum could not be stopped first", MethodStopSnapshotChecksum)
	}
}

func (r *Result) say(format string, a ...any) {
	r.Messages = append(r.Messages, fmt.Sprintf(format, a...))
}

func (r *Result) evidence(k, format string, a ...any) {
	if r.Evidence == nil {
		r.Evidence = map[string]string{}
	}
	r.Evidence[k] = fmt.Sprintf(format, a...)
}

func (r *Result) set(o Outcome) {
	r.Outcome = o
	r.ExitCode = o.ExitCode()
}

// Deleter runs guarded deletes. Zero-valued knobs get defaults.
type Deleter struct {
	Target  Target
	Disk    Disk
	Journal Journal
	Clock   Clock   // nil: RealClock
	Backoff Backoff // zero: DefaultBackoff
	// RPCTimeout bounds each call to the target or the disk; 0: 30s.
	RPCTimeout time.Duration
	// VerifyTries: disk reads after a success answer before lvfsck says the
	// blob is still there (a read racing the target's md write); 0: 3.
	VerifyTries int
	VerifyDelay time.Duration // between those reads; 0: 100ms
	// MaxAttempts caps bdev_lvol_delete calls whatever Wait says; 0: 1000.
	MaxAttempts int
}

func (d *Deleter) clock() Clock {
	if d.Clock == nil {
		return RealClock{}
	}
	return d.Clock
}

func (d *Deleter) call(ctx context.Context) (context.Context, context.CancelFunc) {
	t := d.RPCTimeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return context.WithTimeout(ctx, t)
}

// deleteOnce sends one bdev_lvol_delete of lv by uuid, counted in res.
func (d *Deleter) deleteOnce(ctx context.Context, lv *Lvol, res *Result) error {
	res.Attempts++
	cctx, cancel := d.call(ctx)
	defer cancel()
	return d.Target.DeleteLvol(cctx, lv.UUID)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Delete runs DESIGN "Guarded deletion" steps 1–6 for one lvol. The error is
// non-nil when a guard refused (*RefusedError), when the lvol exists nowhere
// (*NotFoundError) or when lvfsck could not do or verify its job; a forced
// removal is a Result (exit 4), not an error. Result.ExitCode is always set.
func (d *Deleter) Delete(ctx context.Context, req Request) (Result, error) {
	res := Result{Ref: req.Ref.String(), Semantics: SemanticsUnknown}

	// Step 1: resolve, in the live view and then on disk.
	lv, err := d.resolve(ctx, req.Ref)
	if err != nil {
		res.set(OutcomeUnverified)
		return res, err
	}
	if lv == nil {
		return d.notLive(ctx, req, res)
	}
	res.Lvol = lv
	res.Ref = lv.Alias
	blobs, err := d.findBlob(ctx, BlobQuery{LvstoreUUID: lv.LvstoreUUID, LvstoreName: lv.LvstoreName, LvolUUID: lv.UUID})
	if err != nil {
		// Without the disk a deletion could not be verified: do not start one.
		res.set(OutcomeUnverified)
		res.say("cannot read the disk, so a deletion of %s could not be verified; nothing was changed", lv.Alias)
		return res, fmt.Errorf("delete %s: %w: %w", lv.Alias, ErrUnverified, err)
	}
	switch len(blobs) {
	case 0:
		res.evidence("disk", "no blob carries uuid %s", lv.UUID)
		res.say("note: no blob on disk carries %s's uuid (a stale disk view?); verification will search by uuid", lv.Alias)
	case 1:
		res.BlobID = blobs[0].BlobID
		res.evidence("disk", "blob %#x present", res.BlobID)
	default:
		res.evidence("disk", "%d blobs carry uuid %s", len(blobs), lv.UUID)
	}
	res.evidence("live", "listed as %s (snapshot=%t clone=%t clones=%d)", lv.Alias, lv.Snapshot, lv.Clone, len(lv.Clones))

	if req.DryRun {
		if rerr := d.preflight(ctx, lv, req.AllowExported); rerr != nil {
			res.set(OutcomeRefused)
			res.say("dry run: would refuse: %v", rerr)
			return res, rerr
		}
		res.set(OutcomeDryRun)
		if lv.Snapshot {
			res.say("dry run: would stop a checksum of %s where the target offers %s", lv.Alias, MethodStopSnapshotChecksum)
		}
		res.say("dry run: would delete %s (uuid %s) and verify on disk; nothing was changed", lv.Alias, lv.UUID)
		return res, nil
	}

	// Step 1 (cont.): the intent is durable before anything changes.
	in := Intent{Op: "delete", Ref: req.Ref.String(), LvstoreUUID: lv.LvstoreUUID, LvstoreName: lv.LvstoreName,
		LvolUUID: lv.UUID, LvolName: lv.Name, BlobID: res.BlobID, Snapshot: lv.Snapshot, At: d.clock().Now()}
	res.IntentID, err = d.Journal.RecordIntent(ctx, in)
	if err != nil {
		res.set(OutcomeUnverified)
		res.say("cannot record the intent in the journal; nothing was changed")
		return res, fmt.Errorf("delete %s: record intent: %w", lv.Alias, err)
	}

	// Step 2: preflight.
	if rerr := d.preflight(ctx, lv, req.AllowExported); rerr != nil {
		res.set(OutcomeRefused)
		var re *RefusedError
		if !errors.As(rerr, &re) {
			// The guard could not be evaluated: operational, still nothing changed.
			res.ExitCode = exitOperational
		}
		res.say("%v", rerr)
		return res, d.record(ctx, &res, rerr)
	}

	// Step 3: stop what is known to hold the blob.
	if lv.Snapshot {
		d.stopChecksum(ctx, lv, &res)
	}

	// Steps 4 and 5.
	err = d.attempt(ctx, req, lv, &res)
	// Step 6.
	return res, d.record(ctx, &res, err)
}

// record stores the outcome unless the run must leave the intent open (the
// outcome is unknown: the next run's Finish rolls it forward).
func (d *Deleter) record(ctx context.Context, res *Result, err error) error {
	if res.IntentID == "" || res.Outcome == OutcomeUnverified {
		return err
	}
	// A cancelled run still records what it knows.
	rctx, cancel := d.call(context.WithoutCancel(ctx))
	defer cancel()
	rec := Record{Outcome: res.Outcome, Semantics: res.Semantics, Attempts: res.Attempts, At: d.clock().Now(),
		Messages: slices.Clone(res.Messages), Evidence: res.Evidence}
	if jerr := d.Journal.RecordOutcome(rctx, res.IntentID, rec); jerr != nil {
		res.say("warning: the outcome could not be recorded in the journal (%v); the next run will verify it again", jerr)
		if err == nil {
			return fmt.Errorf("record outcome of %s: %w", res.Ref, jerr)
		}
		return errors.Join(err, fmt.Errorf("record outcome of %s: %w", res.Ref, jerr))
	}
	return err
}

func (d *Deleter) resolve(ctx context.Context, ref Ref) (*Lvol, error) {
	cctx, cancel := d.call(ctx)
	defer cancel()
	lvols, err := d.Target.Lvols(cctx)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: list lvols: %w", ref, err)
	}
	var found []Lvol
	for _, l := range lvols {
		if ref.Matches(l) {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	default:
		return nil, fmt.Errorf("resolve %s: %w: %d live lvols match", ref, ErrBadRef, len(found))
	}
}

func (d *Deleter) findBlob(ctx context.Context, q BlobQuery) ([]BlobRef, error) {
	cctx, cancel := d.call(ctx)
	defer cancel()
	return d.Disk.FindBlob(cctx, q)
}

// notLive handles a ref that the live view does not list: the disk decides
// between "pending resurrection" and "not found".
func (d *Deleter) notLive(ctx context.Context, req Request, res Result) (Result, error) {
	q := BlobQuery{LvolUUID: req.Ref.UUID}
	if req.Ref.UUID == "" {
		lvs, name := req.Ref.lvstoreAndName()
		q.LvolName = name
		if blobstore.ValidUUID(lvs) {
			q.LvstoreUUID = strings.ToLower(lvs)
		} else {
			q.LvstoreName = lvs
		}
	}
	blobs, err := d.findBlob(ctx, q)
	if err != nil {
		res.set(OutcomeUnverified)
		res.say("%s is not in the live view and the disk could not be read to tell whether it is gone", res.Ref)
		return res, fmt.Errorf("delete %s: %w: %w", res.Ref, ErrUnverified, err)
	}
	res.evidence("live", "not listed")
	if len(blobs) == 0 {
		res.set(OutcomeNotFound)
		res.evidence("disk", "no blob matches")
		res.say("%s: not in the live view, and no blob on disk carries it; nothing to delete", res.Ref)
		return res, &NotFoundError{Ref: res.Ref}
	}
	b := blobs[0]
	res.BlobID = b.BlobID
	res.evidence("disk", "blob %#x present (uuid %s)", b.BlobID, b.LvolUUID)
	res.set(OutcomePendingResurrection)
	if req.DryRun {
		res.say("%s is not in the live view but its blob %#x is still on disk: it comes back at the next restart (a forced removal, or a fixed target's hidden zombie)", res.Ref, b.BlobID)
		res.say("dry run: would retry the delete by uuid to tell which (harmless on both), and record the request so that repair finishes it; nothing was changed")
		return res, nil
	}
	in := Intent{Op: "delete", Ref: req.Ref.String(), LvstoreUUID: b.LvstoreUUID, LvstoreName: q.LvstoreName,
		LvolUUID: b.LvolUUID, LvolName: b.LvolName, BlobID: b.BlobID, At: d.clock().Now()}
	id, err := d.Journal.RecordIntent(ctx, in)
	if err != nil {
		return res, fmt.Errorf("delete %s: record intent: %w", res.Ref, err)
	}
	res.IntentID = id
	lvsName := q.LvstoreName
	if lvsName == "" {
		lvsName, _ = req.Ref.lvstoreAndName()
	}
	lv := &Lvol{UUID: b.LvolUUID, Name: b.LvolName, LvstoreUUID: b.LvstoreUUID, LvstoreName: lvsName,
		Alias: aliasOf(lvsName, b.LvolName, b.LvolUUID)}
	v, err := d.classifyHidden(ctx, lv, nil, &res)
	if err != nil {
		res.say("%s is not in the live view but its blob %#x is still on disk; lvfsck could not tell a forced removal from a fixed target's zombie (%v)", res.Ref, b.BlobID, err)
		res.say("scheduled for repair: after a target restart run `lvfsck repair --yes`")
		return res, d.record(ctx, &res, nil)
	}
	if v.deleted {
		res.Lvol = lv
		return res, d.record(ctx, &res, d.verify(ctx, lv, &res))
	}
	v.sayHidden(&res, res.Ref, b.BlobID)
	return res, d.record(ctx, &res, nil)
}

// preflight is step 2: only what RPC of a real target shows. It returns a
// *RefusedError, or a plain error when a view could not be read.
func (d *Deleter) preflight(ctx context.Context, lv *Lvol, allowExported bool) error {
	if len(lv.Clones) > 1 {
		return &RefusedError{Reason: ReasonClones, Lvol: lv.Alias, Names: slices.Clone(lv.Clones),
			Detail: fmt.Sprintf("snapshot has %d clones; SPDK deletes a snapshot with at most one", len(lv.Clones))}
	}
	cctx, cancel := d.call(ctx)
	defer cancel()
	nss, err := d.Target.Namespaces(cctx)
	if err != nil && !errors.Is(err, ErrMethodNotFound) {
		return fmt.Errorf("preflight %s: list NVMe-oF subsystems: %w", lv.Alias, err)
	}
	exported := exportsOf(nss, lv)
	if len(exported) > 0 && !allowExported {
		return &RefusedError{Reason: ReasonExported, Lvol: lv.Alias, Names: exported,
			Detail: "exported as an NVMe-oF namespace; deleting it would yank the disk from a connected host (use --allow-exported to override)"}
	}
	bdevs, err := d.Target.Bdevs(cctx)
	if err != nil {
		return fmt.Errorf("preflight %s: list bdevs: %w", lv.Alias, err)
	}
	if b, ok := bdevOf(bdevs, lv); ok && b.Claimed {
		// An NVMe-oF namespace claims its bdev (exclusive_write); once the
		// operator allowed the export, that claim is the export's.
		if !(len(exported) > 0 && allowExported) {
			return &RefusedError{Reason: ReasonClaimed, Lvol: lv.Alias, Names: []string{claimName(b)},
				Detail: "its bdev is claimed by another module (a namespace, a raid, a passthru...)"}
		}
	}
	return nil
}

func claimName(b Bdev) string {
	if b.ClaimType == "" {
		return b.Name + " claimed"
	}
	return b.Name + " claimed " + b.ClaimType
}

// exportsOf lists "nqn nsid N" for each namespace backed by lv.
func exportsOf(nss []Namespace, lv *Lvol) []string {
	var out []string
	for _, ns := range nss {
		if strings.EqualFold(ns.BdevName, lv.UUID) || (lv.Alias != "" && ns.BdevName == lv.Alias) {
			out = append(out, fmt.Sprintf("%s nsid %d", ns.NQN, ns.NSID))
		}
	}
	return out
}

func bdevOf(bdevs []Bdev, lv *Lvol) (Bdev, bool) {
	for _, b := range bdevs {
		if strings.EqualFold(b.Name, lv.UUID) || (lv.Alias != "" && slices.Contains(b.Aliases, lv.Alias)) {
			return b, true
		}
	}
	return Bdev{}, false
}

// stopChecksum is step 3. An error answer means no checksum ran (or the
// target lacks the method): either way the delete goes on.
func (d *Deleter) stopChecksum(ctx context.Context, lv *Lvol, res *Result) {
	cctx, cancel := d.call(ctx)
	defer cancel()
	has, err := d.Target.HasMethod(cctx, MethodStopSnapshotChecksum)
	switch {
	case err != nil:
		res.say("could not list the target's methods (%v); not stopping checksums", err)
		return
	case !has:
		// Worth saying only if the delete then answers busy (see busyNote);
		// a delete that goes through needs no note about it.
		res.evidence("stop-checksum", "the target has no %s", MethodStopSnapshotChecksum)
		res.noStopMethod = true
		return
	}
	// By alias, as the captured checksum calls name the snapshot; deletes go
	// by uuid (a new lvol may have taken a force-removed one's name).
	if err := d.Target.StopSnapshotChecksum(cctx, cmp.Or(lv.Alias, lv.UUID)); err != nil {
		res.evidence("stop-checksum", "%v", err)
		res.say("stopped no checksum of %s (none was running)", lv.Alias)
		return
	}
	res.evidence("stop-checksum", "stopped")
	res.say("stopped a running checksum of %s", lv.Alias)
}

// look is "look at once": is the lvol still listed, and if not, is its
// blob still on disk? onDisk is meaningful only when !listed.
func (d *Deleter) look(ctx context.Context, lv *Lvol, blobID uint64) (listed, onDisk bool, err error) {
	cctx, cancel := d.call(ctx)
	defer cancel()
	lvols, err := d.Target.Lvols(cctx)
	if err != nil {
		return false, false, fmt.Errorf("list lvols: %w", err)
	}
	for _, l := range lvols {
		if strings.EqualFold(l.UUID, lv.UUID) {
			return true, false, nil
		}
	}
	onDisk, err = d.Disk.BlobPresent(cctx, lv.LvstoreUUID, lv.UUID, blobID)
	if err != nil {
		return false, false, fmt.Errorf("read blob %#x: %w", blobID, err)
	}
	return false, onDisk, nil
}

// attempt is steps 4 and 5.
func (d *Deleter) attempt(ctx context.Context, req Request, lv *Lvol, res *Result) error {
	clk := d.clock()
	deadline := clk.Now().Add(max(req.Wait, 0))
	maxAttempts := orDefault(d.MaxAttempts, 1000)
	for retry := 0; ; retry++ {
		err := d.deleteOnce(ctx, lv, res)
		switch {
		case err == nil:
			res.evidence("rpc", "bdev_lvol_delete answered success (attempt %d)", res.Attempts)
			return d.verify(ctx, lv, res)
		case errors.Is(err, ErrBusy):
			res.evidence("rpc", "bdev_lvol_delete answered busy (attempt %d)", res.Attempts)
		case errors.Is(err, ErrNotFound):
			res.evidence("rpc", "bdev_lvol_delete answered no such device (attempt %d)", res.Attempts)
			return d.afterNotFound(ctx, lv, res)
		default:
			return d.afterError(ctx, lv, res, err)
		}

		// Busy: look at once.
		listed, onDisk, lerr := d.look(ctx, lv, res.BlobID)
		if lerr != nil {
			res.set(OutcomeUnverified)
			res.say("the target answered busy and lvfsck could not look at what it did (%v); the journal intent stays open and the next run verifies it", lerr)
			return fmt.Errorf("delete %s: %w: %w", lv.Alias, ErrUnverified, lerr)
		}
		if !listed {
			if onDisk {
				res.evidence("live", "not listed after the busy answer")
				res.evidence("disk", "blob %#x still present", res.BlobID)
				v, err := d.classifyHidden(ctx, lv, lv.Clones, res)
				if err != nil {
					res.set(OutcomeUnverified)
					res.say("the target answered busy and dropped %s from the live view; lvfsck could not tell a forced removal from a fixed target's zombie (%v); the journal intent stays open", lv.Alias, err)
					return fmt.Errorf("delete %s: %w: %w", lv.Alias, ErrUnverified, err)
				}
				if v.deleted {
					res.evidence("rpc", "a retry by uuid answered success (attempt %d)", res.Attempts)
					return d.verify(ctx, lv, res)
				}
				v.sayHidden(res, lv.Alias, res.BlobID)
				res.busyNote()
				return nil
			}
			// Gone everywhere: whatever held it let go in time.
			res.set(OutcomeDeletedVerified)
			res.evidence("live", "not listed")
			res.evidence("disk", "blob gone")
			res.say("deleted %s: the target answered busy, yet it is gone from the live view and its blob is gone from disk", lv.Alias)
			return nil
		}
		// Still listed: a target that keeps a busy lvol (no captured one
		// does); retry with backoff.
		res.Semantics = SemanticsKeepListed
		now := clk.Now()
		if !now.Before(deadline) || res.Attempts >= maxAttempts {
			res.set(OutcomeRefusedBusy)
			res.say("%s is busy (the target kept it listed) after %s over %s; nothing was changed — retry later or with a longer --wait", lv.Alias, plural(res.Attempts, "attempt", "attempts"), req.Wait)
			res.busyNote()
			return &RefusedError{Reason: ReasonBusy, Lvol: lv.Alias, Detail: "still busy after " + plural(res.Attempts, "attempt", "attempts")}
		}
		wait := min(d.Backoff.Delay(retry), deadline.Sub(now))
		if err := clk.Sleep(ctx, wait); err != nil {
			res.set(OutcomeCancelled)
			res.say("cancelled while waiting for %s to stop being busy; nothing was changed", lv.Alias)
			return fmt.Errorf("delete %s: %w", lv.Alias, err)
		}
	}
}

// verify checks a success answer: gone from the view, md pages gone from disk.
func (d *Deleter) verify(ctx context.Context, lv *Lvol, res *Result) error {
	clk := d.clock()
	tries := orDefault(d.VerifyTries, 3)
	for i := 0; ; i++ {
		listed, onDisk, err := d.look(ctx, lv, res.BlobID)
		switch {
		case err != nil:
			res.set(OutcomeUnverified)
			res.say("the target answered success but lvfsck could not verify it (%v); not reported as deleted; the next run verifies it", err)
			return fmt.Errorf("delete %s: %w: %w", lv.Alias, ErrUnverified, err)
		case listed:
			res.set(OutcomeUnverified)
			res.evidence("live", "still listed after a success answer")
			res.say("the target answered success but still lists %s; not reported as deleted", lv.Alias)
			return fmt.Errorf("delete %s: %w: still listed", lv.Alias, ErrUnverified)
		case !onDisk:
			res.set(OutcomeDeletedVerified)
			res.evidence("live", "not listed")
			res.evidence("disk", "blob md pages gone")
			res.say("deleted %s (uuid %s): gone from the live view and its blob's md pages are gone from disk", lv.Alias, lv.UUID)
			return nil
		case i+1 >= tries:
			// Same consequence as a forced removal: it loads again at restart.
			res.set(OutcomeForcedRemoval)
			res.evidence("live", "not listed")
			res.evidence("disk", "blob %#x still present after a success answer", res.BlobID)
			res.say("the target answered success and dropped %s, but its blob %#x is still on disk: it comes back at the next restart or lvstore reload; scheduled for repair", lv.Alias, res.BlobID)
			return nil
		}
		if err := clk.Sleep(ctx, orDefault(d.VerifyDelay, 100*time.Millisecond)); err != nil {
			res.set(OutcomeUnverified)
			return fmt.Errorf("delete %s: verify: %w", lv.Alias, err)
		}
	}
}

// afterNotFound: "No such device" is never a success on its own.
func (d *Deleter) afterNotFound(ctx context.Context, lv *Lvol, res *Result) error {
	listed, onDisk, err := d.look(ctx, lv, res.BlobID)
	switch {
	case err != nil:
		res.set(OutcomeUnverified)
		res.say("the target answered no such device and lvfsck could not verify it (%v); not reported as deleted", err)
		return fmt.Errorf("delete %s: %w: %w", lv.Alias, ErrUnverified, err)
	case listed:
		res.set(OutcomeUnverified)
		res.say("the target answered no such device but still lists %s", lv.Alias)
		return fmt.Errorf("delete %s: %w: still listed after no such device", lv.Alias, ErrUnverified)
	case onDisk:
		res.set(OutcomePendingResurrection)
		res.evidence("disk", "blob %#x still present", res.BlobID)
		res.say("the target answered no such device, but the blob %#x of %s is still on disk: it was dropped from memory only and comes back at the next restart; scheduled for repair", res.BlobID, lv.Alias)
		return nil
	default:
		res.set(OutcomeDeletedVerified)
		res.evidence("disk", "blob md pages gone")
		res.say("%s is gone: the target answered no such device and the disk confirms its blob's md pages are gone", lv.Alias)
		return nil
	}
}

// afterError: an answer that is neither success, busy nor not-found. The
// delete may have half-happened; look.
func (d *Deleter) afterError(ctx context.Context, lv *Lvol, res *Result, rpcErr error) error {
	res.evidence("rpc", "bdev_lvol_delete: %v", rpcErr)
	listed, onDisk, err := d.look(ctx, lv, res.BlobID)
	switch {
	case err != nil:
		res.set(OutcomeUnverified)
		res.say("bdev_lvol_delete failed (%v) and lvfsck could not look at what happened (%v); the journal intent stays open", rpcErr, err)
		return fmt.Errorf("delete %s: %w: %w", lv.Alias, ErrUnverified, errors.Join(rpcErr, err))
	case listed:
		res.set(OutcomeRefused)
		res.say("bdev_lvol_delete failed (%v); %s is still listed; nothing was changed", rpcErr, lv.Alias)
		return fmt.Errorf("delete %s: %w", lv.Alias, rpcErr)
	case onDisk:
		res.set(OutcomeForcedRemoval)
		res.evidence("disk", "blob %#x still present", res.BlobID)
		res.say("bdev_lvol_delete failed (%v) and the target dropped %s from memory while its blob %#x stays on disk: it comes back at the next restart; scheduled for repair", rpcErr, lv.Alias, res.BlobID)
		return nil
	default:
		res.set(OutcomeDeletedVerified)
		res.say("bdev_lvol_delete answered an error (%v), yet %s is gone from the live view and from disk", rpcErr, lv.Alias)
		return nil
	}
}
