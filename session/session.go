// Package session holds what a write command (delete, repair) holds for
// its whole run: the journal (locked by the caller: one writer at a time),
// the target and its live view, the devices deletions are verified on; it
// wires repair's executor to them, runs check's comparison over that view,
// and keeps the journal marks of lvstore reloads (so that a reload killed
// half-way is rolled forward by the next run).
package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/checkrun"
	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/repair/adapt"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

// Config is what a write command was told.
type Config struct {
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

// Session is one write command's hold on the journal and the target.
type Session struct {
	cfg Config
	// Journal is the locked journal of Config.
	Journal *journal.Journal
	// Incarnation identifies the target run ("" when unknown).
	Incarnation string
	// Live is the target's view, read at Open (and again by AwaitLvstores).
	Live reconcile.Live
	// Devices are the base devices deletions are verified on.
	Devices []string

	c     *spdk.Client
	pid   int
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
	if s.c != nil {
		s.c.Close()
	}
}

// Notes are what the session found worth telling, in order.
func (s *Session) Notes() []string { return s.notes }

// Open connects to the target of cfg, asks who it is and what it holds,
// and finds the devices as check does. Failures are *report.Failure.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	s := &Session{cfg: cfg, Journal: cfg.Journal}
	c, err := spdk.Dial(ctx, cfg.Socket, spdk.WithTimeout(cfg.Timeout))
	if err != nil {
		if ctx.Err() != nil {
			return nil, report.Fail(report.ExitCancelled, fmt.Errorf("cancelled while connecting to %s", cfg.Socket))
		}
		return nil, report.Fail(report.ExitOperational, fmt.Errorf("cannot reach spdk_tgt at %s: %w (is it running? is --socket right?)", cfg.Socket, err))
	}
	s.c = c
	s.Incarnation = cfg.Incarnation
	if s.Incarnation == "" {
		inc, err := c.Incarnation(ctx)
		if err != nil {
			s.Note("target incarnation unknown (%v); pass --incarnation", err)
		} else {
			s.Incarnation, s.pid = inc.String(), inc.PID
		}
	}
	live, notes, err := collect.Live(ctx, c)
	for _, n := range notes {
		s.Note("%s", n)
	}
	if err != nil {
		s.Close()
		return nil, report.Fail(report.ExitOperational, fmt.Errorf("live view from %s: %w", cfg.Socket, err))
	}
	s.Live = live
	s.Devices = cfg.Devices
	if len(s.Devices) == 0 {
		var undiscovered []string
		s.Devices, undiscovered = checkrun.DiscoverDevices(&s.Live, s.pid, "/proc")
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

// Target is repair's view of the session's client.
func (s *Session) Target() repair.Target { return adapt.NewTarget(s.c) }

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
	cmp, err := checkrun.Compare(ctx, checkrun.Comparison{
		Log: s.cfg.Log, Journal: s.Journal, RunID: runID, Incarnation: s.Incarnation, Target: s.cfg.Socket,
		TargetStart: checkrun.TargetStart(s.Incarnation), Observe: s.Incarnation != "", Mode: scanner.ModeRecovery,
		TmpDir: s.cfg.TmpDir, Progress: stderr, Now: time.Now,
	}, s.Live, s.Devices)
	s.notes = append(s.notes, cmp.Notes...)
	if err != nil {
		return nil, false, err
	}
	return cmp.Findings, cmp.OpErr, nil
}

// A reload killed between bdev_aio_delete and bdev_aio_create leaves the
// lvstore unloaded, with nothing on the target to say so. Repair marks a
// reload's beginning and end in the journal; the next run finds a
// beginning without an end and rolls it forward.
const (
	EventReloadBegin journal.EventKind = "reload-begin"
	EventReloadEnd   journal.EventKind = "reload-end"
)

// aioParams is the bdev_aio_create a reload must end with.
type aioParams struct {
	Name      string `json:"name"`
	Filename  string `json:"filename"`
	BlockSize uint32 `json:"block_size"`
}

const reloadParamsTag = "then bdev_aio_create "

// MarkReloads records a beginning for each lvstore the plan reloads.
func (s *Session) MarkReloads(ctx context.Context, plan repair.Plan, runID string) []string {
	var marked []string
	tg := s.Target()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	stores, err := tg.Lvstores(cctx)
	if err != nil {
		return nil // the reload's own inspection fails the same way
	}
	bdevs, err := tg.Bdevs(cctx)
	if err != nil {
		return nil
	}
	for _, st := range plan.Steps {
		if st.Action != repair.ActionReloadDelete || slices.Contains(marked, st.LvstoreUUID) {
			continue
		}
		i := slices.IndexFunc(stores, func(l repair.Lvstore) bool { return strings.EqualFold(l.UUID, st.LvstoreUUID) })
		if i < 0 {
			continue
		}
		j := slices.IndexFunc(bdevs, func(b repair.Bdev) bool { return b.Name == stores[i].BaseBdev })
		if j < 0 || bdevs[j].AioFilename == "" {
			continue // not an AIO bdev: the reloader refuses it
		}
		p, _ := json.Marshal(aioParams{Name: bdevs[j].Name, Filename: bdevs[j].AioFilename, BlockSize: bdevs[j].BlockSize})
		_, err := s.Journal.RecordEvent(journal.Event{Kind: EventReloadBegin, Incarnation: s.Incarnation, LvstoreUUID: st.LvstoreUUID, RunID: runID,
			Detail: fmt.Sprintf("reload of lvstore %s: bdev_aio_delete %s, %s%s", stores[i].Name, bdevs[j].Name, reloadParamsTag, p)})
		if err != nil {
			s.Note("journal: reload of %s not marked (%v)", stores[i].Name, err)
			continue
		}
		marked = append(marked, st.LvstoreUUID)
	}
	return marked
}

// EndReload records the end of the reload of lvstore lvsUUID, and how.
func (s *Session) EndReload(lvsUUID, runID, how string) {
	if _, err := s.Journal.RecordEvent(journal.Event{Kind: EventReloadEnd, Incarnation: s.Incarnation, LvstoreUUID: lvsUUID, RunID: runID, Detail: how}); err != nil {
		s.Note("journal: end of the reload of %s not recorded (%v)", lvsUUID, err)
	}
}

// OpenReloads returns the beginnings without an end, by lvstore uuid.
func OpenReloads(j *journal.Journal) (map[string]journal.Event, error) {
	evs, err := j.Timeline(time.Time{})
	if err != nil {
		return nil, err
	}
	open := map[string]journal.Event{}
	for _, e := range evs {
		switch e.Kind {
		case EventReloadBegin:
			open[e.LvstoreUUID] = e
		case EventReloadEnd:
			delete(open, e.LvstoreUUID)
		}
	}
	return open, nil
}

// FinishReloads rolls interrupted reloads forward: an lvstore that is
// loaded again closes its mark; one that is not gets its base bdev
// re-created when the operator said --yes, else the exact call is named.
// It returns the lvstores whose base bdev it re-created.
func (s *Session) FinishReloads(ctx context.Context, apply bool, runID string) ([]string, error) {
	open, err := OpenReloads(s.Journal)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var recreated []string
	for _, lvs := range slices.Sorted(maps.Keys(open)) {
		e := open[lvs]
		if slices.ContainsFunc(s.Live.Lvstores, func(l reconcile.LLvstore) bool { return strings.EqualFold(l.UUID, lvs) }) {
			s.EndReload(lvs, runID, "lvstore loaded again (found by a later run)")
			continue
		}
		_, raw, ok := strings.Cut(e.Detail, reloadParamsTag)
		var p aioParams
		if !ok || json.Unmarshal([]byte(raw), &p) != nil || p.Name == "" || p.Filename == "" {
			s.Note("an earlier reload of lvstore %s was interrupted and its base bdev is unknown: check the target, restart it if the lvstore is missing", lvs)
			continue
		}
		call := fmt.Sprintf("bdev_aio_create %s %s %d", p.Filename, p.Name, p.BlockSize)
		if !apply {
			s.Note("an earlier reload of lvstore %s was interrupted after its base bdev was removed: the lvstore is NOT loaded. `lvfsck repair --yes` re-creates it (%s), or restart the target", lvs, call)
			continue
		}
		tg := s.Target()
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := tg.AioCreate(cctx, p.Filename, p.Name, p.BlockSize)
		cancel()
		if err != nil {
			s.Note("an earlier reload of lvstore %s was interrupted; re-creating its base bdev (%s) failed: %v; restart the target", lvs, call, err)
			continue
		}
		s.Note("an earlier reload of lvstore %s was interrupted after its base bdev was removed; re-created it (%s)", lvs, call)
		s.EndReload(lvs, runID, "rolled forward: "+call)
		recreated = append(recreated, lvs)
	}
	return recreated, nil
}

// AwaitLvstores reads the live view again until every lvstore in want is
// loaded (a real target loaded 1000 lvols in 0.76 s) or the time is up.
func (s *Session) AwaitLvstores(ctx context.Context, want []string) error {
	deadline := time.Now().Add(max(s.cfg.Timeout, 5*time.Second))
	for {
		live, _, err := collect.Live(ctx, s.c)
		if err == nil {
			s.Live = live
			missing := slices.DeleteFunc(slices.Clone(want), func(u string) bool {
				return slices.ContainsFunc(live.Lvstores, func(l reconcile.LLvstore) bool { return strings.EqualFold(l.UUID, u) })
			})
			if len(missing) == 0 {
				if len(s.cfg.Devices) == 0 {
					s.Devices = collect.Devices(s.Live)
				}
				return nil
			}
			err = fmt.Errorf("lvstore(s) %s not loaded", strings.Join(missing, ", "))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after re-creating the base bdev: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
