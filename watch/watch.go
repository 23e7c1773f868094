// Package watch is `lvfsck watch`: it follows one target's notify ring,
// journals every lvol bdev_register/bdev_unregister with the target's
// incarnation, judges each unregister by re-reading the blob's first md
// page (a forced removal leaves it valid: a pending resurrection, found
// without a full scan), and runs a full check (run.Check) at start, after
// every incarnation change, and on a schedule.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/run"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

// Config is one watch. The caller opens the journal and closes it after Run.
type Config struct {
	Socket string
	// Open opens the journal for writing. The watch holds it only while
	// it writes (and JournalIdle after), and closes it before Run returns.
	Open        func(ctx context.Context) (*journal.Journal, error)
	JournalIdle time.Duration // default 2 s
	// Check is the full check's configuration; Socket and Journal are set
	// by the watch.
	Check run.CheckConfig
	// Poll is the ring's poll interval. SPDK keeps 1024 events; at 100 ms
	// a wrap needs over 10,000 bdev events a second.
	Poll time.Duration
	// Max bounds one notify_get_notifications answer; a full answer is
	// followed at once by the next call.
	Max uint64
	// FullEvery is the period of scheduled full checks.
	FullEvery time.Duration
	// Retry are the delays between re-reads of a page that still looks
	// live: a real delete unregisters the bdev before it zeroes the md
	// pages. Their sum bounds event → verdict.
	Retry []time.Duration
	// Rescan is how long after the last register of an lvol unknown to the
	// last scan a full check runs, so its blob is known when it goes.
	Rescan  time.Duration
	Backoff time.Duration // between failed connects or full checks
	Timeout time.Duration // of each RPC call
	Metrics *Metrics
	Log     zerolog.Logger
	Now     func() time.Time
}

func (c *Config) defaults() {
	if c.Poll <= 0 {
		c.Poll = 100 * time.Millisecond
	}
	if c.Max == 0 {
		c.Max = 256
	}
	if c.FullEvery <= 0 {
		c.FullEvery = time.Hour
	}
	if c.Retry == nil {
		c.Retry = []time.Duration{25 * time.Millisecond, 75 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond}
	}
	if c.Rescan <= 0 {
		c.Rescan = 2 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.JournalIdle <= 0 {
		c.JournalIdle = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// maxBackoff bounds the wait between failing full checks.
const maxBackoff = time.Minute

// Watcher is one running watch.
type Watcher struct {
	cfg Config
	m   *Metrics
	log zerolog.Logger
	st  *store

	c        *spdk.Client
	up       bool
	inc      string
	next     uint64                          // the next notify id to ask for
	primed   bool                            // next is meaningful for inc
	last     *spdk.Notification              // the last event read, to tell a reset ring on reconnect
	fresh    bool                            // connected since the last continuity check
	lvols    map[string]journal.NotifyRecord // lvols registered since the last scan, unknown to it
	nextTry  time.Time                       // of the next connect, after a failed one
	nextFull time.Time                       // of the next full check, after a failed one
	fullWait time.Duration                   // doubles while full checks fail, up to maxBackoff

	lastFull  time.Time
	needFull  bool
	rescanAt  time.Time
	fullStore map[string]float64 // findings gauge of the last full check: "code\x00lvstore"

	mu       sync.Mutex
	blobs    map[string]Blob // lvol uuid → its blob, from the last full scan
	reported map[string]bool // finding keys already told
	wantFull bool            // a probe could not decide: full check soon
	downLogd bool            // the current outage was logged
	devs     map[string]*scanner.Device
	probes   sync.WaitGroup

	// onVerdict, when set (tests, benchmarks), hears each judged
	// unregister: its verdict, whether it made a finding, bytes read.
	onVerdict func(b Blob, v Verdict, found bool, n int64)
}

// New prepares a watch; Run runs it.
func New(cfg Config) *Watcher {
	cfg.defaults()
	return &Watcher{
		cfg: cfg, m: cfg.Metrics, log: cfg.Log, needFull: true,
		st:    &store{open: cfg.Open, idle: cfg.JournalIdle},
		blobs: map[string]Blob{}, lvols: map[string]journal.NotifyRecord{}, reported: map[string]bool{}, devs: map[string]*scanner.Device{},
	}
}

// Run watches until ctx ends; it returns nil then. Target, socket and
// device failures are logged and counted, never fatal.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.close()
	w.loadReported()
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		w.m.ticked(w.cfg.Now())
		w.step(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *Watcher) close() {
	w.probes.Wait()
	if w.c != nil {
		w.c.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, d := range w.devs {
		d.Close()
		delete(w.devs, p)
	}
	if err := w.st.Close(); err != nil {
		w.journalErr(err, "close")
	}
}

// loadReported marks the journal's open findings as told: a restarted
// watch does not repeat them.
func (w *Watcher) loadReported() {
	var recs []journal.FindingRecord
	err := w.st.use(context.Background(), func(j *journal.Journal) error {
		var err error
		recs, err = j.Findings()
		return err
	})
	if err != nil {
		w.journalErr(err, "read findings")
		return
	}
	n := 0
	for _, r := range recs {
		if r.Open() {
			w.reported[r.Key] = true
			n++
		}
	}
	if n > 0 {
		w.log.Info().Int("open_findings", n).Msg("open findings known from the journal; each is logged again only when it changes")
	}
}

// step is one turn: connect, notice restarts, full check when due, read
// the ring.
func (w *Watcher) step(ctx context.Context) {
	now := w.cfg.Now()
	if w.c == nil {
		if now.Before(w.nextTry) {
			return
		}
		if !w.connect(ctx) {
			w.nextTry = now.Add(w.cfg.Backoff)
			return
		}
	}
	if !w.checkIncarnation(ctx) {
		return
	}
	w.mu.Lock()
	if w.wantFull {
		w.wantFull, w.needFull = false, true
	}
	w.mu.Unlock()
	if w.needFull || now.Sub(w.lastFull) >= w.cfg.FullEvery || (!w.rescanAt.IsZero() && !now.Before(w.rescanAt)) {
		if !now.Before(w.nextFull) {
			w.full(ctx)
		}
	}
	// Events are read even while full checks fail (a device missing):
	// they are what the next successful check needs.
	if w.c != nil {
		w.poll(ctx)
	}
}

func (w *Watcher) connect(ctx context.Context) bool {
	dctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	c, err := run.Dial(dctx, w.cfg.Socket, w.cfg.Timeout)
	if err != nil {
		w.down(err)
		return false
	}
	w.c, w.fresh = c, true
	return true
}

// down records that the target cannot be reached; the first failure after
// being up is a warning, the rest debug.
func (w *Watcher) down(err error) {
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
	if w.up || !w.downLogd {
		w.downLogd = true
		w.log.Warn().Err(err).Msg("target unreachable; retrying")
	} else {
		w.log.Debug().Err(err).Msg("target still unreachable")
	}
	w.up = false
	w.m.TargetUp.Set(0)
	w.m.Errors.WithLabelValues(ErrKindRPC).Inc()
}

// checkIncarnation asks who answers on the socket (SO_PEERCRED, cheap);
// a new incarnation restarts the ring and calls for a full check.
func (w *Watcher) checkIncarnation(ctx context.Context) bool {
	ictx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	i, err := w.c.Incarnation(ictx)
	inc := ""
	if err == nil {
		inc = i.String()
	} else if !errors.Is(err, spdk.ErrNoPeerPID) && !errors.Is(err, spdk.ErrIncarnation) {
		w.down(err)
		return false
	}
	if !w.up {
		w.log.Info().Str("socket", w.cfg.Socket).Str("incarnation", inc).Msg("target reachable")
	}
	w.up, w.downLogd = true, false
	w.m.TargetUp.Set(1)
	if inc == w.inc && w.primed {
		if !w.fresh || w.ringContinues(ctx) {
			w.fresh = false
			return true
		}
		// Same incarnation id, yet the ring restarted: the pid is not
		// visible (another pid namespace) or was reused.
		w.log.Warn().Msg("notify ring restarted under the same incarnation id: the target restarted")
	}
	w.fresh = false
	if w.primed {
		// Whatever the old run emitted after the last poll is lost.
		w.log.Warn().Str("was", w.inc).Str("now", inc).Msg("target restarted (new incarnation): events of the old run after the last poll are missed; full check")
		w.m.Restarts.Inc()
		w.m.Missed.Inc()
		// A restarted target loads its lvstores asynchronously.
		wctx, cancel := context.WithTimeout(ctx, 10*w.cfg.Timeout)
		if err := w.c.WaitForExamine(wctx); err != nil {
			w.log.Debug().Err(err).Msg("bdev_wait_for_examine")
		}
		cancel()
	}
	w.inc, w.next, w.primed, w.needFull, w.last = inc, 0, true, true, nil
	return true
}

// ringContinues tells, after a reconnect, whether the ring still holds the
// last event read: a restarted target numbers from 0 again.
func (w *Watcher) ringContinues(ctx context.Context) bool {
	if w.last == nil {
		return true
	}
	evs, err := w.c.NotifyGetNotifications(ctx, w.last.ID, 1)
	if err != nil {
		return true // poll fails next and redials
	}
	if len(evs) == 1 && evs[0] == *w.last {
		return true
	}
	if len(evs) == 0 || evs[0].ID > w.last.ID {
		// Gone from the ring: more than its size was emitted since (a wrap,
		// counted by poll), or a reset; a new run cannot be told from a wrap
		// here, and a full check settles both.
		w.needFull = true
		return len(evs) > 0
	}
	return false
}

// full runs one full check and refreshes the blob map from its scans.
func (w *Watcher) full(ctx context.Context) {
	cc := w.cfg.Check
	cc.Socket = w.cfg.Socket
	if cc.Incarnation == "" && w.inc != "" {
		cc.Incarnation = w.inc
	}
	if cc.Now == nil {
		cc.Now = w.cfg.Now
	}
	if cc.Timeout == 0 {
		cc.Timeout = w.cfg.Timeout
	}
	cc.Log = w.log
	start := w.cfg.Now()
	var res *run.CheckResult
	var err error
	jerr := w.st.use(ctx, func(j *journal.Journal) error {
		cc.Journal = j
		res, err = run.Check(ctx, cc)
		if res != nil {
			res.Finish(res.Summary.Exit)
		}
		if err == nil && cc.Keep > 0 {
			if _, perr := j.PruneNotify(w.cfg.Now().Add(-cc.Keep)); perr != nil {
				w.journalErr(perr, "prune notify records")
			}
		}
		return nil
	})
	if ctx.Err() != nil {
		return
	}
	if jerr != nil {
		w.journalErr(jerr, "full check")
		err = jerr
	}
	dur := w.cfg.Now().Sub(start)
	if err != nil || res == nil || !report.RunCompleted(res.Summary.Exit) {
		w.m.FullChecks.WithLabelValues("failed").Inc()
		w.m.Errors.WithLabelValues(ErrKindCheck).Inc()
		w.fullWait = min(max(2*w.fullWait, w.cfg.Backoff), maxBackoff)
		ev := w.log.Debug()
		if w.fullWait == w.cfg.Backoff {
			ev = w.log.Warn() // the first failure of a series
		}
		ev.Err(err).Dur("took", dur).Dur("retry_in", w.fullWait).Msg("full check failed; retrying")
		w.nextFull = w.cfg.Now().Add(w.fullWait)
		return
	}
	if w.fullWait > 0 {
		w.log.Info().Msg("full check succeeds again")
	}
	w.needFull, w.rescanAt, w.lastFull, w.fullWait = false, time.Time{}, w.cfg.Now(), 0
	w.m.FullChecks.WithLabelValues("ok").Inc()
	w.m.LastFull.Set(float64(w.lastFull.UnixNano()) / 1e9)
	w.m.LastFullSeconds.Set(dur.Seconds())
	if res.OpErr {
		w.m.Errors.WithLabelValues(ErrKindDevice).Inc()
	}
	w.learn(res)
	w.tell(res.Summary.Findings)
	w.m.JournalBytes.Set(float64(dirSize(w.st.Dir())))
	w.log.Info().Dur("took", dur).Int("findings", len(res.Summary.Findings)).Int("lvols", len(w.blobs)).Str("incarnation", w.inc).Msg("full check done")
}

// learn keeps where each lvol's md chain starts.
func (w *Watcher) learn(res *run.CheckResult) {
	blobs := map[string]Blob{}
	for _, sc := range res.Scans {
		v := sc.View
		if v == nil {
			continue
		}
		for _, b := range v.Blobs {
			if !b.IsLvol || b.LvolUUID == "" || len(b.Pages) == 0 {
				continue
			}
			blobs[b.LvolUUID] = Blob{
				LvolUUID: b.LvolUUID, LvolName: v.Lvstore.Name + "/" + b.LvolName,
				Lvstore: v.Lvstore.Name, LvstoreUUID: v.Lvstore.UUID, BlobID: b.ID,
				Device: sc.Device, FirstPage: b.Pages[0], MDStart: v.Lvstore.MDStart, PageSize: v.Lvstore.PageSize,
			}
		}
	}
	w.mu.Lock()
	w.blobs = blobs
	w.mu.Unlock()
	w.lvols = map[string]journal.NotifyRecord{}
}

// tell logs each finding of a full check not told before, and those
// resolved since, and sets the findings gauge.
func (w *Watcher) tell(fs []finding.Finding) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := map[string]bool{}
	w.m.Findings.Reset()
	for _, f := range fs {
		k := f.Key()
		now[k] = true
		w.m.Findings.WithLabelValues(string(f.Code), lvstoreLabel(f), f.Severity.String()).Inc()
		if !w.reported[k] {
			w.reported[k] = true
			w.logFinding(f, "full check")
		}
	}
	for k := range w.reported {
		if !now[k] {
			delete(w.reported, k)
			// the key's parts as fields: an operator reads no internal key
			lvs, rest, _ := strings.Cut(k, "|")
			code, obj, _ := strings.Cut(rest, "|")
			w.log.Info().Str("code", code).Str("lvstore_uuid", lvs).Str("object", obj).Msg("finding resolved")
		}
	}
}

func lvstoreLabel(f finding.Finding) string {
	if f.Lvstore != "" {
		return f.Lvstore
	}
	return f.LvstoreUUID
}

func (w *Watcher) logFinding(f finding.Finding, by string) {
	ev := w.log.Warn()
	if f.Severity >= finding.Error {
		ev = w.log.Error()
	}
	ev.Str("code", string(f.Code)).Str("lvstore", f.Lvstore).Str("lvol", f.LvolName).Str("lvol_uuid", f.LvolUUID).
		Str("found_by", by).Msg(f.Message)
}

func (w *Watcher) journalErr(err error, what string) {
	w.m.Errors.WithLabelValues(ErrKindJournal).Inc()
	w.log.Error().Err(err).Msg("journal: " + what)
}

// poll drains the ring from w.next.
func (w *Watcher) poll(ctx context.Context) {
	for {
		evs, err := w.c.NotifyGetNotifications(ctx, w.next, w.cfg.Max)
		if err != nil {
			if ctx.Err() == nil {
				w.down(fmt.Errorf("notify_get_notifications: %w", err))
			}
			return
		}
		if len(evs) == 0 {
			return
		}
		if first := evs[0].ID; first > w.next {
			n := first - w.next
			w.m.Missed.Add(float64(n))
			w.log.Warn().Uint64("missed", n).Uint64("from", w.next).Msg("notify ring wrapped before these events were read: full check")
			w.needFull = true
		}
		w.handle(ctx, evs)
		last := evs[len(evs)-1]
		w.next, w.last = last.ID+1, &last
		if uint64(len(evs)) < w.cfg.Max {
			return
		}
	}
}

// handle journals the lvol events of one batch and starts a probe per
// unregister that the batch does not undo.
func (w *Watcher) handle(ctx context.Context, evs []spdk.Notification) {
	read := w.cfg.Now()
	for i, e := range evs {
		switch e.Type {
		case spdk.NotifyBdevRegister, spdk.NotifyBdevUnregister:
			w.m.Events.WithLabelValues(e.Type).Inc()
		default:
			w.m.Events.WithLabelValues("other").Inc()
			continue
		}
		w.mu.Lock()
		b, known := w.blobs[e.Ctx]
		w.mu.Unlock()
		rec := journal.NotifyRecord{Incarnation: w.incKey(), ID: e.ID, Type: e.Type, LvolUUID: e.Ctx, At: read}
		if known {
			rec.LvstoreUUID, rec.LvolName, rec.BlobID = b.LvstoreUUID, b.LvolName, b.BlobID
		} else if r, ok := w.lvols[e.Ctx]; ok {
			rec.LvstoreUUID, rec.LvolName = r.LvstoreUUID, r.LvolName
		} else if !w.isLvol(ctx, e, &rec) {
			if e.Type == spdk.NotifyBdevUnregister && uuidShaped(e.Ctx) && !reregistered(evs[i+1:], e.Ctx) {
				// Registered and unregistered between two polls (a
				// short-lived snapshot dropped at once): gone before it
				// could be asked about, yet maybe an lvol whose blob
				// stays. A full check decides, the ring's unregister as
				// evidence; nothing is journalled of a bdev not known to
				// be an lvol.
				w.probes.Add(1)
				c := w.c
				go func() {
					defer w.probes.Done()
					w.unknownGone(ctx, c, rec, false)
				}()
			}
			continue
		}
		if e.Type == spdk.NotifyBdevRegister {
			w.recordNotify(ctx, rec)
			if !known {
				// A new lvol: the next full check learns its blob.
				w.lvols[e.Ctx] = rec
				if w.rescanAt.IsZero() {
					w.rescanAt = read.Add(w.cfg.Rescan)
				}
			}
			continue
		}
		if reregistered(evs[i+1:], e.Ctx) {
			continue // back at once: no drop to remember
		}
		// An unregister is journalled (the lvol gone in this target run:
		// history a check after a restart weighs as a drop) only once it
		// is known not to be an lvstore unloading, after the probe's wait.
		w.probes.Add(1)
		c := w.c
		go func() {
			defer w.probes.Done()
			if known {
				w.judge(ctx, c, b, e, rec, read)
			} else {
				w.unknownGone(ctx, c, rec, true)
			}
		}()
	}
}

func (w *Watcher) recordNotify(ctx context.Context, rec journal.NotifyRecord) {
	if err := w.st.use(ctx, func(j *journal.Journal) error { _, err := j.RecordNotify(rec); return err }); err != nil {
		w.journalErr(err, "record notify event")
	}
}

// unknownGone handles the unregister of an lvol whose blob no full scan
// knows yet: after the probe's wait, still unlisted and its lvstore still
// loaded, it is journalled (when record) and a full check reads its blob,
// with the unregister in the ring as the evidence.
func (w *Watcher) unknownGone(ctx context.Context, c *spdk.Client, rec journal.NotifyRecord, record bool) {
	var wait time.Duration
	for _, d := range w.cfg.Retry {
		wait += d
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(wait):
	}
	lg := w.log.With().Str("lvol_uuid", rec.LvolUUID).Str("lvol", rec.LvolName).Logger()
	if !dropped(ctx, c, lg, rec.LvolUUID, rec.LvstoreUUID) {
		return
	}
	if record {
		w.recordNotify(ctx, rec)
	}
	lg.Info().Msg("lvol unregistered before a full check knew its blob: full check")
	w.needFullSoon()
}

// uuidShaped: lvol bdevs are named by their uuid.
func uuidShaped(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// incKey is the incarnation events are filed under; "unknown" when the
// target's pid is not visible (another pid namespace).
func (w *Watcher) incKey() string {
	if w.inc == "" {
		return "unknown"
	}
	return w.inc
}

// isLvol tells whether an event unknown to the last scan is an lvol's: a
// register is asked about (bdev_get_bdevs); an unregister of a bdev that
// the scan did not know cannot be placed and is not journalled.
func (w *Watcher) isLvol(ctx context.Context, e spdk.Notification, rec *journal.NotifyRecord) bool {
	if e.Type != spdk.NotifyBdevRegister {
		return false
	}
	bs, err := w.c.GetBdevs(ctx, e.Ctx)
	if err != nil || len(bs) == 0 || bs[0].DriverSpecific.Lvol == nil {
		return false
	}
	rec.LvstoreUUID = bs[0].DriverSpecific.Lvol.LvolStoreUUID
	if len(bs[0].Aliases) > 0 {
		rec.LvolName = bs[0].Aliases[0]
	}
	return true
}

func reregistered(rest []spdk.Notification, name string) bool {
	for _, e := range rest {
		if e.Ctx == name && e.Type == spdk.NotifyBdevRegister {
			return true
		}
	}
	return false
}

// judge re-reads b's first md page until it is no longer live or the
// retries are spent; still live and not listed is a pending resurrection.
func (w *Watcher) judge(ctx context.Context, c *spdk.Client, b Blob, e spdk.Notification, rec journal.NotifyRecord, read time.Time) {
	v, n, err := w.probeWithRetry(ctx, b)
	found := false
	if w.onVerdict != nil {
		defer func() { w.onVerdict(b, v, found, n) }()
	}
	w.m.ProbeBytes.Add(float64(n))
	w.m.ProbeSeconds.Observe(w.cfg.Now().Sub(read).Seconds())
	if err != nil {
		if ctx.Err() == nil {
			w.m.Errors.WithLabelValues(ErrKindDevice).Inc()
			w.log.Warn().Err(err).Str("lvol", b.LvolName).Msg("cannot read the blob's md page; the next full check decides")
			w.needFullSoon()
		}
		return
	}
	lg := w.log.With().Str("lvol", b.LvolName).Str("lvol_uuid", b.LvolUUID).Uint64("notify_id", e.ID).Str("page", v.String()).Logger()
	if v != VerdictLive {
		w.recordNotify(ctx, rec)
		lg.Info().Msg("lvol deleted (md page no longer holds it)")
		w.mu.Lock()
		delete(w.blobs, b.LvolUUID)
		w.mu.Unlock()
		return
	}
	if !dropped(ctx, c, lg, b.LvolUUID, b.LvstoreUUID) {
		return
	}
	w.recordNotify(ctx, rec)
	f := pendingFinding(b, e, read, w.cfg.Now())
	found = true
	var frec journal.FindingRecord
	err = w.st.use(ctx, func(j *journal.Journal) error {
		var err error
		frec, err = j.RecordFinding(w.cfg.Now(), f)
		return err
	})
	if err != nil {
		w.journalErr(err, "record finding")
	}
	w.mu.Lock()
	told := w.reported[f.Key()]
	w.reported[f.Key()] = true
	if !told {
		w.m.Findings.WithLabelValues(string(f.Code), lvstoreLabel(f), f.Severity.String()).Inc()
	}
	w.mu.Unlock()
	if !told {
		w.logFinding(f, "bdev_unregister")
	} else {
		lg.Debug().Int("count", frec.Count).Msg("pending resurrection already reported")
	}
}

func (w *Watcher) needFullSoon() {
	w.mu.Lock()
	defer w.mu.Unlock()
	// needFull belongs to the loop; a probe asks through wantFull.
	w.wantFull = true
}

// probeWithRetry probes b, again after each delay while the page still
// looks live. n is the bytes read over all tries.
func (w *Watcher) probeWithRetry(ctx context.Context, b Blob) (Verdict, int64, error) {
	var total int64
	for i := 0; ; i++ {
		d, err := w.device(b.Device)
		if err != nil {
			return VerdictOther, total, err
		}
		v, n, err := probe(d, b)
		total += n
		if err != nil {
			w.dropDevice(b.Device)
			return v, total, err
		}
		if v != VerdictLive || i >= len(w.cfg.Retry) {
			return v, total, nil
		}
		select {
		case <-ctx.Done():
			return v, total, ctx.Err()
		case <-time.After(w.cfg.Retry[i]):
		}
	}
}

// device opens (once) the device a blob lives on, O_DIRECT where allowed.
func (w *Watcher) device(path string) (*scanner.Device, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.devs[path]; ok {
		return d, nil
	}
	d, err := scanner.Open(path, w.cfg.Check.TmpDir)
	if err != nil {
		return nil, err
	}
	w.devs[path] = d
	return d, nil
}

// dropDevice closes a device after a read error: the next probe reopens it
// (a device that went away and came back is a new file).
func (w *Watcher) dropDevice(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.devs[path]; ok {
		d.Close()
		delete(w.devs, path)
	}
}

// listed asks the target whether the lvol's bdev exists.
func listed(ctx context.Context, c *spdk.Client, uuid string) (bool, error) {
	bs, err := c.GetBdevs(ctx, uuid)
	if errors.Is(err, spdk.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(bs) > 0, nil
}

// dropped says whether an unregistered lvol is still unlisted in a
// still-loaded lvstore: a drop. A forced removal drops one lvol from a
// loaded lvstore. An lvstore that unloads (a reload's bdev_aio_delete, a
// target shutting down: on a fixed target with a zombie that shutdown
// hangs and the target keeps answering) unregisters every lvol and leaves
// every blob on disk: no drop, or each would read as resurrected after the
// restart. What cannot be asked is no drop either: the next full check
// decides.
func dropped(ctx context.Context, c *spdk.Client, lg zerolog.Logger, lvolUUID, lvstoreUUID string) bool {
	if listed, err := listed(ctx, c, lvolUUID); err != nil || listed {
		if err != nil {
			lg.Debug().Err(err).Msg("cannot tell if listed; the next full check decides")
		}
		return false
	}
	if loaded, err := lvstoreLoaded(ctx, c, lvstoreUUID); err != nil || !loaded {
		lg.Info().AnErr("error", err).Msg("lvol unregistered but its lvstore is not loaded (a reload, or the target shutting down): not a forced removal")
		return false
	}
	return true
}

// lvstoreLoaded asks the target whether the lvstore is loaded. A target
// shutting down may answer the listing with an error ("Invalid argument"
// on the real fixed target): that is an error, not "loaded".
func lvstoreLoaded(ctx context.Context, c *spdk.Client, uuid string) (bool, error) {
	ls, err := c.GetLvstores(ctx, spdk.LvstoreQuery{})
	if err != nil {
		return false, err
	}
	for _, l := range ls {
		if uuid == "" || strings.EqualFold(l.UUID, uuid) {
			return true, nil // "": the lvol's lvstore is unknown, any will do
		}
	}
	return false, nil
}

func pendingFinding(b Blob, e spdk.Notification, read, now time.Time) finding.Finding {
	first := b.FirstPage
	return finding.Finding{
		Code: reconcile.CodePendingResurrection, Severity: finding.Error, SPDK: finding.LoadOK,
		Lvstore: b.Lvstore, LvstoreUUID: b.LvstoreUUID, BlobID: b.BlobID,
		LvolName: lvolPart(b.LvolName), LvolUUID: b.LvolUUID, Page: &first,
		Message: fmt.Sprintf("%s (uuid %s) was unregistered but its blob is still on disk and loads at the next restart: a forced removal", b.LvolName, b.LvolUUID),
		Evidence: map[string]string{
			reconcile.EvNotify: fmt.Sprintf("%s (id %d) read at %s", e.Type, e.ID, read.UTC().Format(time.RFC3339Nano)),
			reconcile.EvDisk:   fmt.Sprintf("md page %d on %s still holds blob %#x with uuid %s at %s", first, b.Device, b.BlobID, b.LvolUUID, now.UTC().Format(time.RFC3339Nano)),
			reconcile.EvLive:   "bdev_get_bdevs does not list it",
		},
		Repair: fmt.Sprintf("%s comes back at the next target restart; the control plane believes it deleted. After the restart run `lvfsck repair --yes` (or `lvfsck repair --reload --yes` in a maintenance window).", b.LvolName),
	}
}

func lvolPart(alias string) string {
	for i := len(alias) - 1; i >= 0; i-- {
		if alias[i] == '/' {
			return alias[i+1:]
		}
	}
	return alias
}

// dirSize is the bytes of the files under dir (badger's own Size lags
// behind until its tables are flushed).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
