package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
)

// CheckConfig is one check. The caller validates flags and opens the
// journal.
type CheckConfig struct {
	Socket      string        // spdk_tgt's socket, when not offline
	Files       collect.Files // captured answers: any set makes the check offline
	Images      []string      // images of an offline check
	Devices     []string      // base devices given explicitly
	Incarnation string        // "": asked from the socket peer
	Mode        scanner.Mode
	TmpDir      string
	Timeout     time.Duration    // of each RPC call
	Journal     *journal.Journal // nil: no history used, nothing recorded
	Keep        time.Duration    // journal retention, applied by Finish
	Version     string
	Now         func() time.Time
	Log         zerolog.Logger
	Progress    io.Writer // where progress bars are drawn, if a terminal
	ProcRoot    string    // "" means /proc; tests point it elsewhere
	// TargetPID, when set, is the target's process in another mount
	// namespace: Socket is already reached through its /proc root, and its
	// devices are too (ThroughProc).
	TargetPID int
	// Owner, when set, restricts the findings reported to the lvols of one
	// control plane (package owner); every finding is still recorded.
	Owner string
	// Target names what an offline check read, for the report ("" names
	// the first image): a bundle's path rather than its extracted copy.
	Target string
}

// Offline tells whether cfg checks captured answers rather than a target.
func (cfg CheckConfig) Offline() bool { return cfg.Files != (collect.Files{}) }

// CheckResult is a check's outcome. It is returned on failure too, with what a
// failed run still reports (status "incomplete", the error among the
// notes), so that machines reading JSON or Prometheus see the failure.
type CheckResult struct {
	Summary report.Summary
	// OpErr: a device could not be read, or the journal failed mid-run.
	OpErr bool
	// Scans are the devices' persisted views (watch keeps their md page
	// positions between full checks).
	Scans []collect.Scan

	j      *journal.Journal
	runID  string
	keep   time.Duration
	now    func() time.Time
	log    zerolog.Logger
	status string
}

// LastSuccess is the end of the last run that completed its check: this
// one, or the newest completed one in the journal.
func (r *CheckResult) LastSuccess() time.Time {
	if report.RunCompleted(r.Summary.Exit) {
		return r.Summary.Finished
	}
	if r.j == nil {
		return time.Time{}
	}
	runs, err := r.j.Runs()
	if err != nil {
		return time.Time{}
	}
	return lastCompletedCheck(runs)
}

// Finish closes the run in the journal with its final exit code (the
// report's, ORed with whatever rendering it failed) and applies the
// retention. Without a journal run it does nothing.
func (r *CheckResult) Finish(final int) {
	if r.j == nil || r.runID == "" {
		return
	}
	outcome := r.status
	if outcome == "" || !report.RunCompleted(final) {
		outcome = "incomplete"
	}
	if err := r.j.FinishRun(r.runID, outcome, final); err != nil {
		r.log.Error().Err(err).Msg("journal: finish run")
	}
	// A failed prune only costs disk space.
	st, err := r.j.Prune(r.now().Add(-r.keep))
	if err != nil {
		r.log.Warn().Err(err).Msg("journal: prune")
		return
	}
	r.log.Debug().Interface("pruned", st).Msg("journal pruned")
}

// checkRun carries one check from gathering to the summary.
type checkRun struct {
	cfg         CheckConfig
	res         *CheckResult
	target      string
	inc         string
	started     time.Time
	notes       []string
	targetStart time.Time
	tgt         *Target                                           // nil offline
	relive      func(ctx context.Context) (reconcile.Live, error) // nil offline
}

func (r *checkRun) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.notes = append(r.notes, msg)
	// The note is in the report; a warn log would repeat it on stderr (as a
	// JSON line when stderr is not a terminal) beside the human report.
	r.cfg.Log.Info().Msg(msg)
}

// failed is the Result of a run that could not finish its check.
func (r *checkRun) failed(code int, err error) (*CheckResult, error) {
	r.res.Summary = report.Summary{
		Command: "check", Version: r.cfg.Version, Target: r.target, Incarnation: r.inc,
		Started: r.started, Finished: r.cfg.Now(), Exit: code,
		Findings: []finding.Finding{}, Notes: append(r.notes, err.Error()),
	}
	return r.res, report.Fail(code, err)
}

// Check checks once: live view, devices, journal, comparison, summary. The
// journal run it begins stays open until the caller's Finish. On failure
// the error is a *report.Failure and the CheckResult still holds what to
// report.
func Check(ctx context.Context, cfg CheckConfig) (*CheckResult, error) {
	r := &checkRun{cfg: cfg, started: cfg.Now()}
	r.res = &CheckResult{j: cfg.Journal, keep: cfg.Keep, now: cfg.Now, log: cfg.Log}
	offline := cfg.Offline()

	// 1. The live view.
	var live reconcile.Live
	if offline {
		r.target = "captured answers"
		if len(cfg.Images) > 0 {
			r.target = cfg.Images[0]
		}
		if cfg.Target != "" {
			r.target = cfg.Target
		}
		r.inc = cfg.Incarnation
		a, err := collect.LoadFiles(cfg.Files)
		if err != nil {
			return r.failed(report.ExitOperational, fmt.Errorf("offline check: %w", err))
		}
		live = collect.BuildLive(a)
	} else {
		r.target = cfg.Socket
		t, err := Connect(ctx, TargetConfig{Socket: cfg.Socket, Incarnation: cfg.Incarnation, Timeout: cfg.Timeout, ProcRoot: cfg.ProcRoot, Log: cfg.Log})
		if t != nil {
			defer t.Close()
			r.tgt, r.inc, r.targetStart, r.relive = t, t.Incarnation, t.Start, t.Relive
			r.notes = append(r.notes, t.Notes...)
		}
		if err != nil {
			var e *report.Failure
			errors.As(err, &e)
			return r.failed(e.Code, e.Err)
		}
		live = t.Live
	}

	// 2. The persisted view.
	devices := append(append([]string(nil), cfg.Images...), cfg.Devices...)
	if !offline && len(cfg.Devices) == 0 {
		var undiscovered []string
		devices, undiscovered = r.tgt.Devices(procRoot(cfg.ProcRoot), cfg.TargetPID)
		live = r.tgt.Live
		for _, name := range undiscovered {
			r.note("lvstore %s: its base bdev names no file (not an AIO bdev); pass its device with --device", name)
		}
	}

	// 3. The run, in the journal: begun before the slow part, so a killed
	// run shows as unfinished.
	if j := cfg.Journal; j != nil && !j.ReadOnly() {
		id, err := j.BeginRun(journal.Run{Command: "check", Started: r.started, Incarnation: r.inc, Target: r.target, Devices: devices})
		if err != nil {
			return r.failed(report.ExitOperational, fmt.Errorf("journal: %w", err))
		}
		r.res.runID = id
	}

	// 4. Read, record, compare.
	cmp, err := Compare(ctx, Comparison{
		Log: cfg.Log, Journal: cfg.Journal, RunID: r.res.runID, Incarnation: r.inc, Target: r.target,
		TargetStart: r.targetStart, Observe: !offline, Mode: cfg.Mode, TmpDir: cfg.TmpDir,
		Progress: cfg.Progress, Now: cfg.Now, Relive: r.relive,
	}, live, devices)
	r.notes = append(r.notes, cmp.Notes...)
	if err != nil {
		var e *report.Failure
		errors.As(err, &e)
		return r.failed(e.Code, e.Err)
	}

	// 5. The summary, with each lvol's owner named.
	Owners(cmp.Findings, cmp.Scans)
	if cfg.Owner != "" {
		var note string
		cmp.Findings, note = OnlyOwner(cmp.Findings, cfg.Owner)
		if note != "" {
			r.notes = append(r.notes, note)
		}
	}
	code := report.ExitFor(cmp.Findings)
	if cmp.OpErr {
		code |= report.ExitOperational
	}
	s := report.Summary{
		Command: "check", Version: cfg.Version, Target: r.target, Incarnation: r.inc,
		Lvstores: LvstoreSummaries(live, cmp.Scans, offline), Findings: cmp.Findings,
		Started: r.started, Finished: cfg.Now(), Exit: code, Notes: r.notes,
		DeleteSemantics: &report.DeleteSemantics{Semantics: cmp.Semantics.Semantics, From: cmp.Semantics.From},
	}
	for _, sc := range cmp.Scans {
		if sc.View != nil {
			s.ScannedBytes += int64(sc.View.Stats.BytesRead)
			s.ScanDuration += sc.View.Stats.Duration
		}
	}
	r.res.Summary, r.res.OpErr, r.res.status, r.res.Scans = s, cmp.OpErr, s.Status(), cmp.Scans
	return r.res, nil
}
