package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/scanner"
)

// Comparison is the part of a check that repair repeats over the live
// view its own session holds.
type Comparison struct {
	Log         zerolog.Logger
	Journal     *journal.Journal // nil: no history used, nothing recorded
	RunID       string           // the journal run findings are filed under
	Incarnation string
	Target      string    // the socket, or what an offline check read
	TargetStart time.Time // log evidence from before it is about an earlier run
	Observe     bool      // record the live view (it is a live target's)
	Mode        scanner.Mode
	TmpDir      string
	Progress    io.Writer // where progress bars are drawn, if a terminal
	Now         func() time.Time
	// Relive takes the live view again once the devices are read (nil: no
	// second look, as offline). What changed between the two views was in
	// flux while the disk was read: findings about it are info, not
	// errors, since a busy node is not a damaged one.
	Relive func(ctx context.Context) (reconcile.Live, error)
}

// Compared is what a comparison found.
type Compared struct {
	Findings []finding.Finding // sorted
	Scans    []collect.Scan
	Notes    []string // for the operator, in the order they arose
	OpErr    bool     // a device could not be read, or the journal failed
	// Semantics is which delete semantics the target has shown.
	Semantics reconcile.Observed
}

// comparer carries one comparison.
type comparer struct {
	c     Comparison
	notes []string
	opErr bool
}

func (r *comparer) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.notes = append(r.notes, msg)
	// In the report already: logged below the default level (see run.note).
	r.c.Log.Info().Msg(msg)
}

// Compare reads devices (recovery mode beside a live target), records the
// live view, reads the history, compares the three views, and records the
// findings. A device that cannot be read is a finding and sets OpErr. The
// error, a *report.Failure, is a cancellation or an unreadable journal; the notes
// gathered until then are returned with it.
func Compare(ctx context.Context, c Comparison, live reconcile.Live, devices []string) (Compared, error) {
	r := &comparer{c: c}
	scans, cancelled := r.scan(ctx, devices)
	if cancelled {
		return r.done(nil, nil), report.Fail(report.ExitCancelled, errors.New("cancelled while reading devices"))
	}
	var flux collect.Flux
	if c.Relive != nil {
		after, err := c.Relive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return r.done(nil, scans), report.Fail(report.ExitCancelled, errors.New("cancelled while reading the live view again"))
			}
			r.note("live view after the device read failed (%v): changes during the check cannot be told from damage", err)
		} else {
			flux = collect.InFlux(live, after)
		}
	}
	var persisted *reconcile.Persisted
	if len(scans) > 0 {
		persisted = collect.Persisted(scans, collect.Complete(live, scans))
	}
	if c.Journal != nil && c.Observe && !c.Journal.ReadOnly() {
		r.observe(live, persisted)
	}
	var hist reconcile.History
	var previous []reconcile.EarlierLvstore
	earlier := 0
	if c.Journal != nil {
		h, err := collect.LoadHistory(c.Journal, collect.HistoryOptions{Incarnation: c.Incarnation, Socket: c.Target, TargetStart: c.TargetStart})
		if err != nil {
			return r.done(nil, scans), report.Fail(report.ExitOperational, fmt.Errorf("journal: %w", err))
		}
		hist, earlier = h, h.EarlierRuns(c.Incarnation, c.RunID)
		if c.Observe {
			previous = h.PreviousLvstores() // a live target's earlier run
		}
	} else {
		r.notes = append(r.notes, "no journal: no history was used and nothing was recorded")
	}
	in := reconcile.Input{
		Persisted:   persisted,
		Live:        live,
		History:     hist,
		Incarnation: reconcile.Incarnation{ID: c.Incarnation, EarlierRuns: earlier},
		Earlier:     previous,
	}
	fs := reconcile.Check(in)
	sem := reconcile.ObservedSemantics(in, fs)
	fs = append(fs, collect.IntegrityFindings(scans)...)
	if n := settleInFlux(fs, flux, persisted); n > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d finding(s) about lvols that changed while the devices were read are reported as info (in flux); check again when the target is quiet", n))
	}
	finding.Sort(fs)
	if c.Journal != nil && !c.Journal.ReadOnly() {
		r.record(fs, live, scans)
	}
	out := r.done(fs, scans)
	out.Semantics = sem
	return out, nil
}

func (r *comparer) done(fs []finding.Finding, scans []collect.Scan) Compared {
	return Compared{Findings: fs, Scans: scans, Notes: r.notes, OpErr: r.opErr}
}

// scan reads each device; a device that cannot be read becomes an
// unreadable Scan (reconcile reports it) and makes the exit operational.
func (r *comparer) scan(ctx context.Context, devices []string) ([]collect.Scan, bool) {
	var scans []collect.Scan
	seen := map[string]bool{}
	for _, dev := range devices {
		if seen[dev] {
			continue
		}
		seen[dev] = true
		opts := scanner.Options{Mode: r.c.Mode, Device: dev}
		bar := report.NewProgressBar(r.c.Progress)
		if bar != nil {
			opts.Progress = bar.Update
		}
		v, err := scanner.ScanPath(ctx, dev, opts, r.c.TmpDir)
		if bar != nil {
			bar.Done()
		}
		if ctx.Err() != nil {
			return nil, true
		}
		if err != nil {
			r.opErr = true
			// The disk-not-read finding reports it.
			r.c.Log.Info().Err(err).Str("device", dev).Msg("cannot read device")
			scans = append(scans, collect.Scan{Device: dev, Err: err})
			continue
		}
		if v.Buffered {
			r.note("%s: O_DIRECT refused by the file system, read through the page cache (may be stale beside a running target)", dev)
		}
		r.c.Log.Info().Str("device", dev).Str("mode", string(v.Mode)).Int("blobs", len(v.Blobs)).
			Dur("took", v.Stats.Duration).Msg("device read")
		scans = append(scans, collect.Scan{Device: dev, View: v})
	}
	return scans, false
}

// observe records the live view of each lvstore in the journal. Without an
// incarnation nothing can be tied to this target run, so nothing is
// recorded.
func (r *comparer) observe(live reconcile.Live, p *reconcile.Persisted) {
	if r.c.Incarnation == "" {
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
	at := r.c.Now()
	for _, lvs := range slices.Sorted(maps.Keys(by)) {
		if lvs == "" {
			continue
		}
		if _, err := r.c.Journal.ObserveLvols(r.c.Incarnation, lvs, at, dedupObs(by[lvs])); err != nil {
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
func (r *comparer) record(fs []finding.Finding, live reconcile.Live, scans []collect.Scan) {
	covered := map[string]bool{}
	for _, ls := range live.Lvstores {
		covered[ls.UUID] = true
	}
	for _, s := range scans {
		if s.View != nil && s.View.Lvstore.UUID != "" {
			covered[s.View.Lvstore.UUID] = true
		}
	}
	at := r.c.Now()
	recs, err := r.c.Journal.UpsertFindingsOf(r.c.Incarnation, at, slices.Sorted(maps.Keys(covered)), fs)
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
	if err := r.c.Journal.SetFindingCounts(r.c.RunID, counts); err != nil {
		r.c.Log.Warn().Err(err).Msg("journal: finding counts")
	}
}

func (r *comparer) recordResurrected(f finding.Finding, at time.Time) {
	tl, err := r.c.Journal.LvolTimeline(f.LvolUUID)
	if err != nil {
		r.c.Log.Warn().Err(err).Msg("journal: lvol timeline")
		return
	}
	for _, e := range tl {
		if e.Kind == journal.EventResurrected && e.Incarnation == r.c.Incarnation {
			return // already told for this target run
		}
	}
	name := f.LvolName
	if f.Lvstore != "" && name != "" {
		name = f.Lvstore + "/" + name
	}
	_, err = r.c.Journal.RecordEvent(journal.Event{
		At: at, Kind: journal.EventResurrected, Incarnation: r.c.Incarnation, LvstoreUUID: f.LvstoreUUID,
		LvolUUID: f.LvolUUID, LvolName: name, BlobID: f.BlobID, RunID: r.c.RunID, Detail: f.Message,
	})
	if err != nil {
		r.c.Log.Warn().Err(err).Msg("journal: record resurrected")
	}
}

// LvstoreSummaries lists each lvstore of either view once, with its lvol
// count (persisted ∪ live, by uuid) and which views saw it.
func LvstoreSummaries(live reconcile.Live, scans []collect.Scan, offline bool) []report.LvstoreSummary {
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

// settleInFlux makes info of every finding about an lvol in flux (by uuid,
// alias, or the blob a persisted lvol of that uuid has) and says why in its
// evidence. It returns how many it changed.
func settleInFlux(fs []finding.Finding, flux collect.Flux, p *reconcile.Persisted) int {
	if flux.Empty() {
		return 0
	}
	blobs := map[uint64]string{}
	if p != nil {
		for _, l := range p.Lvols {
			if why, ok := flux.UUIDs[l.UUID]; ok && l.BlobID != 0 {
				blobs[l.BlobID] = why
			}
		}
	}
	n := 0
	for i := range fs {
		f := &fs[i]
		if f.Severity <= finding.Info {
			continue
		}
		alias := ""
		if f.Lvstore != "" && f.LvolName != "" {
			alias = f.Lvstore + "/" + f.LvolName
		}
		why, ok := flux.Has(f.LvolUUID, alias)
		if !ok && f.BlobID != 0 {
			why, ok = blobs[f.BlobID]
		}
		if !ok {
			continue
		}
		if f.Evidence == nil {
			f.Evidence = map[string]string{}
		}
		f.Evidence["in flux"] = fmt.Sprintf("%s; was %s", why, f.Severity)
		f.Severity = finding.Info
		n++
	}
	return n
}
