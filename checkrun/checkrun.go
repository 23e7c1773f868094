// Package checkrun is one `lvfsck check`: it gathers the live view (from
// spdk_tgt or captured answers, via collect), reads the devices, records
// the observation in the journal, compares the three views (reconcile),
// records the findings, and summarizes the run for report. `lvfsck repair`
// runs the same comparison (Compare) over the view its session holds.
// Rendering and exit-code plumbing stay with the caller.
package checkrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

// Config is one check. The caller validates flags and opens the journal.
type Config struct {
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
func (cfg Config) Offline() bool { return cfg.Files != (collect.Files{}) }

func (cfg Config) procRoot() string {
	if cfg.ProcRoot == "" {
		return "/proc"
	}
	return cfg.ProcRoot
}

// Result is a check's outcome. It is returned on failure too, with what a
// failed run still reports (status "incomplete", the error among the
// notes), so that machines reading JSON or Prometheus see the failure.
type Result struct {
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
func (r *Result) LastSuccess() time.Time {
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
func (r *Result) Finish(final int) {
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

// run carries one check from gathering to the summary.
type run struct {
	cfg         Config
	res         *Result
	target      string
	inc         string
	started     time.Time
	notes       []string
	targetStart time.Time
	pid         int
	relive      func(ctx context.Context) (reconcile.Live, error) // nil offline
}

func (r *run) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.notes = append(r.notes, msg)
	// The note is in the report; a warn log would repeat it on stderr (as a
	// JSON line when stderr is not a terminal) beside the human report.
	r.cfg.Log.Info().Msg(msg)
}

// failed is the Result of a run that could not finish its check.
func (r *run) failed(code int, err error) (*Result, error) {
	r.res.Summary = report.Summary{
		Command: "check", Version: r.cfg.Version, Target: r.target, Incarnation: r.inc,
		Started: r.started, Finished: r.cfg.Now(), Exit: code,
		Findings: []finding.Finding{}, Notes: append(r.notes, err.Error()),
	}
	return r.res, report.Fail(code, err)
}

// Run checks once: live view, devices, journal, comparison, summary. The
// journal run it begins stays open until the caller's Finish. On failure
// the error is a *report.Failure and the Result still holds what to report.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	r := &run{cfg: cfg, started: cfg.Now()}
	r.res = &Result{j: cfg.Journal, keep: cfg.Keep, now: cfg.Now, log: cfg.Log}
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
		var c *spdk.Client
		var err error
		live, c, err = r.liveView(ctx)
		if c != nil {
			defer c.Close()
			r.relive = func(ctx context.Context) (reconcile.Live, error) {
				after, _, err := collect.Live(ctx, c)
				return after, err
			}
		}
		if err != nil {
			var e *report.Failure
			errors.As(err, &e)
			return r.failed(e.Code, e.Err)
		}
	}

	// 2. The persisted view.
	devices := append(append([]string(nil), cfg.Images...), cfg.Devices...)
	if !offline && len(cfg.Devices) == 0 {
		var undiscovered []string
		if cfg.TargetPID > 0 {
			ThroughProc(&live, cfg.procRoot(), cfg.TargetPID)
		}
		devices, undiscovered = DiscoverDevices(&live, r.pid, cfg.procRoot())
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

// liveView asks the target at cfg.Socket what it holds, and who it is.
func (r *run) liveView(ctx context.Context) (reconcile.Live, *spdk.Client, error) {
	cfg := r.cfg
	r.target = cfg.Socket
	c, err := spdk.Dial(ctx, cfg.Socket, spdk.WithTimeout(cfg.Timeout))
	if err != nil {
		if ctx.Err() != nil {
			return reconcile.Live{}, nil, report.Fail(report.ExitCancelled, fmt.Errorf("cancelled while connecting to %s", cfg.Socket))
		}
		return reconcile.Live{}, nil, report.Fail(report.ExitOperational, fmt.Errorf("cannot reach spdk_tgt at %s: %w (is it running? is --socket right?)", cfg.Socket, err))
	}
	r.inc = cfg.Incarnation
	var inc spdk.Incarnation
	if r.inc == "" {
		inc, err = c.Incarnation(ctx)
		if err != nil {
			r.note("target incarnation unknown (%v): restarts cannot be told apart and \"listed earlier in this target run\" is not used as evidence; pass --incarnation", err)
		} else {
			r.inc = inc.String()
			r.pid = inc.PID
		}
	} else {
		inc, err = spdk.ParseIncarnation(r.inc)
	}
	if err == nil {
		// Log lines imported from before the target started are about
		// an earlier run of it; failing that, none is excluded.
		if r.targetStart, err = collect.TargetStart(cfg.procRoot(), inc); err != nil {
			cfg.Log.Debug().Err(err).Msg("target start time")
		}
	}
	live, notes, err := collect.Live(ctx, c)
	for _, n := range notes {
		r.note("%s", n)
	}
	if err != nil {
		if ctx.Err() != nil {
			return live, c, report.Fail(report.ExitCancelled, fmt.Errorf("cancelled while reading the live view: %w", err))
		}
		return live, c, report.Fail(report.ExitOperational, fmt.Errorf("live view from %s: %w", cfg.Socket, err))
	}
	return live, c, nil
}

// DiscoverDevices finds the lvstores' base devices in the live view (the
// files of their AIO bdevs; a relative one is resolved against the working
// directory of the target's process pid, when known) and the lvstores whose
// base bdev names no file.
func DiscoverDevices(live *reconcile.Live, pid int, procRoot string) (devices, undiscovered []string) {
	if pid > 0 {
		if cwd, err := os.Readlink(fmt.Sprintf("%s/%d/cwd", procRoot, pid)); err == nil {
			collect.ResolveDevices(live, cwd)
		}
	}
	return collect.Devices(*live), collect.Undiscovered(*live)
}

// TargetStart is when the target of incarnation inc started, or zero when
// that cannot be told.
func TargetStart(inc string) time.Time {
	i, err := spdk.ParseIncarnation(inc)
	if err != nil {
		return time.Time{}
	}
	t, err := collect.TargetStart("/proc", i)
	if err != nil {
		return time.Time{}
	}
	return t
}
