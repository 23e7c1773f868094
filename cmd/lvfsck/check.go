package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/history"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

type checkOpts struct {
	socket      string
	devices     []string
	images      []string
	files       collect.Files
	stateDir    *string
	noJournal   bool
	incarnation string
	keep        string
	json        bool
	prom        string
	mode        string
	tmpDir      string
	timeout     time.Duration
	noColor     bool
	now         func() time.Time // tests pin the clock
}

func init() {
	subcommands = append(subcommands, newCheckCmd)
}

func newCheckCmd(g *globalOpts) *cobra.Command {
	o := &checkOpts{now: time.Now}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "compare the persisted lvstores, spdk_tgt's live view and the journal (read-only)",
		Long: `check asks spdk_tgt (over --socket) which lvstores and lvols it holds, reads
each lvstore's base device (--device, or the AIO bdev's file that
bdev_get_bdevs names) as SPDK would load it after a restart, remembers what
it saw in the journal (--state-dir), and reports what does not add up:

  pending resurrection  an lvol the target dropped (a forced removal) whose
                        blob is still on disk: it comes back at the next start
  resurrected           an lvol whose deletion was recorded earlier is back
  not opened at load    on disk, never given a bdev in this target run
  name collision        a dropped lvol and a live one share a name
  phantom, attribute mismatches, lvstores in one view only, and every
  integrity finding of ` + "`lvfsck scan`" + `.

Offline forensics: --lvstores-json and --lvols-json (and optionally
--bdevs-json, --notify-json) with --image run the same comparison on
captured RPC answers and an image, with no target; the journal is used only
when --state-dir (or $LVFSCK_STATE_DIR) is given.

Devices are read in recovery mode by default beside a live target (what
would load if it restarted now), in auto mode offline.

Exit: 0 consistent, 4 errors found, 8 operational error (target unreachable,
device unreadable, journal locked; ORed with 4 when findings were made
anyway), 16 usage, 32 cancelled.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", spdk.DefaultSocket, "spdk_tgt's JSON-RPC unix socket")
	f.StringArrayVar(&o.devices, "device", nil, "base device or image of an lvstore (repeatable; default: found from bdev_get_bdevs)")
	f.StringArrayVar(&o.images, "image", nil, "image file (gzip allowed) for an offline check (repeatable)")
	f.StringVar(&o.files.Lvstores, "lvstores-json", "", "captured bdev_lvol_get_lvstores answer (offline)")
	f.StringVar(&o.files.Lvols, "lvols-json", "", "captured bdev_lvol_get_lvols answer (offline)")
	f.StringVar(&o.files.Bdevs, "bdevs-json", "", "captured bdev_get_bdevs answer (offline, optional)")
	f.StringVar(&o.files.Notify, "notify-json", "", "captured notify_get_notifications answer (offline, optional)")
	o.stateDir = addStateDirFlag(cmd)
	f.BoolVar(&o.noJournal, "no-journal", false, "do not open the journal (no history, nothing recorded)")
	f.StringVar(&o.incarnation, "incarnation", "", "target incarnation id (default: the socket peer's pid and start time)")
	f.StringVar(&o.keep, "keep", "90d", "journal retention: history older than this is pruned after the run")
	f.BoolVar(&o.json, "json", false, "write the "+report.Schema+" JSON document instead of the human report")
	f.StringVar(&o.prom, "prom", "", "also write a Prometheus textfile (node_exporter textfile collector) here")
	f.StringVar(&o.mode, "mode", "", "device read mode: auto, clean or recovery (default: recovery live, auto offline)")
	f.StringVar(&o.tmpDir, "tmpdir", "", "where gzip images are decompressed (default: $TMPDIR)")
	f.DurationVar(&o.timeout, "timeout", 60*time.Second, "deadline of each RPC call")
	f.BoolVar(&o.noColor, "no-color", false, "no ANSI colors in the human report")
	return cmd
}

// checkRun carries one check from gathering to rendering.
type checkRun struct {
	g       *globalOpts
	o       *checkOpts
	offline bool
	target  string
	inc     string
	started time.Time
	notes   []string
	opErr   bool   // a device could not be read, or the journal failed mid-run
	status  string // the report's one-word verdict, once rendered

	targetStart time.Time // when the target process started, if known
	pid         int       // the target's pid, when seen through SO_PEERCRED

	j     *journal.Journal
	runID string
}

func (r *checkRun) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.notes = append(r.notes, msg)
	r.g.log.Warn().Msg(msg)
}

func runCheck(cmd *cobra.Command, g *globalOpts, o *checkOpts) (err error) {
	r := &checkRun{g: g, o: o, started: o.now()}
	flags := cmd.Flags()
	r.offline = o.files.Lvstores != "" || o.files.Lvols != "" || o.files.Bdevs != "" || o.files.Notify != ""
	switch {
	case r.offline && flags.Changed("socket"):
		return usageError("--socket and captured answers (--lvstores-json, --lvols-json...) exclude each other")
	case r.offline && (o.files.Lvstores == "" || o.files.Lvols == ""):
		return usageError("an offline check needs both --lvstores-json and --lvols-json")
	case !r.offline && len(o.images) > 0:
		return usageError("--image is for an offline check (with --lvstores-json and --lvols-json); beside a live target use --device")
	}
	mode := scanner.Mode(o.mode)
	switch mode {
	case "":
		mode = scanner.ModeRecovery
		if r.offline {
			mode = scanner.ModeAuto
		}
	case scanner.ModeAuto, scanner.ModeClean, scanner.ModeRecovery:
	default:
		return usageError("--mode %q: want auto, clean or recovery", o.mode)
	}
	keep, err := history.ParseSince(o.keep)
	if err != nil || keep <= 0 {
		return usageError("--keep %q: want a positive duration such as 90d or 720h", o.keep)
	}
	if len(o.incarnation) > 256 {
		return usageError("--incarnation: over 256 bytes")
	}
	// The journal is the default beside a live target; offline it is used
	// only when asked for, so a laptop checking a bundle needs no /var/lib.
	useJournal := !o.noJournal && (!r.offline || flags.Changed("state-dir") || os.Getenv(stateDirEnv) != "")

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()

	// The journal first: a locked one fails before anything else is done,
	// and a failed run can still report the last success.
	if useJournal {
		j, err := openJournal(g, *o.stateDir)
		if err != nil {
			return err
		}
		r.j = j
		defer func() {
			if cerr := j.Close(); cerr != nil {
				g.log.Error().Err(cerr).Msg("close journal")
			}
		}()
	}

	// 1. The live view.
	var live reconcile.Live
	if r.offline {
		r.target = "captured answers"
		if len(o.images) > 0 {
			r.target = o.images[0]
		}
		r.inc = o.incarnation
		a, err := collect.LoadFiles(o.files)
		if err != nil {
			return r.fail(out, report.ExitOperational, fmt.Errorf("offline check: %w", err))
		}
		live = collect.BuildLive(a)
	} else {
		r.target = o.socket
		c, err := spdk.Dial(ctx, o.socket, spdk.WithTimeout(o.timeout))
		if err != nil {
			if ctx.Err() != nil {
				return r.fail(out, report.ExitCancelled, fmt.Errorf("cancelled while connecting to %s", o.socket))
			}
			return r.fail(out, report.ExitOperational, fmt.Errorf("cannot reach spdk_tgt at %s: %w (is it running? is --socket right?)", o.socket, err))
		}
		defer c.Close()
		r.inc = o.incarnation
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
			if r.targetStart, err = collect.TargetStart("/proc", inc); err != nil {
				g.log.Debug().Err(err).Msg("target start time")
			}
		}
		var notes []string
		live, notes, err = collect.Live(ctx, c)
		for _, n := range notes {
			r.note("%s", n)
		}
		if err != nil {
			if ctx.Err() != nil {
				return r.fail(out, report.ExitCancelled, fmt.Errorf("cancelled while reading the live view: %w", err))
			}
			return r.fail(out, report.ExitOperational, fmt.Errorf("live view from %s: %w", o.socket, err))
		}
	}

	// 2. The persisted view.
	devices := append(append([]string(nil), o.images...), o.devices...)
	if !r.offline && len(o.devices) == 0 {
		if r.pid > 0 {
			if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", r.pid)); err == nil {
				collect.ResolveDevices(&live, cwd)
			}
		}
		devices = collect.Devices(live)
		for _, name := range collect.Undiscovered(live) {
			r.note("lvstore %s: its base bdev names no file (not an AIO bdev); pass its device with --device", name)
		}
	}
	// 3. The run, in the journal: begun before the slow part, so a killed
	// run shows as unfinished.
	code := report.ExitOK
	if r.j != nil {
		j := r.j
		r.runID, err = j.BeginRun(journal.Run{Command: "check", Started: r.started, Incarnation: r.inc, Target: r.target, Devices: devices})
		if err != nil {
			return r.fail(out, report.ExitOperational, fmt.Errorf("journal: %w", err))
		}
		// Whatever happens from here, the run is closed in the journal.
		defer func() {
			final := code
			var ee *exitError
			if errors.As(err, &ee) {
				final = ee.code
			} else if err != nil {
				final = report.ExitOperational
			}
			outcome := r.status
			if outcome == "" || !report.RunCompleted(final) {
				outcome = "incomplete"
			}
			if ferr := j.FinishRun(r.runID, outcome, final); ferr != nil {
				g.log.Error().Err(ferr).Msg("journal: finish run")
			}
			r.prune(keep)
		}()
	}

	scans, cancelled := r.scan(ctx, cmd.ErrOrStderr(), devices, mode)
	if cancelled {
		return r.fail(out, report.ExitCancelled, errors.New("cancelled while reading devices"))
	}
	var persisted *reconcile.Persisted
	if len(scans) > 0 {
		persisted = collect.Persisted(scans, collect.Complete(live, scans))
	}

	// 4. Record what the target shows now, then read the history.
	if r.j != nil && !r.offline {
		r.observe(live, persisted)
	}
	var hist reconcile.History
	earlier := 0
	if r.j != nil {
		h, err := collect.LoadHistory(r.j, collect.HistoryOptions{Incarnation: r.inc, Socket: r.target, TargetStart: r.targetStart})
		if err != nil {
			return r.fail(out, report.ExitOperational, fmt.Errorf("journal: %w", err))
		}
		hist, earlier = h, h.EarlierRuns(r.inc, r.runID)
	} else {
		r.notes = append(r.notes, "no journal: no history was used and nothing was recorded")
	}

	// 5. Compare.
	fs := reconcile.Check(reconcile.Input{
		Persisted:   persisted,
		Live:        live,
		History:     hist,
		Incarnation: reconcile.Incarnation{ID: r.inc, EarlierRuns: earlier},
	})
	fs = append(fs, collect.IntegrityFindings(scans)...)
	finding.Sort(fs)
	if r.j != nil {
		r.record(fs, live, scans)
	}

	// 6. Report.
	code = report.ExitFor(fs)
	if r.opErr {
		code |= report.ExitOperational
	}
	s := report.Summary{
		Command: "check", Version: version, Target: r.target, Incarnation: r.inc,
		Lvstores: lvstoreSummaries(live, scans, r.offline), Findings: fs,
		Started: r.started, Finished: o.now(), Exit: code, Notes: r.notes,
	}
	r.status = s.Status()
	for _, sc := range scans {
		if sc.View != nil {
			s.ScannedBytes += int64(sc.View.Stats.BytesRead)
			s.ScanDuration += sc.View.Stats.Duration
		}
	}
	if o.json {
		err = report.WriteJSON(out, s)
	} else {
		err = report.WriteText(out, s, report.TextOptions{Color: useColor(out, o.noColor)})
	}
	if err != nil {
		code |= report.ExitOperational
		return exitCode(code, fmt.Errorf("write report: %w", err))
	}
	if o.prom != "" {
		if perr := report.WritePromFile(o.prom, s, r.lastSuccess(s)); perr != nil {
			code |= report.ExitOperational
			return exitCode(code, fmt.Errorf("--prom: %w", perr))
		}
	}
	if code != report.ExitOK {
		return exitCode(code, nil)
	}
	return nil
}

// fail ends a run that could not finish its check: the error goes to
// stderr (main prints it), and machines still get what they read — the
// JSON document and the Prometheus file, with status "incomplete" and the
// last success from the journal — so monitoring sees the failure.
func (r *checkRun) fail(out io.Writer, code int, err error) error {
	if r.o.json || r.o.prom != "" {
		s := report.Summary{
			Command: "check", Version: version, Target: r.target, Incarnation: r.inc,
			Started: r.started, Finished: r.o.now(), Exit: code,
			Findings: []finding.Finding{}, Notes: append(r.notes, err.Error()),
		}
		if r.o.json {
			if werr := report.WriteJSON(out, s); werr != nil {
				r.g.log.Error().Err(werr).Msg("write report")
			}
		}
		if r.o.prom != "" {
			if perr := report.WritePromFile(r.o.prom, s, r.lastSuccess(s)); perr != nil {
				r.g.log.Error().Err(perr).Msg("--prom")
			}
		}
	}
	return exitCode(code, err)
}

// scan reads each device; a device that cannot be read becomes an
// unreadable Scan (reconcile reports it) and makes the exit operational.
func (r *checkRun) scan(ctx context.Context, stderr io.Writer, devices []string, mode scanner.Mode) ([]collect.Scan, bool) {
	var scans []collect.Scan
	seen := map[string]bool{}
	for _, dev := range devices {
		if seen[dev] {
			continue
		}
		seen[dev] = true
		opts := scanner.Options{Mode: mode, Device: dev}
		bar := report.NewProgressBar(stderr)
		if bar != nil {
			opts.Progress = bar.Update
		}
		v, err := scanner.ScanPath(ctx, dev, opts, r.o.tmpDir)
		if bar != nil {
			bar.Done()
		}
		if ctx.Err() != nil {
			return nil, true
		}
		if err != nil {
			r.opErr = true
			r.g.log.Error().Err(err).Str("device", dev).Msg("cannot read device")
			scans = append(scans, collect.Scan{Device: dev, Err: err})
			continue
		}
		if v.Buffered {
			r.note("%s: O_DIRECT refused by the file system, read through the page cache (may be stale beside a running target)", dev)
		}
		r.g.log.Info().Str("device", dev).Str("mode", string(v.Mode)).Int("blobs", len(v.Blobs)).
			Dur("took", v.Stats.Duration).Msg("device read")
		scans = append(scans, collect.Scan{Device: dev, View: v})
	}
	return scans, false
}

// observe records the live view of each lvstore in the journal. Without an
// incarnation nothing can be tied to this target run, so nothing is
// recorded.
func (r *checkRun) observe(live reconcile.Live, p *reconcile.Persisted) {
	if r.inc == "" {
		r.note("no incarnation: this run's live view was not recorded in the journal")
		return
	}
	blobOf := map[string]uint64{}
	if p != nil {
		for _, l := range p.Lvols {
			blobOf[l.UUID] = l.BlobID
		}
	}
	by := map[string][]journal.LvolObservation{}
	for _, ls := range live.Lvstores {
		by[ls.UUID] = []journal.LvolObservation{}
	}
	for _, l := range live.Lvols {
		if l.LvstoreUUID == "" || l.UUID == "" {
			continue
		}
		o := journal.LvolObservation{
			UUID: l.UUID, Name: l.Name, Alias: l.Alias, LvstoreUUID: l.LvstoreUUID, LvstoreName: l.LvstoreName,
			BlobID: blobOf[l.UUID], SizeBytes: l.SizeBytes, Thin: l.Thin, Snapshot: l.Snapshot, Clone: l.Clone,
			BaseSnapshot: l.BaseSnapshot,
		}
		if l.ReadOnly != nil {
			o.ReadOnly = *l.ReadOnly
		}
		by[l.LvstoreUUID] = append(by[l.LvstoreUUID], o)
	}
	at := r.o.now()
	for _, lvs := range sortedMapKeys(by) {
		if lvs == "" {
			continue
		}
		if _, err := r.j.ObserveLvols(r.inc, lvs, at, dedupObs(by[lvs])); err != nil {
			r.opErr = true
			r.note("journal: recording the live view of lvstore %s failed: %v", lvs, err)
		}
	}
}

// dedupObs keeps the first of duplicate uuids: the journal refuses them,
// and a target listing one uuid twice is reconcile's finding, not a reason
// to lose the observation.
func dedupObs(in []journal.LvolObservation) []journal.LvolObservation {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, o := range in {
		if !seen[o.UUID] {
			seen[o.UUID] = true
			out = append(out, o)
		}
	}
	return out
}

// record stores the findings (known ones keep their first-seen time), a
// resurrected event per lvol and incarnation, and the run's counts.
func (r *checkRun) record(fs []finding.Finding, live reconcile.Live, scans []collect.Scan) {
	covered := map[string]bool{}
	for _, ls := range live.Lvstores {
		covered[ls.UUID] = true
	}
	for _, s := range scans {
		if s.View != nil && s.View.Lvstore.UUID != "" {
			covered[s.View.Lvstore.UUID] = true
		}
	}
	at := r.o.now()
	recs, err := r.j.UpsertFindingsIn(at, sortedMapKeys(covered), fs)
	if err != nil {
		r.opErr = true
		r.note("journal: recording findings failed: %v", err)
	}
	// A finding known from earlier runs says since when: how long a volume
	// has been waiting to come back matters to whoever reads the report.
	for i := range fs {
		if i >= len(recs) || recs[i].Count < 2 || recs[i].FirstSeen.IsZero() {
			continue
		}
		ev := make(map[string]string, len(fs[i].Evidence)+1)
		maps.Copy(ev, fs[i].Evidence)
		since := fmt.Sprintf("reported since %s (%d runs)", recs[i].FirstSeen.UTC().Format(time.RFC3339), recs[i].Count)
		if ev[reconcile.EvJournal] != "" {
			since = ev[reconcile.EvJournal] + "; " + since
		}
		ev[reconcile.EvJournal] = since
		fs[i].Evidence = ev
	}
	counts := map[string]int{}
	for _, f := range fs {
		counts[string(f.Code)]++
		if f.Code == reconcile.CodeResurrected && f.LvolUUID != "" {
			r.recordResurrected(f, at)
		}
	}
	if err := r.j.SetFindingCounts(r.runID, counts); err != nil {
		r.g.log.Warn().Err(err).Msg("journal: finding counts")
	}
}

func (r *checkRun) recordResurrected(f finding.Finding, at time.Time) {
	tl, err := r.j.LvolTimeline(f.LvolUUID)
	if err != nil {
		r.g.log.Warn().Err(err).Msg("journal: lvol timeline")
		return
	}
	for _, e := range tl {
		if e.Kind == journal.EventResurrected && e.Incarnation == r.inc {
			return // already told for this target run
		}
	}
	name := f.LvolName
	if f.Lvstore != "" && name != "" {
		name = f.Lvstore + "/" + name
	}
	_, err = r.j.RecordEvent(journal.Event{
		At: at, Kind: journal.EventResurrected, Incarnation: r.inc, LvstoreUUID: f.LvstoreUUID,
		LvolUUID: f.LvolUUID, LvolName: name, BlobID: f.BlobID, RunID: r.runID, Detail: f.Message,
	})
	if err != nil {
		r.g.log.Warn().Err(err).Msg("journal: record resurrected")
	}
}

// prune applies --keep after the run; a failure only costs disk space.
func (r *checkRun) prune(keep time.Duration) {
	st, err := r.j.Prune(r.o.now().Add(-keep))
	if err != nil {
		r.g.log.Warn().Err(err).Msg("journal: prune")
		return
	}
	r.g.log.Debug().Interface("pruned", st).Msg("journal pruned")
}

// lastSuccess is the end of the last run that completed its check: this
// one, or the newest completed one in the journal.
func (r *checkRun) lastSuccess(s report.Summary) time.Time {
	if report.RunCompleted(s.Exit) {
		return s.Finished
	}
	if r.j == nil {
		return time.Time{}
	}
	runs, err := r.j.Runs()
	if err != nil {
		return time.Time{}
	}
	var last time.Time
	for _, run := range runs {
		if run.Command == "check" && !run.Unfinished() && report.RunCompleted(run.ExitCode) && run.Finished.After(last) {
			last = run.Finished
		}
	}
	return last
}

// lvstoreSummaries lists each lvstore of either view once, with its lvol
// count (persisted ∪ live, by uuid) and which views saw it.
func lvstoreSummaries(live reconcile.Live, scans []collect.Scan, offline bool) []report.LvstoreSummary {
	type acc struct {
		name       string
		disk, live bool
		lvols      map[string]bool
	}
	m := map[string]*acc{}
	get := func(u, name string) *acc {
		a := m[u]
		if a == nil {
			a = &acc{name: name, lvols: map[string]bool{}}
			m[u] = a
		}
		if a.name == "" {
			a.name = name
		}
		return a
	}
	for _, ls := range live.Lvstores {
		get(ls.UUID, ls.Name).live = true
	}
	for _, l := range live.Lvols {
		if a := m[l.LvstoreUUID]; a != nil {
			a.lvols[l.UUID] = true
		}
	}
	for _, s := range scans {
		if s.View == nil || s.View.Lvstore.UUID == "" {
			continue
		}
		a := get(s.View.Lvstore.UUID, s.View.Lvstore.Name)
		a.disk = true
		for _, b := range s.View.Blobs {
			if b.IsLvol {
				a.lvols[b.LvolUUID] = true
			}
		}
	}
	liveWord := "live"
	if offline {
		liveWord = "captured"
	}
	out := make([]report.LvstoreSummary, 0, len(m))
	for u, a := range m {
		src := liveWord
		switch {
		case a.disk && a.live:
			src = "disk+" + liveWord
		case a.disk:
			src = "disk"
		}
		out = append(out, report.LvstoreSummary{Name: a.name, UUID: u, Lvols: len(a.lvols), Source: src})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].UUID < out[j].UUID
	})
	return out
}

func sortedMapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
