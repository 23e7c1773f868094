package repair

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reloader finishes a forced removal without a restart: it removes and
// re-adds an lvstore's AIO base bdev so that the lvstore loads again from
// disk and the dropped lvol reappears (seen on a real target, fixtures
// reload.*). Two hazards, both seen there, shape the guards: the unload
// silently drops every NVMe-oF namespace of the lvstore, and an unload while
// a checksum or shallow copy holds a blob open never answers and wedges the
// target (reload-unsafe.*).
type Reloader struct {
	Target Target
	Clock  Clock // nil: RealClock
	// SampleFor is how long base-bdev I/O is watched; 0: 3s.
	SampleFor time.Duration
	// SampleEvery is the iostat interval; 0: 500ms.
	SampleEvery time.Duration
	// UnloadTimeout bounds bdev_aio_delete (a real clean unload took
	// 37–74 ms); 0: 30s.
	UnloadTimeout time.Duration
	// ReappearTimeout bounds the wait for the lvstore and the lvols after
	// bdev_aio_create (1000 lvols loaded in 0.76 s on a real target); 0: 60s.
	ReappearTimeout time.Duration
	PollEvery       time.Duration // 0: 250ms
	RPCTimeout      time.Duration // per call; 0: 30s
}

// ReloadResult says what the reload did.
type ReloadResult struct {
	LvstoreUUID string
	LvstoreName string
	BaseBdev    string
	Filename    string
	BlockSize   uint32
	// Reappeared are the wanted lvols live again after the reload.
	Reappeared []Lvol
	// Missing are wanted lvol uuids that did not come back.
	Missing  []string
	Unloaded bool // bdev_aio_delete answered
	Messages []string
}

func (r *ReloadResult) say(format string, a ...any) {
	r.Messages = append(r.Messages, fmt.Sprintf(format, a...))
}

func (rl *Reloader) clock() Clock {
	if rl.Clock == nil {
		return RealClock{}
	}
	return rl.Clock
}

func (rl *Reloader) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, orDefault(rl.RPCTimeout, 30*time.Second))
}

// Reload reloads the lvstore (by uuid) and waits for the lvols in want (by
// uuid) to be live. Guards refuse with *RefusedError, changing nothing. A
// bdev_aio_delete that does not answer in time returns an error wrapping
// ErrReloadWedged, with the operator's next steps in Messages.
func (rl *Reloader) Reload(ctx context.Context, lvstoreUUID string, want []string) (ReloadResult, error) {
	res := ReloadResult{LvstoreUUID: lvstoreUUID}
	lvs, base, lvols, err := rl.inspect(ctx, lvstoreUUID)
	if err != nil {
		return res, err
	}
	res.LvstoreName, res.BaseBdev, res.Filename, res.BlockSize = lvs.Name, base.Name, base.AioFilename, base.BlockSize
	if err := guardZombie(lvs, lvols); err != nil {
		res.say("%v", err)
		return res, err
	}
	if err := rl.guardUsers(ctx, lvs, base, lvols); err != nil {
		res.say("%v", err)
		return res, err
	}
	res.say("no lvol of lvstore %s is claimed or exported (an open without a claim is invisible over RPC)", lvs.Name)
	if err := rl.guardIO(ctx, lvs, base, lvols); err != nil {
		res.say("%v", err)
		return res, err
	}
	res.say("base bdev %s moved no data for %s while every lvol of %s was idle — that is not a proof that nothing holds a blob (a shallow copy stalled on a slow destination shows no I/O at all)",
		base.Name, orDefault(rl.SampleFor, 3*time.Second), lvs.Name)

	if err := rl.unload(ctx, &res); err != nil {
		return res, err
	}
	res.Unloaded = true
	res.say("bdev_aio_delete %s answered: lvstore %s unloaded cleanly", base.Name, lvs.Name)

	cctx, cancel := rl.call(ctx)
	err = rl.Target.AioCreate(cctx, base.AioFilename, base.Name, base.BlockSize)
	cancel()
	if err != nil {
		res.say("the base bdev was removed but could not be re-created (%v): lvstore %s is NOT loaded. Re-create it by hand: bdev_aio_create %s %s %d — or restart the target", err, lvs.Name, base.AioFilename, base.Name, base.BlockSize)
		return res, fmt.Errorf("reload %s: bdev_aio_create %s: %w", lvs.Name, base.Name, err)
	}
	res.say("bdev_aio_create %s %s %d answered", base.AioFilename, base.Name, base.BlockSize)
	return res, rl.awaitLvols(ctx, &res, want)
}

// inspect finds the lvstore, its AIO base bdev and its lvols.
func (rl *Reloader) inspect(ctx context.Context, lvstoreUUID string) (Lvstore, Bdev, []Lvol, error) {
	cctx, cancel := rl.call(ctx)
	defer cancel()
	stores, err := rl.Target.Lvstores(cctx)
	if err != nil {
		return Lvstore{}, Bdev{}, nil, fmt.Errorf("reload: list lvstores: %w", err)
	}
	i := slices.IndexFunc(stores, func(s Lvstore) bool { return strings.EqualFold(s.UUID, lvstoreUUID) })
	if i < 0 {
		return Lvstore{}, Bdev{}, nil, &RefusedError{Reason: ReasonNoLvstore, Lvol: lvstoreUUID, Detail: "the lvstore is not loaded by the target"}
	}
	lvs := stores[i]
	bdevs, err := rl.Target.Bdevs(cctx)
	if err != nil {
		return lvs, Bdev{}, nil, fmt.Errorf("reload %s: list bdevs: %w", lvs.Name, err)
	}
	j := slices.IndexFunc(bdevs, func(b Bdev) bool { return b.Name == lvs.BaseBdev })
	if j < 0 || bdevs[j].AioFilename == "" || bdevs[j].BlockSize == 0 {
		return lvs, Bdev{}, nil, &RefusedError{Reason: ReasonNotAIO, Lvol: lvs.Name, Names: []string{lvs.BaseBdev},
			Detail: "the base bdev is not an AIO bdev with a known file and block size; only a restart reloads this lvstore"}
	}
	all, err := rl.Target.Lvols(cctx)
	if err != nil {
		return lvs, Bdev{}, nil, fmt.Errorf("reload %s: list lvols: %w", lvs.Name, err)
	}
	var lvols []Lvol
	for _, l := range all {
		if strings.EqualFold(l.LvstoreUUID, lvs.UUID) {
			lvols = append(lvols, l)
		}
	}
	return lvs, bdevs[j], lvols, nil
}

// guardUsers refuses while any lvol of the lvstore is exported or claimed
// (the unload would drop the namespace silently, and a claim means another
// module holds it). It names every one.
func (rl *Reloader) guardUsers(ctx context.Context, lvs Lvstore, base Bdev, lvols []Lvol) error {
	cctx, cancel := rl.call(ctx)
	defer cancel()
	nss, err := rl.Target.Namespaces(cctx)
	if err != nil && !errors.Is(err, ErrMethodNotFound) {
		return fmt.Errorf("reload %s: list NVMe-oF subsystems: %w", lvs.Name, err)
	}
	bdevs, err := rl.Target.Bdevs(cctx)
	if err != nil {
		return fmt.Errorf("reload %s: list bdevs: %w", lvs.Name, err)
	}
	var exported, claimed []string
	for _, ns := range nss {
		if ns.BdevName == base.Name || slices.Contains(base.Aliases, ns.BdevName) {
			exported = append(exported, fmt.Sprintf("base bdev %s: %s nsid %d", base.Name, ns.NQN, ns.NSID))
		}
	}
	for i := range lvols {
		lv := &lvols[i]
		ex := exportsOf(nss, lv)
		for _, e := range ex {
			exported = append(exported, lv.Alias+": "+e)
		}
		if b, ok := bdevOf(bdevs, lv); ok && b.Claimed && len(ex) == 0 {
			claimed = append(claimed, lv.Alias+": "+claimName(b))
		}
	}
	if len(exported) > 0 {
		return &RefusedError{Reason: ReasonExported, Lvol: lvs.Name, Names: exported,
			Detail: "the unload would silently drop these NVMe-oF namespaces (a connected host loses its disk) and the reload does not bring them back; remove them first or restart the target instead"}
	}
	if len(claimed) > 0 {
		return &RefusedError{Reason: ReasonClaimed, Lvol: lvs.Name, Names: claimed,
			Detail: "these lvols are claimed by another module; the unload would pull them from under it"}
	}
	return nil
}

// guardIO samples bdev_get_iostat over SampleFor and refuses on any lvol I/O
// (the lvstore is in use) or base-bdev I/O the lvols do not explain (a
// checksum or shallow copy reading a blob).
func (rl *Reloader) guardIO(ctx context.Context, lvs Lvstore, base Bdev, lvols []Lvol) error {
	clk := rl.clock()
	sampleFor := orDefault(rl.SampleFor, 3*time.Second)
	every := min(orDefault(rl.SampleEvery, 500*time.Millisecond), sampleFor)
	prev, err := rl.sample(ctx, lvs, base, lvols)
	if err != nil {
		return err
	}
	end := clk.Now().Add(sampleFor)
	for clk.Now().Before(end) {
		if err := clk.Sleep(ctx, min(every, end.Sub(clk.Now()))); err != nil {
			return fmt.Errorf("reload %s: sampling I/O: %w", lvs.Name, err)
		}
		cur, err := rl.sample(ctx, lvs, base, lvols)
		if err != nil {
			return err
		}
		var busy []string
		var lvolBytes uint64
		for name, c := range cur.lvols {
			if p, ok := prev.lvols[name]; ok && c > p {
				busy = append(busy, fmt.Sprintf("%s: %d bytes", name, c-p))
				lvolBytes += c - p
			}
		}
		slices.Sort(busy)
		if len(busy) > 0 {
			return &RefusedError{Reason: ReasonLvolIO, Lvol: lvs.Name, Names: busy,
				Detail: "lvols of this lvstore are doing I/O: something uses them"}
		}
		if cur.base > prev.base && cur.base-prev.base > lvolBytes {
			return &RefusedError{Reason: ReasonBaseIO, Lvol: lvs.Name, Names: []string{fmt.Sprintf("%s: %d bytes", base.Name, cur.base-prev.base)},
				Detail: "the base bdev shows I/O that no lvol explains: a checksum, a shallow copy or an lvol operation is running and may hold a blob open; an unload now could wedge the target"}
		}
		prev = cur
	}
	return nil
}

type ioSample struct {
	base  uint64
	lvols map[string]uint64 // by alias
}

func (rl *Reloader) sample(ctx context.Context, lvs Lvstore, base Bdev, lvols []Lvol) (ioSample, error) {
	cctx, cancel := rl.call(ctx)
	defer cancel()
	stats, err := rl.Target.IOStats(cctx)
	if err != nil {
		return ioSample{}, fmt.Errorf("reload %s: bdev_get_iostat: %w", lvs.Name, err)
	}
	s := ioSample{lvols: make(map[string]uint64, len(lvols))}
	seenBase := false
	for _, st := range stats {
		if st.Name == base.Name {
			s.base, seenBase = st.Bytes(), true
			continue
		}
		for i := range lvols {
			if strings.EqualFold(st.Name, lvols[i].UUID) || st.Name == lvols[i].Alias {
				s.lvols[lvols[i].Alias] = st.Bytes()
			}
		}
	}
	if !seenBase {
		return ioSample{}, fmt.Errorf("reload %s: bdev_get_iostat has no entry for base bdev %s", lvs.Name, base.Name)
	}
	return s, nil
}

// unload runs bdev_aio_delete under a deadline on the clock: a wedged
// unload never answers, and lvfsck must not hang with it.
func (rl *Reloader) unload(ctx context.Context, res *ReloadResult) error {
	clk := rl.clock()
	timeout := orDefault(rl.UnloadTimeout, 30*time.Second)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := clk.After(timeout)
	done := make(chan error, 1) // buffered: the caller may leave first
	go func() { done <- rl.Target.AioDelete(actx, res.BaseBdev) }()
	select {
	case err := <-done:
		if err != nil {
			res.say("bdev_aio_delete %s failed (%v); the lvstore is presumably still loaded; nothing reloaded", res.BaseBdev, err)
			return fmt.Errorf("reload %s: bdev_aio_delete %s: %w", res.LvstoreName, res.BaseBdev, err)
		}
		return nil
	case <-timer:
		res.say("bdev_aio_delete %s did not answer within %s: the unload of lvstore %s is most likely wedged because something still holds one of its blobs open (a snapshot checksum or a shallow copy).", res.BaseBdev, timeout, res.LvstoreName)
		res.say("What to do: restart spdk_tgt (it will not shut down cleanly; it may have to be killed). Do not re-create %s by hand: the target still holds the name and answers \"File exists\".", res.BaseBdev)
		res.say("After the restart the lvstore loads again (by recovery), the dropped lvol comes back, and `lvfsck repair --yes` finishes it.")
		return fmt.Errorf("reload %s: bdev_aio_delete %s: %w: no answer within %s", res.LvstoreName, res.BaseBdev, ErrReloadWedged, timeout)
	case <-ctx.Done():
		res.say("cancelled while waiting for bdev_aio_delete %s; the lvstore may be half unloaded: check the target, restart it if the lvstore is gone", res.BaseBdev)
		return fmt.Errorf("reload %s: bdev_aio_delete: %w", res.LvstoreName, ctx.Err())
	}
}

// awaitLvols polls until the lvstore and every wanted lvol are live.
func (rl *Reloader) awaitLvols(ctx context.Context, res *ReloadResult, want []string) error {
	clk := rl.clock()
	end := clk.Now().Add(orDefault(rl.ReappearTimeout, 60*time.Second))
	for {
		cctx, cancel := rl.call(ctx)
		stores, serr := rl.Target.Lvstores(cctx)
		lvols, lerr := rl.Target.Lvols(cctx)
		cancel()
		if serr == nil && lerr == nil && slices.ContainsFunc(stores, func(s Lvstore) bool { return strings.EqualFold(s.UUID, res.LvstoreUUID) }) {
			res.Reappeared, res.Missing = nil, nil
			for _, u := range want {
				i := slices.IndexFunc(lvols, func(l Lvol) bool { return strings.EqualFold(l.UUID, u) })
				if i < 0 {
					res.Missing = append(res.Missing, u)
					continue
				}
				res.Reappeared = append(res.Reappeared, lvols[i])
			}
			if len(res.Missing) == 0 {
				verb := "are"
				if len(res.Reappeared) == 1 {
					verb = "is"
				}
				res.say("lvstore %s loaded again; %s dropped from memory %s live again", res.LvstoreName, plural(len(res.Reappeared), "lvol", "lvols"), verb)
				return nil
			}
		}
		if !clk.Now().Before(end) {
			if len(res.Missing) > 0 {
				res.say("lvstore %s is back but these lvols did not reappear: %s (not on disk any more, or failed to open: check the target's log)", res.LvstoreName, strings.Join(res.Missing, ", "))
				return fmt.Errorf("reload %s: %s did not reappear", res.LvstoreName, plural(len(res.Missing), "lvol", "lvols"))
			}
			res.say("lvstore %s did not load again after bdev_aio_create (last errors: %v, %v); check the target's log, or restart it", res.LvstoreName, serr, lerr)
			return fmt.Errorf("reload %s: lvstore did not reappear", res.LvstoreName)
		}
		if err := clk.Sleep(ctx, orDefault(rl.PollEvery, 250*time.Millisecond)); err != nil {
			return fmt.Errorf("reload %s: waiting for the lvstore: %w", res.LvstoreName, err)
		}
	}
}

// guardZombie refuses while a clone of the lvstore names a base snapshot
// that is not listed: on a target with Longhorn's fix that snapshot is a
// hidden zombie the lvstore still holds, and the unload would never finish
// (fixtures/fixed-busy.reload-wedge: no answer, the lvstore offline until a
// restart). After a forced removal a clone names no base snapshot.
func guardZombie(lvs Lvstore, lvols []Lvol) error {
	listed := make(map[string]bool, len(lvols))
	for _, l := range lvols {
		listed[l.Name] = true
	}
	var hidden []string
	for _, l := range lvols {
		if l.Clone && l.BaseSnapshot != "" && !listed[l.BaseSnapshot] {
			hidden = append(hidden, fmt.Sprintf("%s/%s (base snapshot of %s)", lvs.Name, l.BaseSnapshot, l.Name))
		}
	}
	if len(hidden) == 0 {
		return nil
	}
	return &RefusedError{Reason: ReasonZombie, Lvol: lvs.Name, Names: hidden,
		Detail: "a clone names a base snapshot the target does not list: a hidden zombie of a target with Longhorn's fix, which a reload would wedge, taking the whole lvstore offline until a restart; restart the target instead (plan it as a crash), then run `lvfsck repair --yes`"}
}
