package run

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/procfs"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/repair/adapt"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
)

// SessionConfig is what a write command was told.
type SessionConfig struct {
	Socket      string
	Devices     []string // base devices; default: found from the live view
	Incarnation string   // "": asked from the socket peer
	Timeout     time.Duration
	TmpDir      string
	// BackoffInitial is the first delay of a busy retry (0: repair's default).
	BackoffInitial time.Duration
	Journal        *journal.Journal // opened and locked by the caller
	Log            zerolog.Logger
}

// Session is what a write command (delete, repair) holds for its whole
// run: the journal (locked by the caller: one writer at a time), the target
// and its live view, the devices deletions are verified on. It wires
// repair's executor to them, runs check's comparison over that view, and
// keeps the journal marks of lvstore reloads (reload.go).
type Session struct {
	cfg SessionConfig
	// Journal is the locked journal of Config.
	Journal *journal.Journal
	// Incarnation identifies the target run ("" when unknown).
	Incarnation string
	// Live is the target's view, read at Open (and again by AwaitLvstores).
	Live reconcile.Live
	// Devices are the base devices deletions are verified on.
	Devices []string

	tgt   *Target
	notes []string
}

// Note adds a note for the operator. The delete and repair reports print
// it, so it is logged at info only: at warn it would also come out on
// stderr (as a JSON line when stderr is not a terminal) beside the report.
func (s *Session) Note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	s.notes = append(s.notes, msg)
	s.cfg.Log.Info().Msg(msg)
}

// Close closes the connection to the target; the journal is the caller's.
func (s *Session) Close() {
	if s.tgt != nil {
		s.tgt.Close()
	}
}

// Notes are what the session found worth telling, in order.
func (s *Session) Notes() []string { return s.notes }

// OpenSession connects to the target of cfg, asks who it is and what it
// holds, and finds the devices as check does. Failures are *report.Failure.
func OpenSession(ctx context.Context, cfg SessionConfig) (*Session, error) {
	s := &Session{cfg: cfg, Journal: cfg.Journal}
	t, err := Connect(ctx, TargetConfig{Socket: cfg.Socket, Incarnation: cfg.Incarnation, Timeout: cfg.Timeout, Log: cfg.Log})
	if t != nil {
		s.tgt, s.Incarnation = t, t.Incarnation
		s.notes = append(s.notes, t.Notes...)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Live = t.Live
	s.Devices = cfg.Devices
	if len(s.Devices) == 0 {
		var undiscovered []string
		s.Devices, undiscovered = t.Devices(procfs.Default, 0)
		s.Live = t.Live
		for _, name := range undiscovered {
			s.Note("lvstore %s: its base bdev names no file (not an AIO bdev); pass its device with --device, or deletions there cannot be verified", name)
		}
	}
	return s, nil
}

// BeginRun records the start of a command's run in the journal; FinishRun
// must follow.
func (s *Session) BeginRun(command string) (string, error) {
	id, err := s.Journal.BeginRun(journal.Run{Command: command, Started: time.Now(), Incarnation: s.Incarnation, Target: s.cfg.Socket, Devices: s.Devices})
	if err != nil {
		return "", report.Fail(report.ExitOperational, fmt.Errorf("journal: %w", err))
	}
	return id, nil
}

// FinishRun closes run runID in the journal with its final exit code.
func (s *Session) FinishRun(runID string, code int) error {
	return s.Journal.FinishRun(runID, report.ExitMeaning(code), code)
}

// writeRun is a write command's run in the journal, from begin to Finish.
type writeRun struct {
	s     *Session
	runID string
}

func (s *Session) begin(command string) (writeRun, error) {
	id, err := s.BeginRun(command)
	return writeRun{s: s, runID: id}, err
}

// Finish closes the run in the journal with its final exit code.
func (r writeRun) Finish(code int) error { return r.s.FinishRun(r.runID, code) }

// Target is repair's view of the session's client.
func (s *Session) Target() repair.Target { return adapt.NewTarget(s.tgt.Client) }

// Deleter wires repair's executor to this session.
func (s *Session) Deleter(by string, isRepair bool, runID string) *repair.Deleter {
	d := adapt.NewDisk(s.Devices...)
	d.TmpDir = s.cfg.TmpDir
	bo := repair.DefaultBackoff()
	if s.cfg.BackoffInitial > 0 {
		bo.Initial = s.cfg.BackoffInitial
	}
	return &repair.Deleter{
		Target:     s.Target(),
		Disk:       d,
		Journal:    &adapt.Journal{J: s.Journal, Incarnation: s.Incarnation, Socket: s.cfg.Socket, RunID: runID, By: by, Repair: isRepair},
		Clock:      repair.RealClock{},
		Backoff:    bo,
		RPCTimeout: s.cfg.Timeout,
	}
}

// Findings runs check's comparison (recovery-mode scan of the devices,
// the live view recorded, journal history, reconcile, findings recorded)
// over the session's live view. opErr: a device could not be read (the
// findings say which).
func (s *Session) Findings(ctx context.Context, stderr io.Writer, runID string) ([]finding.Finding, bool, error) {
	cmp, err := Compare(ctx, Comparison{
		Log: s.cfg.Log, Journal: s.Journal, RunID: runID, Incarnation: s.Incarnation, Target: s.cfg.Socket,
		TargetStart: s.tgt.Start, Observe: s.Incarnation != "", Mode: scanner.ModeRecovery,
		TmpDir: s.cfg.TmpDir, Progress: stderr, Now: time.Now,
	}, s.Live, s.Devices)
	s.notes = append(s.notes, cmp.Notes...)
	if err != nil {
		return nil, false, err
	}
	return cmp.Findings, cmp.OpErr, nil
}
