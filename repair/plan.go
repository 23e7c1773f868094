package repair

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/natsort"
)

// Finding codes the planner acts on. reconcile emits them under the same
// spelling (TestCodesAsReconcile pins it); repair keeps its own copy so that
// it does not build against the checker.
const (
	// CodeResurrected: an lvol whose deletion the journal records is live
	// again after a restart.
	CodeResurrected finding.Code = "resurrected"
	// CodePendingResurrection: a persisted lvol blob absent from the live
	// view, with positive evidence that the target dropped it (a forced
	// removal); it loads again at the next restart, and is then resurrected.
	CodePendingResurrection finding.Code = "pending-resurrection"
	// CodeOpenIntent: a delete intent with no outcome (a run was interrupted).
	CodeOpenIntent finding.Code = "open-delete-intent"
	// CodeHiddenZombie: a pending resurrection on a target with Longhorn's
	// fix: the lvstore still holds the lvol, hidden; only a restart frees it.
	CodeHiddenZombie finding.Code = "hidden-zombie"
)

// EvSemantics is reconcile's evidence key naming the delete semantics
// behind a pending resurrection ("forced: …", "fixed: …", "not known: …").
const EvSemantics = "semantics"

// mayBeZombie: the finding is, or may be, a fixed target's hidden zombie;
// a reload of its lvstore would then never finish and take the lvstore
// offline until a restart (fixtures/fixed-busy.reload-wedge).
func mayBeZombie(f finding.Finding) bool {
	switch f.Code {
	case CodeHiddenZombie:
		return true
	case CodePendingResurrection:
		return !strings.HasPrefix(f.Evidence[EvSemantics], "forced")
	}
	return false
}

// Action is what a plan step does.
type Action string

const (
	ActionFinish       Action = "finish-intent" // roll an interrupted delete forward
	ActionDelete       Action = "delete"        // guarded delete of a live, resurrected lvol
	ActionReloadDelete Action = "reload-delete" // reload its lvstore, then guarded delete
	ActionWaitRestart  Action = "wait-restart"  // nothing now: repair after the target restarts
	ActionAdvice       Action = "advice"        // not repairable over RPC: listed, never touched
)

var actionOrder = map[Action]int{ActionFinish: 0, ActionDelete: 1, ActionReloadDelete: 2, ActionWaitRestart: 3, ActionAdvice: 4}

// Step is one line of a plan.
type Step struct {
	Action      Action
	Code        finding.Code
	Severity    finding.Severity
	Lvstore     string
	LvstoreUUID string
	LvolName    string
	LvolUUID    string
	BlobID      uint64
	Why         string // the finding's message
	Advice      string // what the operator should do (advice, wait-restart)
	// Basis says, for a delete, which evidence showed the lvol dropped
	// earlier: the plan must not claim more than the finding had.
	Basis string
	// Reloadable: a step waiting for a restart that `--reload` could
	// finish now instead (a pending resurrection in an lvstore with no
	// possible zombie, whose uuid is known).
	Reloadable bool
}

// Target names the step's object for humans.
func (s Step) Target() string {
	switch {
	case s.LvolName != "" && s.Lvstore != "":
		return s.Lvstore + "/" + s.LvolName
	case s.LvolName != "":
		return s.LvolName
	case s.LvolUUID != "":
		return s.LvolUUID
	case s.BlobID != 0:
		return fmt.Sprintf("blob %#x", s.BlobID)
	case s.Lvstore != "":
		return "lvstore " + s.Lvstore
	default:
		return "-"
	}
}

// Changes reports whether applying the step may change the target.
func (s Step) Changes() bool {
	return s.Action == ActionDelete || s.Action == ActionReloadDelete || s.Action == ActionFinish
}

// Plan is the ordered list of steps; report renders it.
type Plan struct {
	Steps  []Step
	Reload bool
}

// Actionable counts the steps that change something.
func (p Plan) Actionable() int {
	n := 0
	for _, s := range p.Steps {
		if s.Changes() {
			n++
		}
	}
	return n
}

// PlanOptions tune NewPlan.
type PlanOptions struct {
	// Reload finishes pending resurrections by reloading their lvstore
	// instead of waiting for a restart.
	Reload bool
}

// NewPlan turns findings into repair steps. It is pure: nothing is looked up.
func NewPlan(fs []finding.Finding, opts PlanOptions) Plan {
	p := Plan{Reload: opts.Reload}
	seen := map[string]bool{}
	// zombies: per lvstore uuid, an lvol that is or may be a hidden zombie.
	zombies := map[string]string{}
	for _, f := range fs {
		if mayBeZombie(f) && f.LvstoreUUID != "" {
			if _, ok := zombies[f.LvstoreUUID]; !ok {
				zombies[f.LvstoreUUID] = cmp.Or(f.LvolName, f.LvolUUID)
			}
		}
	}
	for _, f := range fs {
		st := Step{Code: f.Code, Severity: f.Severity, Lvstore: f.Lvstore, LvstoreUUID: f.LvstoreUUID,
			LvolName: f.LvolName, LvolUUID: strings.ToLower(f.LvolUUID), BlobID: f.BlobID, Why: f.Message}
		switch f.Code {
		case CodeOpenIntent:
			st.Action = ActionFinish
		case CodeResurrected:
			st.Action = ActionDelete
			st.Basis = dropBasis(f.Evidence)
		case CodePendingResurrection:
			// reconcile reports it only on positive evidence of a forced
			// removal; after a restart the same lvol is "resurrected" and
			// deleted, so the reload path deletes it likewise.
			switch {
			case opts.Reload:
				st.Action = ActionReloadDelete
			default:
				st.Action = ActionWaitRestart
				st.Advice = "wait for the target's next restart (the lvol loads again), then run `lvfsck repair --yes`"
				if _, z := zombies[f.LvstoreUUID]; !z && f.LvstoreUUID != "" {
					st.Reloadable = true
					st.Advice += "; or use --reload in a maintenance window"
				}
			}
		case CodeHiddenZombie:
			st.Action = ActionWaitRestart
			st.Advice = ZombieAdvice
		default:
			if f.Severity < finding.Warning {
				continue
			}
			st.Action = ActionAdvice
			st.Advice = cmp.Or(f.Repair, "lvfsck cannot repair this over RPC; nothing will be touched")
		}
		if z, ok := zombies[st.LvstoreUUID]; ok && st.Action == ActionReloadDelete {
			st.Action = ActionWaitRestart
			st.Advice = fmt.Sprintf("--reload refused for lvstore %s: %s may be a hidden zombie of a target with Longhorn's fix, and a reload would then never finish and take the whole lvstore offline until a restart. Restart the target (a clean shutdown may hang: plan it as a crash), then run `lvfsck repair --yes`; `lvfsck delete` on the lvol tells a forced removal from a zombie (harmless on both)", cmp.Or(st.Lvstore, st.LvstoreUUID), z)
		}
		if st.Action == ActionReloadDelete && st.LvstoreUUID == "" {
			st.Action = ActionWaitRestart
			st.Advice = "its lvstore's uuid is unknown, so no reload can be planned: wait for the target's next restart, then run `lvfsck repair --yes`"
		}
		if (st.Action == ActionDelete || st.Action == ActionReloadDelete) && st.LvolUUID == "" {
			st.Action = ActionAdvice
			st.Advice = "no lvol uuid is known for it, so no guarded delete can be planned"
		}
		if st.Changes() {
			key := string(st.Action) + "|" + st.LvolUUID
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		p.Steps = append(p.Steps, st)
	}
	// Sort keys computed once: Target() allocates.
	type keyed struct {
		s      Step
		target string
	}
	ks := make([]keyed, len(p.Steps))
	for i, s := range p.Steps {
		ks[i] = keyed{s, s.Target()}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		return cmp.Or(
			cmp.Compare(actionOrder[a.s.Action], actionOrder[b.s.Action]),
			cmp.Compare(b.s.Severity, a.s.Severity),
			natsort.Compare(a.s.Lvstore, b.s.Lvstore),
			natsort.Compare(a.target, b.target),
		)
	})
	for i := range ks {
		p.Steps[i] = ks[i].s
	}
	return p
}

// Evidence keys of reconcile's findings (reconcile.EvJournal, EvLog): the
// planner reads them to say what a delete rests on.
const (
	evJournal = "journal"
	evLog     = "log"
)

// unknownBasis is the basis of a delete whose finding named no source.
const unknownBasis = "the finding's evidence shows it dropped before the restart"

// dropBasis words the sources that showed a resurrected lvol dropped
// earlier: the journal (a recorded delete, a sighting then absence, a
// pending resurrection reported before the restart) and imported logs.
func dropBasis(ev map[string]string) string {
	var parts []string
	if ev[evJournal] != "" {
		parts = append(parts, "the journal recorded it deleted or dropped before the restart")
	}
	if ev[evLog] != "" {
		parts = append(parts, "an imported spdk_tgt log shows its forced removal")
	}
	if len(parts) == 0 {
		return unknownBasis
	}
	return strings.Join(parts, "; ")
}

// ApplyOptions are the repair command's switches.
type ApplyOptions struct {
	Yes    bool // the operator confirmed (--yes or the typed prompt)
	DryRun bool
	// Reload must be set here too for reload steps to run (the plan and the
	// command line both asked for it).
	Reload        bool
	Wait          time.Duration // per guarded delete
	AllowExported bool
}

// StepResult is what one step did.
type StepResult struct {
	Step     Step
	Outcome  Outcome // empty for steps that do nothing (advice, wait-restart)
	Messages []string
	Err      error
}

// ApplyResult is what Apply did; ExitCode ORs e2fsck's bits: 1 when
// something was corrected, 4 when something is left, 8 on an operational
// error.
type ApplyResult struct {
	Steps    []StepResult
	ExitCode int
}

// Repairer applies plans.
type Repairer struct {
	Deleter  *Deleter
	Reloader *Reloader
}

// Apply executes plan. Without Yes (and not DryRun) it changes nothing and
// returns ErrNotConfirmed. DryRun changes nothing and returns the steps as
// they would run. A wedged reload stops the whole run: the target needs a
// restart before anything else is sent to it.
func (r *Repairer) Apply(ctx context.Context, plan Plan, opts ApplyOptions) (ApplyResult, error) {
	var out ApplyResult
	left := func() int {
		for _, s := range plan.Steps {
			if s.Action != ActionAdvice || s.Severity >= finding.Error {
				return exitUncorrected
			}
		}
		return exitOK
	}
	if opts.DryRun {
		for _, s := range plan.Steps {
			out.Steps = append(out.Steps, StepResult{Step: s, Outcome: OutcomeDryRun, Messages: []string{"dry run: " + s.Describe(plan.Reload && opts.Reload)}})
		}
		out.ExitCode = left()
		return out, nil
	}
	if !opts.Yes {
		out.ExitCode = left()
		return out, ErrNotConfirmed
	}
	reload := plan.Reload && opts.Reload
	add := func(sr StepResult, code int) {
		out.Steps = append(out.Steps, sr)
		out.ExitCode |= code
	}
	var reloadSteps []Step
	for _, s := range plan.Steps {
		switch s.Action {
		case ActionFinish:
			add(r.finish(ctx, s))
		case ActionDelete:
			add(r.delete(ctx, s, opts))
		case ActionReloadDelete:
			if reload {
				reloadSteps = append(reloadSteps, s)
				continue
			}
			s.Action, s.Advice = ActionWaitRestart, "--reload not given: wait for the target's next restart, then run `lvfsck repair --yes`"
			add(StepResult{Step: s, Messages: []string{s.Advice}}, exitUncorrected)
		case ActionWaitRestart:
			add(StepResult{Step: s, Messages: []string{s.Advice}}, exitUncorrected)
		default:
			code := exitOK
			if s.Severity >= finding.Error {
				code = exitUncorrected
			}
			add(StepResult{Step: s, Messages: []string{"not touched: " + s.Advice}}, code)
		}
	}
	if err := r.reloadAll(ctx, reloadSteps, opts, add); err != nil {
		return out, err
	}
	return out, nil
}

func (r *Repairer) finish(ctx context.Context, s Step) (StepResult, int) {
	sr := StepResult{Step: s}
	cctx, cancel := r.Deleter.call(ctx)
	open, err := r.Deleter.Journal.OpenIntents(cctx)
	cancel()
	if err != nil {
		sr.Err = fmt.Errorf("list open intents: %w", err)
		return sr, exitOperational
	}
	code := exitOK
	n := 0
	for _, in := range open {
		if !strings.EqualFold(in.LvolUUID, s.LvolUUID) {
			continue
		}
		n++
		res, err := r.Deleter.Finish(ctx, in)
		sr.Outcome = res.Outcome
		sr.Messages = append(sr.Messages, res.Messages...)
		sr.Err = errors.Join(sr.Err, err)
		code |= stepCode(res.Outcome)
	}
	if n == 0 {
		sr.Messages = append(sr.Messages, "no open intent for "+s.Target()+" any more (finished meanwhile)")
	}
	return sr, code
}

// stepCode maps an outcome onto e2fsck's bits for a repair run: a verified
// deletion is a correction (1), not "consistent" (0).
func stepCode(o Outcome) int {
	if o == OutcomeDeletedVerified {
		return exitCorrected
	}
	return o.ExitCode()
}

func (r *Repairer) delete(ctx context.Context, s Step, opts ApplyOptions) (StepResult, int) {
	res, err := r.Deleter.Delete(ctx, Request{Ref: UUIDRef(s.LvolUUID), Wait: opts.Wait, AllowExported: opts.AllowExported})
	return StepResult{Step: s, Outcome: res.Outcome, Messages: res.Messages, Err: err}, stepCode(res.Outcome)
}

// reloadAll reloads each lvstore once, then deletes its dropped lvols.
func (r *Repairer) reloadAll(ctx context.Context, steps []Step, opts ApplyOptions, add func(StepResult, int)) error {
	byStore := map[string][]Step{}
	var order []string
	for _, s := range steps {
		if _, ok := byStore[s.LvstoreUUID]; !ok {
			order = append(order, s.LvstoreUUID)
		}
		byStore[s.LvstoreUUID] = append(byStore[s.LvstoreUUID], s)
	}
	for _, lvsUUID := range order {
		group := byStore[lvsUUID]
		want := make([]string, len(group))
		for i, s := range group {
			want[i] = s.LvolUUID
		}
		if r.Reloader == nil {
			return errors.New("reload requested but no Reloader configured")
		}
		rr, err := r.Reloader.Reload(ctx, lvsUUID, want)
		if err != nil {
			code := exitUncorrected
			var re *RefusedError
			outcome := OutcomeRefused
			if !errors.As(err, &re) {
				code, outcome = exitOperational, OutcomeUnverified
			}
			for i, s := range group {
				sr := StepResult{Step: s, Outcome: outcome, Err: err}
				if i == 0 {
					sr.Messages = rr.Messages
				}
				add(sr, code)
			}
			if errors.Is(err, ErrReloadWedged) || (rr.Unloaded && len(rr.Reappeared) == 0) {
				// The target needs the operator now; send it nothing more.
				return err
			}
			continue
		}
		for i, s := range group {
			sr, code := r.delete(ctx, s, opts)
			if i == 0 {
				sr.Messages = append(slices.Clone(rr.Messages), sr.Messages...)
			}
			add(sr, code)
		}
	}
	return nil
}
