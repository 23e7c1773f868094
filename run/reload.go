package run

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/repair"
)

// A reload killed between bdev_aio_delete and bdev_aio_create leaves the
// lvstore unloaded, with nothing on the target to say so. Repair marks a
// reload's beginning and end in the journal; the next run finds a
// beginning without an end and rolls it forward.
const (
	EventReloadBegin journal.EventKind = "reload-begin"
	EventReloadEnd   journal.EventKind = "reload-end"
)

// legacyAioTag: before the mark carried journal.Event.Aio, its Detail
// held the bdev_aio_create parameters as JSON after this text; a journal
// of that release may still hold an open mark.
const legacyAioTag = "then bdev_aio_create "

// reloadAio is the base bdev the reload marked by e must create again.
func reloadAio(e journal.Event) (journal.AioBdev, bool) {
	if e.Aio != nil {
		return *e.Aio, e.Aio.Name != "" && e.Aio.Filename != ""
	}
	_, raw, ok := strings.Cut(e.Detail, legacyAioTag)
	var p journal.AioBdev
	if !ok || json.Unmarshal([]byte(raw), &p) != nil {
		return journal.AioBdev{}, false
	}
	return p, p.Name != "" && p.Filename != ""
}

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
		aio := &journal.AioBdev{Name: bdevs[j].Name, Filename: bdevs[j].AioFilename, BlockSize: bdevs[j].BlockSize}
		_, err := s.Journal.RecordEvent(journal.Event{Kind: EventReloadBegin, Incarnation: s.Incarnation, LvstoreUUID: st.LvstoreUUID, RunID: runID,
			Aio: aio, Detail: fmt.Sprintf("reload of lvstore %s: bdev_aio_delete %s, then %s", stores[i].Name, aio.Name, aioCreateCall(*aio))})
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
		if slices.ContainsFunc(s.Live.Lvstores, func(l reconcile.LiveLvstore) bool { return strings.EqualFold(l.UUID, lvs) }) {
			s.EndReload(lvs, runID, "lvstore loaded again (found by a later run)")
			continue
		}
		p, ok := reloadAio(e)
		if !ok {
			s.Note("an earlier reload of lvstore %s was interrupted and its base bdev is unknown: check the target, restart it if the lvstore is missing", lvs)
			continue
		}
		call := aioCreateCall(p)
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
		live, err := s.tgt.Relive(ctx)
		if err == nil {
			s.Live = live
			missing := slices.DeleteFunc(slices.Clone(want), func(u string) bool {
				return slices.ContainsFunc(live.Lvstores, func(l reconcile.LiveLvstore) bool { return strings.EqualFold(l.UUID, u) })
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

// aioCreateCall is the call that creates p, as rpc.py takes it.
func aioCreateCall(p journal.AioBdev) string {
	return fmt.Sprintf("bdev_aio_create %s %s %d", p.Filename, p.Name, p.BlockSize)
}
