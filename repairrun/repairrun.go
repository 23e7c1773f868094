// Package repairrun is one `lvfsck repair` over a session: the run in the
// journal, reloads an earlier run left half done, the findings gathered as
// check gathers them, the plan, and its application with the reload marks
// around it. It composes the human text and the JSON document as it goes;
// asking the operator, and writing either out, is the caller's.
package repairrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/session"
)

// Options are what the operator asked of this repair.
type Options struct {
	Socket        string
	Yes           bool // apply without asking
	DryRun        bool
	Reload        bool // finish pending resurrections by reloading their lvstore
	Wait          time.Duration
	AllowExported bool
	// The reload's deadlines and I/O sampling.
	UnloadTimeout, IOSample, IOEvery, RPCTimeout time.Duration
}

// Run is one repair, from Start to Finish.
type Run struct {
	s     *session.Session
	o     Options
	runID string
	fs    []finding.Finding

	// Plan is what JSON-RPC can repair, once prepared.
	Plan repair.Plan
	// Doc is the --json document, complete once Applied.
	Doc report.RepairDoc
	// Text is the human report so far; the caller may flush it (before a
	// prompt) and writes what is left at the end.
	Text strings.Builder
	// Code is the exit code so far.
	Code int
}

// Start begins the run in the journal. Finish must follow.
func Start(s *session.Session, o Options) (*Run, error) {
	id, err := s.BeginRun("repair")
	if err != nil {
		return nil, err
	}
	return &Run{s: s, o: o, runID: id}, nil
}

// Finish closes the run in the journal with its final exit code.
func (r *Run) Finish(code int) error { return r.s.FinishRun(r.runID, code) }

// Prepare rolls forward what an earlier reload left half done, gathers the
// findings, plans, and writes the notes and the plan to Text. progress is
// where the device reads draw their bars, if a terminal.
func (r *Run) Prepare(ctx context.Context, progress io.Writer) error {
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
	r.fs = fs
	r.Plan = repair.NewPlan(fs, repair.PlanOptions{Reload: o.Reload})
	r.Doc = report.RepairDoc{Command: "repair", Target: o.Socket, Reload: o.Reload, DryRun: o.DryRun,
		Findings: fs, Plan: report.RepairSteps(r.Plan), Results: []report.RepairStepResult{}}
	if r.Doc.Findings == nil {
		r.Doc.Findings = []finding.Finding{}
	}
	for _, n := range s.Notes() {
		fmt.Fprintf(&r.Text, "note: %s\n", n)
	}
	if err := r.Plan.Render(&r.Text); err != nil {
		return report.Fail(report.ExitOperational, err)
	}
	if !o.Reload && slices.ContainsFunc(r.Plan.Steps, func(st repair.Step) bool { return st.Action == repair.ActionWaitRestart }) {
		r.Text.WriteString("\nPending resurrections are finished after a restart: restart the target (the lvols load again), then run `lvfsck repair --yes`.\n" +
			"Without a restart, `lvfsck repair --yes --reload` reloads the lvstore in a maintenance window.\n")
	}
	return nil
}

// NeedsConfirmation tells whether the plan changes something that the
// operator has not agreed to yet (neither --yes nor --dry-run).
func (r *Run) NeedsConfirmation() bool {
	return r.Plan.Actionable() > 0 && !r.o.Yes && !r.o.DryRun
}

// Apply applies the plan when yes (or reports what is left when it
// changes nothing), marking reloads in the journal around it, and
// completes Text, Doc and Code.
func (r *Run) Apply(ctx context.Context, yes bool) error {
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
	switch {
	case o.DryRun:
		r.Text.WriteString("\nDry run: nothing was changed.\n")
	case r.Doc.Applied && plan.Actionable() > 0:
		// Steps that change nothing were said in the plan already.
		r.Text.WriteString("\nApplied:\n")
		if err := ar.Render(&r.Text); err != nil {
			return report.Fail(report.ExitOperational, err)
		}
	}
	r.Doc.Results = append(r.Doc.Results, report.RepairStepResults(ar)...)
	switch {
	case errors.Is(aerr, repair.ErrReloadWedged):
		r.Code |= report.ExitOperational
		fmt.Fprintf(&r.Text, "\nSTOPPED: %v.\nThe target needs a restart before anything else is sent to it; after the restart run `lvfsck repair --yes`.\n", aerr)
	case aerr != nil && !errors.Is(aerr, repair.ErrNotConfirmed):
		r.Code |= report.ExitOperational
		fmt.Fprintf(&r.Text, "\nerror: %v\n", aerr)
	}
	if len(r.fs) == 0 && plan.Actionable() == 0 {
		r.Text.WriteString("Consistent: nothing to repair.\n")
	}
	r.Doc.Notes = append([]string{}, s.Notes()...)
	r.Doc.Exit, r.Doc.Meaning = r.Code, report.ExitMeaning(r.Code)
	return nil
}
