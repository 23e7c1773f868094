package run

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/report"
)

// ParseRefs reads the lvols the operator named (alias lvstore/name, uuid,
// or a bare name in lvstore). A bad one is a usage error.
func ParseRefs(args []string, lvstore string) ([]repair.Ref, error) {
	refs := make([]repair.Ref, 0, len(args))
	for _, a := range args {
		ref, err := repair.ParseRef(a, lvstore)
		if err != nil {
			return nil, report.Fail(report.ExitUsage, err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// DeleteOptions are what the operator asked of this delete.
type DeleteOptions struct {
	Socket        string
	Refs          []repair.Ref
	DryRun        bool
	Wait          time.Duration
	AllowExported bool
	Log           zerolog.Logger
}

// DeleteRun is one `lvfsck delete` over a session, from StartDelete to
// Finish: the run in the journal, deletes an earlier run left unfinished
// (verified and recorded before anything new is sent), then each lvol's
// guarded delete, gathered into the document report renders.
type DeleteRun struct {
	writeRun
	o DeleteOptions
}

// StartDelete begins the run in the journal. Finish must follow.
func StartDelete(s *Session, o DeleteOptions) (*DeleteRun, error) {
	w, err := s.begin("delete")
	if err != nil {
		return nil, err
	}
	return &DeleteRun{writeRun: w, o: o}, nil
}

// Delete finishes what earlier runs left open, then deletes each lvol in
// turn (stopping at a cancellation), and returns the document with its
// exit code.
func (r *DeleteRun) Delete(ctx context.Context) report.DeleteDoc {
	s, o := r.s, r.o
	doc := report.DeleteDoc{Command: "delete", Target: o.Socket, DryRun: o.DryRun, Finished: []report.DeleteResult{}, Results: []report.DeleteResult{}}
	code := report.ExitOK
	d := s.Deleter("lvfsck delete", false, r.runID)
	if _, err := s.FinishReloads(ctx, false, r.runID); err != nil {
		s.Note("%v", err)
	}

	// An earlier run killed mid-delete: verify and record what happened
	// before anything new is sent.
	if o.DryRun {
		if open, err := d.Journal.OpenIntents(ctx); err == nil && len(open) > 0 {
			s.Note("%d interrupted delete(s) from an earlier run are open; a run without --dry-run verifies and records them first", len(open))
		}
	} else {
		fin, err := d.FinishOpen(ctx)
		for _, res := range fin {
			doc.Finished = append(doc.Finished, report.NewDeleteResult(res, nil))
		}
		if err != nil {
			s.Note("an interrupted delete could not be verified (%v); it stays open", err)
			code |= report.ExitOperational
		}
	}

	for _, ref := range o.Refs {
		if ctx.Err() != nil {
			code |= report.ExitCancelled
			break
		}
		res, err := d.Delete(ctx, repair.Request{Ref: ref, Wait: o.Wait, DryRun: o.DryRun, AllowExported: o.AllowExported})
		if err != nil {
			o.Log.Info().Err(err).Str("lvol", ref.String()).Msg("delete")
		}
		doc.Results = append(doc.Results, report.NewDeleteResult(res, err))
		code |= res.ExitCode
	}
	doc.Notes = append([]string{}, s.Notes()...)
	doc.Exit, doc.Meaning = code, report.ExitMeaning(code)
	return doc
}
