package run

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
)

// RepairOptions are what the operator asked of this repair.
type RepairOptions struct {
	Socket        string
	Yes           bool // apply without asking
	DryRun        bool
	Reload        bool // finish pending resurrections by reloading their lvstore
	Wait          time.Duration
	AllowExported bool
	// The reload's deadlines and I/O sampling.
	UnloadTimeout, IOSample, IOEvery, RPCTimeout time.Duration
}

// RepairRun is one `lvfsck repair` over a session, from StartRepair to
// Finish: the run in the journal, reloads an earlier run left half done,
// the findings gathered as check gathers them, the plan, and its
// application with the reload marks around it. It composes the document
// report renders; asking the operator is the caller's.
type RepairRun struct {
	writeRun
	o RepairOptions

	// Plan is what JSON-RPC can repair, once prepared.
	Plan repair.Plan
	// Doc is the document report renders: the plan once prepared,
	// complete once applied.
	Doc report.RepairDoc
	// Code is the exit code so far.
	Code int
}

// StartRepair begins the run in the journal. Finish must follow.
func StartRepair(s *Session, o RepairOptions) (*RepairRun, error) {
	w, err := s.begin("repair")
	if err != nil {
		return nil, err
	}
	return &RepairRun{writeRun: w, o: o}, nil
}

// Prepare rolls forward what an earlier reload left half done, gathers the
// findings and plans. progress is where the device reads draw their bars,
// if a terminal.
func (r *RepairRun) Prepare(ctx context.Context, progress io.Writer) error {
	s, o := r.s, r.o
	recreated, err := s.FinishReloads(ctx, o.Yes && !o.DryRun, r.runID)
	if err != nil {
		return report.Fail(report.ExitOperational, err)
	}
	if len(recreated) > 0 {
		if err := s.AwaitLvstores(ctx, recreated); err != nil {
			r.Code |= report.ExitOperational
			s.Note("%v", err)
		}
	}
	fs, opErr, err := s.Findings(ctx, progress, r.runID)
	if err != nil {
		return err
	}
	if opErr {
		r.Code |= report.ExitOperational
	}
	r.Plan = repair.NewPlan(fs, repair.PlanOptions{Reload: o.Reload})
	r.Doc = report.RepairDoc{Command: "repair", Target: o.Socket, Reload: o.Reload, DryRun: o.DryRun,
		Findings: fs, Plan: report.RepairSteps(r.Plan), Results: []report.RepairStepResult{}}
	if r.Doc.Findings == nil {
		r.Doc.Findings = []finding.Finding{}
	}
	r.Doc.Notes = append([]string{}, s.Notes()...)
	r.Doc.NotesBeforePlan = len(r.Doc.Notes)
	return nil
}

// NeedsConfirmation tells whether the plan changes something that the
// operator has not agreed to yet (neither --yes nor --dry-run).
func (r *RepairRun) NeedsConfirmation() bool {
	return r.Plan.Actionable() > 0 && !r.o.Yes && !r.o.DryRun
}

// Apply applies the plan when yes (or reports what is left when it
// changes nothing), marking reloads in the journal around it, and
// completes Doc and Code.
func (r *RepairRun) Apply(ctx context.Context, yes bool) {
	s, o, plan := r.s, r.o, r.Plan
	rep := &repair.Repairer{Deleter: s.Deleter("lvfsck repair", true, r.runID), Reloader: &repair.Reloader{
		Target: s.Target(), Clock: repair.RealClock{}, SampleFor: o.IOSample, SampleEvery: o.IOEvery,
		UnloadTimeout: o.UnloadTimeout, RPCTimeout: o.RPCTimeout,
	}}
	// A plan with nothing to change is "applied" as is: its steps only
	// report what is left.
	var marked []string
	if yes && o.Reload && !o.DryRun {
		marked = s.MarkReloads(ctx, plan, r.runID)
	}
	ar, aerr := rep.Apply(ctx, plan, repair.ApplyOptions{Yes: yes || plan.Actionable() == 0, DryRun: o.DryRun,
		Reload: o.Reload, Wait: o.Wait, AllowExported: o.AllowExported})
	for _, lvs := range marked {
		how := "ended"
		if errors.Is(aerr, repair.ErrReloadWedged) {
			how = "unload wedged: the target needs a restart"
		}
		s.EndReload(lvs, r.runID, how)
	}
	r.Doc.Applied = (yes || plan.Actionable() == 0) && !o.DryRun && !errors.Is(aerr, repair.ErrNotConfirmed)
	r.Code |= ar.ExitCode
	r.Doc.Results = append(r.Doc.Results, report.RepairStepResults(ar)...)
	if aerr != nil && !errors.Is(aerr, repair.ErrNotConfirmed) {
		r.Code |= report.ExitOperational
		r.Doc.Wedged, r.Doc.ApplyError = errors.Is(aerr, repair.ErrReloadWedged), aerr.Error()
	}
	r.Doc.Notes = append([]string{}, s.Notes()...)
	r.Doc.Exit, r.Doc.Meaning = r.Code, report.ExitMeaning(r.Code)
}

// Decline records that the operator answered no at the prompt.
func (r *RepairRun) Decline() {
	r.Code |= report.ExitCancelled
	r.Doc.Declined = true
	r.Doc.Exit, r.Doc.Meaning = r.Code, report.ExitMeaning(r.Code)
}
