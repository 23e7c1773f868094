package reconcile

import (
	"fmt"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/finding"
)

// Check compares the views and the history and returns the findings, sorted
// with finding.Sort. It does no I/O beyond calling in.History, and it never
// panics on odd input (empty names, duplicate uuids, events for unknown
// bdevs). Cost is linear in the number of lvols and events.
func Check(in Input) []finding.Finding {
	c := newChecker(in)
	c.lvstores()
	c.notLoaded()
	c.lostParents()
	c.persistedLvols()
	c.liveLvols()
	c.openIntents()
	finding.Sort(c.out)
	if c.out == nil {
		c.out = []finding.Finding{} // renders as [] in JSON, not null
	}
	return c.out
}

type blobKey struct {
	lvs  string
	blob uint64
}

type nameKey struct {
	lvs  string
	name string
}

// lvsInfo joins one lvstore across the views.
type lvsInfo struct {
	uuid, name string
	live       *LiveLvstore
	disk       *PersistedLvstore // readable, with this uuid
	// compare is set when the disk was read and the lvstore is loaded and
	// loadable: only then is absence from one view meaningful.
	compare bool
}

type checker struct {
	in   Input
	hist History
	cur  string
	out  []finding.Finding

	lvs      map[string]*lvsInfo
	lvsOrder []string

	liveIdx  map[string]int // lvol uuid → index in Live.Lvols (first)
	liveName map[nameKey]int
	persIdx  map[string]int // lvol uuid → index in Persisted.Lvols
	persBlob map[blobKey]int

	lastEvent  map[string]Notify // bdev name → latest event
	ringCovers bool              // the ring still holds the first event of this run
	ringFirst  uint64

	lostBy map[int][]string // persisted parent index → live clones that lost its name
}

func newChecker(in Input) *checker {
	c := &checker{
		in:       in,
		hist:     in.History,
		cur:      in.Incarnation.ID,
		lvs:      make(map[string]*lvsInfo),
		liveIdx:  make(map[string]int, len(in.Live.Lvols)),
		liveName: make(map[nameKey]int, len(in.Live.Lvols)),
		lostBy:   make(map[int][]string),
	}
	for i, l := range in.Live.Lvols {
		if l.UUID == "" {
			continue
		}
		if _, dup := c.liveIdx[l.UUID]; !dup {
			c.liveIdx[l.UUID] = i
		}
		k := nameKey{l.LvstoreUUID, l.Name}
		if _, dup := c.liveName[k]; !dup && l.Name != "" {
			c.liveName[k] = i
		}
	}
	if p := in.Persisted; p != nil {
		c.persIdx = make(map[string]int, len(p.Lvols))
		c.persBlob = make(map[blobKey]int, len(p.Lvols))
		for i, l := range p.Lvols {
			c.persBlob[blobKey{l.LvstoreUUID, l.BlobID}] = i
			if l.UUID == "" {
				continue
			}
			// Duplicate uuids are the scanner's finding; prefer the blob
			// SPDK would load.
			if j, dup := c.persIdx[l.UUID]; !dup || (!loadable(p.Lvols[j].Loads) && loadable(l.Loads)) {
				c.persIdx[l.UUID] = i
			}
		}
	}
	if in.Live.NotifyAvailable {
		c.lastEvent = make(map[string]Notify, len(in.Live.Notifications))
		for i, n := range in.Live.Notifications {
			if i == 0 || n.ID < c.ringFirst {
				c.ringFirst = n.ID
			}
			if prev, ok := c.lastEvent[n.Ctx]; !ok || n.ID >= prev.ID {
				c.lastEvent[n.Ctx] = n
			}
		}
		// Ids start at 0 in each target run and the ring keeps the newest
		// events: id 0 still present means nothing of this run was dropped.
		c.ringCovers = len(in.Live.Notifications) > 0 && c.ringFirst == 0
	}
	return c
}

func (c *checker) info(uuid string) *lvsInfo {
	if i, ok := c.lvs[uuid]; ok {
		return i
	}
	i := &lvsInfo{uuid: uuid}
	c.lvs[uuid] = i
	c.lvsOrder = append(c.lvsOrder, uuid)
	return i
}

// lvstores joins the lvstores of both views and reports those seen in one
// only, or not read from disk.
func (c *checker) lvstores() {
	c.joinLive()
	p := c.in.Persisted
	if p == nil {
		c.noDisk()
		return
	}
	scanned, unreadable := c.joinDisk(p)
	matchedUnreadable := make(map[*PersistedLvstore]bool)
	for _, u := range c.lvsOrder {
		inf := c.lvs[u]
		switch {
		case inf.live != nil && inf.disk != nil:
			c.compareLvstore(inf)
		case inf.live != nil:
			c.liveOnly(inf, scanned, unreadable, matchedUnreadable)
		case inf.disk != nil:
			c.diskOnly(inf.disk)
		}
	}
	c.notRead(unreadable, matchedUnreadable)
}

// joinLive takes the lvstores the target lists.
func (c *checker) joinLive() {
	for i := range c.in.Live.Lvstores {
		ls := &c.in.Live.Lvstores[i]
		if ls.UUID == "" {
			continue
		}
		inf := c.info(ls.UUID)
		if inf.live == nil {
			inf.live, inf.name = ls, ls.Name
		}
	}
	// A lvol list without the lvstore list still proves the lvstore loaded.
	for _, l := range c.in.Live.Lvols {
		if l.LvstoreUUID == "" {
			continue
		}
		inf := c.info(l.LvstoreUUID)
		if inf.live == nil {
			inf.live = &LiveLvstore{UUID: l.LvstoreUUID, Name: l.LvstoreName}
			inf.name = l.LvstoreName
		}
	}
}

// notLoaded reports the lvstores the previous run of this target listed
// that this run has in no view: a check right after a restart, before the
// control plane re-created the base bdev, or a store the target no longer
// loads. Not checked, so not "clean".
func (c *checker) notLoaded() {
	for _, e := range c.in.Earlier {
		if _, ok := c.lvs[e.UUID]; ok || e.UUID == "" {
			continue
		}
		name := orUnknown(e.Name)
		c.add(finding.Finding{
			Code: CodeLvstoreNotLoaded, Severity: finding.Warning,
			Lvstore: e.Name, LvstoreUUID: e.UUID,
			Message: fmt.Sprintf("lvstore %s (uuid %s), loaded in the previous run of this target, is not loaded now and was not checked", name, e.UUID),
			Evidence: map[string]string{
				EvJournal: fmt.Sprintf("listed with %d lvol(s) by target run %s, last at %s", e.Lvols, e.Incarnation, stamp(e.LastSeen)),
				EvLive:    "not in bdev_lvol_get_lvstores",
				EvDisk:    "not read: no device of this target holds it",
			},
			Repair: fmt.Sprintf("If its base bdev is not re-created yet (the control plane does that after a restart), check again once it is. If it is, run `lvfsck check --device` with lvstore %s's device: a target may refuse a damaged store without a word.", name),
		})
	}
}

// noDisk reports every live lvstore as not read: no device was.
func (c *checker) noDisk() {
	for _, u := range c.lvsOrder {
		inf := c.lvs[u]
		c.add(finding.Finding{
			Code: CodeDiskNotRead, Severity: finding.Warning,
			Lvstore: inf.name, LvstoreUUID: u,
			Message:  fmt.Sprintf("lvstore %s: no device was read; only the live view and the journal were checked", inf.name),
			Evidence: map[string]string{EvLive: "loaded by the target", EvDisk: "not read"},
			Repair:   "Run `lvfsck check` with the lvstore's device (--device, or let it be found from bdev_get_bdevs) to see pending resurrections.",
		})
	}
}

// joinDisk takes the lvstores read from disk; it returns the readable
// scans by device path, and the unreadable ones.
func (c *checker) joinDisk(p *Persisted) (map[string]*PersistedLvstore, []*PersistedLvstore) {
	scanned := make(map[string]*PersistedLvstore)
	var unreadable []*PersistedLvstore
	for i := range p.Lvstores {
		d := &p.Lvstores[i]
		if !d.Readable {
			unreadable = append(unreadable, d)
			continue
		}
		if d.Device != "" {
			scanned[d.Device] = d
		}
		if d.UUID == "" {
			continue // no lvstore identity: the scanner says why
		}
		inf := c.info(d.UUID)
		if inf.disk == nil {
			inf.disk = d
			if inf.name == "" {
				inf.name = d.Name
			}
		}
	}
	return scanned, unreadable
}

// diskOnly reports an lvstore on disk that the target has not loaded.
func (c *checker) diskOnly(d *PersistedLvstore) {
	c.add(finding.Finding{
		Code: CodeLvstoreDiskOnly, Severity: finding.Warning,
		Lvstore: d.Name, LvstoreUUID: d.UUID, SPDK: d.Loads,
		Message: fmt.Sprintf("lvstore %s on %s is not loaded by the target; its lvols are not served and were not compared", d.Name, orUnknown(d.Device)),
		Evidence: map[string]string{
			EvDisk: fmt.Sprintf("device %s holds lvstore %s (uuid %s, clean=%t)", orUnknown(d.Device), d.Name, d.UUID, d.Clean),
			EvLive: "bdev_lvol_get_lvstores does not list it",
		},
		Repair: "If it should be served, create its base bdev on the target (bdev_aio_create on the device) and check again; if the device is retired or a copy, nothing to do.",
	})
}

// notRead reports the devices that could not be read, once per lvstore,
// except those a live-only lvstore's finding already named (matched).
func (c *checker) notRead(unreadable []*PersistedLvstore, matched map[*PersistedLvstore]bool) {
	reported := make(map[string]bool)
	for d := range matched {
		reported[d.UUID] = true
	}
	for _, d := range unreadable {
		if matched[d] || (d.UUID != "" && reported[d.UUID]) {
			continue
		}
		reported[d.UUID] = true
		c.add(finding.Finding{
			Code: CodeDiskNotRead, Severity: finding.Warning,
			Lvstore: d.Name, LvstoreUUID: d.UUID,
			Message:  fmt.Sprintf("device %s could not be read: %s", orUnknown(d.Device), orUnknown(d.Err)),
			Evidence: map[string]string{EvDisk: "not read: " + orUnknown(d.Err)},
			Repair:   "Fix access to the device (path, permissions) and check again.",
		})
	}
}

func (c *checker) liveOnly(inf *lvsInfo, scanned map[string]*PersistedLvstore, unreadable []*PersistedLvstore, matched map[*PersistedLvstore]bool) {
	ls := inf.live
	var first *PersistedLvstore
	for _, d := range unreadable {
		if (d.UUID != "" && d.UUID == ls.UUID) || (d.Device != "" && d.Device == ls.Device) {
			matched[d] = true
			if first == nil {
				first = d
			}
		}
	}
	if d := first; d != nil {
		c.add(finding.Finding{
			Code: CodeDiskNotRead, Severity: finding.Warning,
			Lvstore: inf.name, LvstoreUUID: ls.UUID,
			Message:  fmt.Sprintf("lvstore %s: device %s could not be read (%s); only the live view and the journal were checked", inf.name, orUnknown(d.Device), orUnknown(d.Err)),
			Evidence: map[string]string{EvLive: "loaded by the target on " + orUnknown(ls.BaseBdev), EvDisk: "not read: " + orUnknown(d.Err)},
			Repair:   "Fix access to the device (path, permissions, O_DIRECT) and check again to see pending resurrections.",
		})
		return
	}
	if d, ok := scanned[ls.Device]; ok && ls.Device != "" {
		held := "no lvstore identity"
		if d.UUID != "" {
			held = fmt.Sprintf("lvstore %s (uuid %s)", d.Name, d.UUID)
		}
		c.add(finding.Finding{
			Code: CodeLvstoreLiveOnly, Severity: finding.Error,
			Lvstore: inf.name, LvstoreUUID: ls.UUID,
			Message: fmt.Sprintf("lvstore %s is loaded from %s, but that device holds %s", inf.name, ls.Device, held),
			Evidence: map[string]string{
				EvLive: fmt.Sprintf("lvstore %s (uuid %s) on base bdev %s", inf.name, ls.UUID, orUnknown(ls.BaseBdev)),
				EvDisk: fmt.Sprintf("device %s holds %s", ls.Device, held),
			},
			Repair: "Make sure the device path given is the one the target uses (the AIO bdev's filename); if it is, the device changed under the running target: do not restart it before copying the data off.",
		})
		return
	}
	if c.in.Persisted.Complete {
		c.add(finding.Finding{
			Code: CodeLvstoreLiveOnly, Severity: finding.Warning,
			Lvstore: inf.name, LvstoreUUID: ls.UUID,
			Message: fmt.Sprintf("lvstore %s is loaded by the target, but none of the scanned devices holds it", inf.name),
			Evidence: map[string]string{
				EvLive: fmt.Sprintf("lvstore %s (uuid %s) on base bdev %s", inf.name, ls.UUID, orUnknown(ls.BaseBdev)),
				EvDisk: "not found on any scanned device",
			},
			Repair: "Check which file or device backs its base bdev and pass it with --device.",
		})
		return
	}
	c.add(finding.Finding{
		Code: CodeDiskNotRead, Severity: finding.Warning,
		Lvstore: inf.name, LvstoreUUID: ls.UUID,
		Message:  fmt.Sprintf("lvstore %s: its device was not scanned; only the live view and the journal were checked", inf.name),
		Evidence: map[string]string{EvLive: "loaded by the target on " + orUnknown(ls.BaseBdev), EvDisk: "not scanned"},
		Repair:   "Pass the lvstore's device with --device to see pending resurrections.",
	})
}

func (c *checker) compareLvstore(inf *lvsInfo) {
	ls, d := inf.live, inf.disk
	inf.compare = d.Loads != finding.LoadRefuse && d.Loads != finding.LoadCrash
	var diffs []string
	sev := finding.Info
	if ls.Name != "" && d.Name != "" && ls.Name != d.Name {
		diffs = append(diffs, fmt.Sprintf("name: live %q, disk %q", ls.Name, d.Name))
		sev = finding.Error
	}
	if ls.ClusterSize != 0 && d.ClusterSize != 0 && ls.ClusterSize != d.ClusterSize {
		diffs = append(diffs, fmt.Sprintf("cluster size: live %d, disk %d", ls.ClusterSize, d.ClusterSize))
		sev = finding.Error
	}
	if len(diffs) == 0 {
		return
	}
	c.add(finding.Finding{
		Code: CodeAttrMismatch, Severity: sev,
		Lvstore: inf.name, LvstoreUUID: inf.uuid,
		Message: fmt.Sprintf("lvstore %s: the views disagree (%s)", inf.name, strings.Join(diffs, "; ")),
		Evidence: map[string]string{
			EvLive: fmt.Sprintf("name %q, cluster size %d", ls.Name, ls.ClusterSize),
			EvDisk: fmt.Sprintf("name %q, cluster size %d on %s", d.Name, d.ClusterSize, orUnknown(d.Device)),
		},
		Repair: "Re-run `lvfsck check` (the device may have been read mid-update); if it stays, the device read is not the one the target uses, or the target will load something else at its next start.",
	})
}

// lostParents handles live clones that report no base snapshot name: folded
// into the parent's pending resurrection when the disk names a parent that
// the live view lacks, reported on their own otherwise, with a message and
// advice that fit what the disk showed.
func (c *checker) lostParents() {
	for i := range c.in.Live.Lvols {
		l := &c.in.Live.Lvols[i]
		if !l.Clone || l.EsnapClone || !l.ParentReported || l.BaseSnapshot != "" {
			continue
		}
		if l.UUID == "" || c.liveIdx[l.UUID] != i {
			continue // duplicate entry
		}
		inf := c.lvs[l.LvstoreUUID]
		alias := orUnknown(l.Alias)
		lead := fmt.Sprintf("clone %s reports no base snapshot name", alias)
		v := lostParentVerdict{
			disk: "not read",
			msg:  lead + ": its parent snapshot was dropped from the target's view (a forced removal, or a failed open at load); after a forced removal it comes back at the next restart",
			repair: "Run `lvfsck check` with the lvstore's device to name the snapshot and tell a forced removal from a failed open. " +
				"After a forced removal it comes back at the next target restart; after the restart run `lvfsck repair --yes` (or `lvfsck repair --reload --yes` in a maintenance window) to delete it for good.",
		}
		if inf != nil && inf.compare {
			var folded bool
			v, folded = c.lostParentOnDisk(inf, l, lead)
			if folded {
				continue
			}
		}
		c.add(finding.Finding{
			Code: CodeCloneLostBaseSnapshot, Severity: finding.Error,
			Lvstore: lvsName(inf, l.LvstoreName), LvstoreUUID: l.LvstoreUUID,
			LvolName: l.Name, LvolUUID: l.UUID,
			Message: v.msg,
			Evidence: map[string]string{
				EvLive: "bdev_get_bdevs: clone=true, no base_snapshot (the target logs `Cannot obtain parent snapshots name`)",
				EvDisk: v.disk,
			},
			Repair: v.repair,
		})
	}
}

// lostParentVerdict is what a clone-lost-base-snapshot finding says: its
// disk evidence, and the message and advice that agree with it.
type lostParentVerdict struct {
	disk, msg, repair string
}

// lostParentOnDisk reads the clone's parent on the disk of a compared
// lvstore. folded is true when the parent is absent from the live view and
// loadable: its pending resurrection (absent) then carries the clone.
func (c *checker) lostParentOnDisk(inf *lvsInfo, l *LiveLvol, lead string) (v lostParentVerdict, folded bool) {
	const reread = "Re-run `lvfsck check` (the views may have been taken at different moments); if it stays, the device read is not the one the target uses, or the target's view is damaged: restart the target in a maintenance window and check again."
	v = lostParentVerdict{
		disk:   "the clone's blob is not on disk",
		msg:    lead + " and no blob on disk carries its uuid: nothing on disk comes back for it",
		repair: reread,
	}
	pi, ok := c.persIdx[l.UUID]
	if !ok {
		return v, false
	}
	p := &c.in.Persisted.Lvols[pi]
	if p.ParentBlobID == 0 {
		v.disk = fmt.Sprintf("the clone's blob %#x has no parent", p.BlobID)
		v.msg = lead + ", and its blob on disk has no parent either: the views disagree, nothing comes back at a restart"
		return v, false
	}
	parIdx, ok := c.persBlob[blobKey{p.LvstoreUUID, p.ParentBlobID}]
	if !ok {
		v.disk = fmt.Sprintf("the clone's parent blob %#x is not on disk", p.ParentBlobID)
		v.msg = fmt.Sprintf("%s, and its parent blob %#x is not on disk: the parent is gone for good, and a clone without its parent blob may fail to open at the next restart", lead, p.ParentBlobID)
		v.repair = "Copy the clone's data off before the target restarts (its parent, which holds the clusters it did not write, is not on disk), then " + strings.ToLower(reread[:1]) + reread[1:]
		return v, false
	}
	par := &c.in.Persisted.Lvols[parIdx]
	_, parLive := c.liveIdx[par.UUID]
	indexed, ok := c.persIdx[par.UUID]
	switch {
	case !loadable(par.Loads):
		v.disk = fmt.Sprintf("the clone's parent blob %#x (%q) would not load (%s)", par.BlobID, par.Name, par.Loads)
		v.msg = fmt.Sprintf("%s: its parent blob %#x (%q) is on disk but SPDK would not load it (%s), so the target gives it no bdev, now or after a restart", lead, par.BlobID, par.Name, par.Loads)
		v.repair = fmt.Sprintf("See the integrity finding on blob %#x for why SPDK does not load it (with two lvols of one name, the duplicate-lvol-name finding): fix that cause (for a duplicate name, rename the other lvol and reload), then check again. The clone still reads through that blob: do not delete it.", par.BlobID)
	case parLive:
		v.disk = fmt.Sprintf("the clone's parent %q (blob %#x) is live, yet its name is not reported", par.Name, par.BlobID)
		v.msg = fmt.Sprintf("%s although its parent %q (blob %#x) is live: the target's view of the clone is inconsistent", lead, par.Name, par.BlobID)
	case !ok || indexed != parIdx:
		v.disk = fmt.Sprintf("the clone's parent blob %#x has no usable lvol identity (uuid %q)", par.BlobID, par.UUID)
		v.msg = fmt.Sprintf("%s: its parent blob %#x has no usable lvol identity (uuid %q), so no bdev names it", lead, par.BlobID, par.UUID)
		v.repair = fmt.Sprintf("See the integrity findings on blob %#x (duplicate or missing uuid). The clone still reads through that blob: do not delete it.", par.BlobID)
	default:
		c.lostBy[parIdx] = append(c.lostBy[parIdx], orUnknown(l.Alias))
		return v, true
	}
	return v, false
}

// persistedLvols looks at each loadable persisted lvol of a compared lvstore.
func (c *checker) persistedLvols() {
	p := c.in.Persisted
	if p == nil {
		return
	}
	for i := range p.Lvols {
		pl := &p.Lvols[i]
		inf := c.lvs[pl.LvstoreUUID]
		if inf == nil || !inf.compare || pl.UUID == "" || c.persIdx[pl.UUID] != i {
			continue
		}
		if !loadable(pl.Loads) {
			// Damage is the scanner's finding. But SPDK v24.09 skips an lvol
			// whose name is taken; if a live lvol holds the name, that is
			// why it is invisible, and its clusters stay allocated.
			if _, live := c.liveIdx[pl.UUID]; !live && pl.Loads == finding.LoadSkip {
				if li, ok := c.liveName[nameKey{pl.LvstoreUUID, pl.Name}]; ok {
					c.collision(c.base(inf, pl), inf, pl, &c.in.Live.Lvols[li], false, map[string]string{EvDisk: c.diskText(inf, pl)})
				}
			}
			continue
		}
		if li, ok := c.liveIdx[pl.UUID]; ok {
			c.attrs(inf, pl, &c.in.Live.Lvols[li])
			continue
		}
		c.absent(inf, i)
	}
}

// absent decides what a persisted, loadable lvol missing from the live view
// is, from positive evidence only.
func (c *checker) absent(inf *lvsInfo, idx int) {
	pl := &c.in.Persisted.Lvols[idx]
	alias := inf.name + "/" + pl.Name
	a := c.absenceOf(inf, idx, alias)

	// A live lvol of the same lvstore under the same name.
	var other *LiveLvol
	if li, ok := c.liveName[nameKey{pl.LvstoreUUID, pl.Name}]; ok && c.in.Live.Lvols[li].UUID != pl.UUID {
		other = &c.in.Live.Lvols[li]
	}
	base := c.base(inf, pl)

	// Forced removal or a fixed target's hidden zombie (zombie.go).
	sem := c.dropSemantics(idx, alias)
	for i, t := range sem.fixed {
		if !strings.Contains(a.pos.m[sem.fixedFrom[i]], t) {
			a.pos.mark(sem.fixedFrom[i], t)
		}
	}
	switch {
	case a.pos.positive && sem.which() == SemanticsFixed:
		c.zombie(base, pl, alias, a.pos.m, sem)
	case a.pos.positive:
		c.pending(base, inf, pl, alias, other, a.pos.m, sem)
	case other != nil:
		c.collision(base, inf, pl, other, false, a.pos.m)
	default:
		c.unexplained(base, pl, alias, a)
	}
}

// absence is what the views say about a persisted lvol missing from the
// live view: positive evidence that the target dropped it (pos), context
// that proves nothing (ctx), and the traces of a failed open.
type absence struct {
	pos, ctx         evidence
	registered       bool     // the ring shows it got a bdev in this run
	notOpenedLog     []string // log lines of a failed open, this incarnation
	notOpenedEarlier string   // an earlier check of this incarnation recorded it not opened
}

// absenceOf gathers the evidence about the absent persisted lvol idx from
// the disk, the journal, the notify ring, its clones and imported logs.
func (c *checker) absenceOf(inf *lvsInfo, idx int, alias string) absence {
	pl := &c.in.Persisted.Lvols[idx]
	var a absence
	a.pos.add(EvDisk, c.diskText(inf, pl))
	c.listedEarlier(&a.pos, pl.UUID)
	c.ringTrace(&a, pl.UUID)
	c.nameless(&a, idx, pl.UUID)
	c.logTrace(&a, pl.UUID, alias)
	// An earlier check of this target run saw what this one may no longer
	// see (the ring rolled over, the log was not imported again): what it
	// recorded stays true until the target restarts.
	a.notOpenedEarlier = c.recordedHere(pl.UUID, CodeNotOpenedAtLoad)
	for _, code := range []finding.Code{CodePendingResurrection, CodeHiddenZombie} {
		if r := c.recordedHere(pl.UUID, code); r != "" {
			a.pos.mark(EvJournal, r)
			break
		}
	}
	return a
}

// listedEarlier marks what the journal proves of this incarnation: an
// earlier run listed the lvol, or lvfsck recorded a delete of it.
func (c *checker) listedEarlier(pos *evidence, uuid string) {
	if c.hist == nil || c.cur == "" {
		return
	}
	if c.hist.SeenInIncarnation(c.cur, uuid) {
		pos.mark(EvJournal, "listed in the live view by an earlier run in this target incarnation, now gone")
	}
	for _, d := range c.hist.DeletesOf(uuid) {
		if d.Incarnation != c.cur {
			continue
		}
		// lvfsck deletes only lvols it resolved in the live view, so an
		// intent in this incarnation proves it was listed.
		pos.mark(EvJournal, fmt.Sprintf("delete intent at %s in this incarnation, outcome %s", stamp(d.IntentAt), resultText(d.Result)))
	}
}

// ringTrace reads the notify ring's last event for the lvol: an unregister
// is a drop; a register only shows it had a bdev.
func (c *checker) ringTrace(a *absence, uuid string) {
	if c.lastEvent == nil {
		return
	}
	ev, ok := c.lastEvent[uuid]
	if !ok {
		return
	}
	if ev.Type == NotifyBdevUnregister {
		a.pos.mark(EvNotify, fmt.Sprintf("bdev_unregister (id %d) in this run while the blob stays on disk", ev.ID))
		return
	}
	// It was opened at load, but a register alone does not show a drop:
	// the views may be from different moments.
	a.registered = true
	a.ctx.add(EvNotify, fmt.Sprintf("%s (id %d) and no bdev_unregister: it had a bdev in this run, yet the live view lacks it (views taken at different moments?)", ev.Type, ev.ID))
}

// nameless weighs the live clones of the blob that lost its name as their
// base snapshot.
func (c *checker) nameless(a *absence, idx int, uuid string) {
	clones := c.lostBy[idx]
	if len(clones) == 0 {
		return
	}
	txt := fmt.Sprintf("its clone %s reports clone=true with no base snapshot name", capList(clones, 8))
	if _, any := c.lastEvent[uuid]; c.ringCovers && !any {
		// A snapshot that failed to open at load leaves its clones just as
		// nameless as one that a forced removal dropped; the ring,
		// covering the whole run, shows it never had a bdev.
		a.ctx.add(EvLive, txt+", but it never had a bdev in this run, so that is the trace of a failed open, not of a forced removal")
		return
	}
	a.pos.mark(EvLive, txt)
}

// logTrace takes the imported log lines of this incarnation about the lvol:
// a forced removal, or a failed open.
func (c *checker) logTrace(a *absence, uuid, alias string) {
	if c.hist == nil {
		return
	}
	for _, e := range c.hist.LogEvidence(uuid, alias) {
		if e.Incarnation != "" && c.cur != "" && e.Incarnation != c.cur {
			continue // about another run of the target
		}
		switch e.Kind {
		case EvidenceForcedRemoval:
			a.pos.mark(EvLog, e.Text)
		case EvidenceErrorOpeningLvol, EvidenceCannotCreateBdev:
			a.notOpenedLog = append(a.notOpenedLog, e.Text)
		}
	}
}

// pending reports a pending resurrection (a forced removal, or a drop
// whose semantics the evidence does not tell), and the name collision
// when another lvol took its name.
func (c *checker) pending(base finding.Finding, inf *lvsInfo, pl *PersistedLvol, alias string, other *LiveLvol, ev map[string]string, sem semVerdict) {
	f := base
	f.Code, f.Severity = CodePendingResurrection, finding.Error
	f.Message = fmt.Sprintf("%s (uuid %s) is gone from the live view but its blob is on disk and loads at the next restart: a forced removal", alias, pl.UUID)
	f.Evidence = ev
	if c.hist != nil {
		if s := c.hist.TargetSemantics(); s == SemanticsForced || s == SemanticsFixed {
			f.Evidence[EvJournal] = joinEv(f.Evidence[EvJournal], "the target showed "+s+" delete semantics")
		}
	}
	f.Evidence[EvSemantics] = sem.text()
	f.Repair = fmt.Sprintf("%s comes back at the next target restart; the control plane believes it deleted and its clusters stay allocated until then. After the restart run `lvfsck repair --yes` (or `lvfsck repair --reload --yes` in a maintenance window; the reload drops the lvstore's NVMe-oF namespaces).", alias)
	if sem.which() == "" {
		f.Message = fmt.Sprintf("%s (uuid %s) is gone from the live view but its blob is on disk and loads at the next restart: a forced removal, or a hidden zombie on a target with Longhorn's fix (the evidence does not tell which)", alias, pl.UUID)
		f.Repair = fmt.Sprintf("%s comes back at the next target restart; its clusters stay allocated until then. Until it is known which semantics dropped it, treat it as a zombie: no reload (`repair --reload` refuses), and a clean shutdown may hang and need a kill. `lvfsck delete %s` tells which (it retries by uuid: harmless on both). After the restart run `lvfsck repair --yes`.", alias, alias)
	}
	if other != nil {
		f.Repair += " Its name is now taken: see the name-collision finding first."
	}
	c.add(f)
	if other != nil {
		c.collision(base, inf, pl, other, true, ev)
	}
}

// unexplained reports an absent lvol with no positive evidence of a drop:
// not opened at load when the ring, a log or an earlier check shows it
// never got a bdev; otherwise no-evidence, saying what was missing.
func (c *checker) unexplained(base finding.Finding, pl *PersistedLvol, alias string, a absence) {
	ev, ctx := a.pos.m, a.ctx
	var notOpened bool
	switch {
	case a.registered:
	case !c.in.Live.NotifyAvailable:
		ctx.add(EvNotify, "notify ring not available")
	case c.ringCovers:
		notOpened = true
		ev[EvNotify] = "no bdev_register for its uuid since the target started (the ring holds this run from id 0)"
	case len(c.in.Live.Notifications) == 0:
		ctx.add(EvNotify, "notify ring empty: cannot tell whether it got a bdev")
	default:
		ctx.add(EvNotify, fmt.Sprintf("no event for its uuid, but the ring starts at id %d: events since the start were dropped, so it cannot tell whether it got a bdev", c.ringFirst))
	}
	if len(a.notOpenedLog) > 0 && !a.registered {
		notOpened = true
		ev[EvLog] = capList(a.notOpenedLog, 4)
	}
	if a.notOpenedEarlier != "" && !a.registered {
		notOpened = true
		ev[EvJournal] = joinEv(ev[EvJournal], a.notOpenedEarlier)
	}
	switch {
	case c.hist == nil:
		ctx.add(EvJournal, "no journal")
	case c.cur == "":
		ctx.add(EvJournal, "target incarnation unknown")
	case c.in.Incarnation.EarlierRuns > 0:
		ev[EvJournal] = joinEv(ev[EvJournal], fmt.Sprintf("not listed by any of %d earlier runs in this target incarnation", c.in.Incarnation.EarlierRuns))
	default:
		ctx.add(EvJournal, "no earlier run in this target incarnation")
	}
	for k, v := range ctx.m {
		ev[k] = v
	}
	f := base
	f.Evidence = ev
	if notOpened {
		f.Code, f.Severity = CodeNotOpenedAtLoad, finding.Warning
		f.Message = fmt.Sprintf("%s (uuid %s) is persisted and loadable but the target never gave it a bdev in this run: not opened at load, not a forced removal", alias, pl.UUID)
		f.Repair = "Look in the target log for `Error opening lvol` or `Cannot create bdev for lvol` (SPDK #2608/#2910: opens run out past ~512 lvols); a target restart usually opens it. It was never deleted: do not remove it as an orphan."
	} else {
		f.Code, f.Severity = CodeNoEvidence, finding.Warning
		f.Message = fmt.Sprintf("%s (uuid %s) is persisted and loadable but absent from the live view, cause unknown: no evidence of a forced removal nor of a failed open", alias, pl.UUID)
		f.Repair = fmt.Sprintf("It loads again at the next restart. To tell a forced removal from a failed open, check again with the notify ring (notify_get_notifications) and the target log imported (`lvfsck log import`); do not delete %s on this evidence alone.", alias)
	}
	c.add(f)
}

func (c *checker) collision(base finding.Finding, inf *lvsInfo, pl *PersistedLvol, other *LiveLvol, pending bool, ev map[string]string) {
	alias := inf.name + "/" + pl.Name
	f := base
	f.Code, f.Severity = CodeNameCollision, finding.Error
	f.Evidence = make(map[string]string, len(ev)+1)
	for k, v := range ev {
		f.Evidence[k] = v
	}
	f.Evidence[EvLive] = joinEv(f.Evidence[EvLive], fmt.Sprintf("live lvol %s has uuid %s", orUnknown(other.Alias), other.UUID))
	held := c.clusterText(inf, pl)
	if pending {
		f.Message = fmt.Sprintf("%s (uuid %s) was dropped from the view and loads at the next restart, but live lvol uuid %s now uses the same name: at that load one of the two gets no bdev (on SPDK v24.09 the newer one kept the name) and the other's %s stay allocated to a volume no view shows", alias, pl.UUID, other.UUID, held)
	} else {
		// True before a restart (the blob of a force-removed lvol, whose
		// name a newer lvol took) and after it (the loser of the load).
		f.Message = fmt.Sprintf("%s (uuid %s, blob %#x) is persisted but gets no bdev at load because live lvol uuid %s holds the name: an invisible volume holding %s", alias, pl.UUID, pl.BlobID, other.UUID, held)
	}
	f.Repair = fmt.Sprintf("lvfsck cannot delete a blob that has no bdev. In a maintenance window: rename the live lvol uuid %s (bdev_lvol_rename), restart the target (or `lvfsck repair --reload --yes`) so that uuid %s gets its bdev under its own name, delete it with `lvfsck repair --yes` if it is unwanted, then rename the live lvol back.", other.UUID, pl.UUID)
	c.add(f)
}

// attrs compares one lvol present in both views.
func (c *checker) attrs(inf *lvsInfo, pl *PersistedLvol, l *LiveLvol) {
	type diff struct {
		sev  finding.Severity
		text string
	}
	var diffs []diff
	if l.LvstoreUUID != "" && l.LvstoreUUID != pl.LvstoreUUID {
		diffs = append(diffs, diff{finding.Error, fmt.Sprintf("lvstore: live %s, disk %s", l.LvstoreUUID, pl.LvstoreUUID)})
	}
	if l.Name != pl.Name {
		diffs = append(diffs, diff{finding.Error, fmt.Sprintf("name: live %q, disk %q", l.Name, pl.Name)})
	}
	if l.SizeBytes != 0 && pl.SizeBytes != 0 && l.SizeBytes != pl.SizeBytes {
		diffs = append(diffs, diff{finding.Error, fmt.Sprintf("size: live %d, disk %d bytes", l.SizeBytes, pl.SizeBytes)})
	}
	if l.Thin != pl.Thin {
		diffs = append(diffs, diff{finding.Warning, fmt.Sprintf("thin: live %t, disk %t", l.Thin, pl.Thin)})
	}
	if l.ReadOnly != nil && *l.ReadOnly != pl.ReadOnly {
		diffs = append(diffs, diff{finding.Warning, fmt.Sprintf("read-only: live %t, disk %t", *l.ReadOnly, pl.ReadOnly)})
	}
	if l.Snapshot != pl.IsSnapshot {
		diffs = append(diffs, diff{finding.Warning, fmt.Sprintf("snapshot: live %t, disk %t", l.Snapshot, pl.IsSnapshot)})
	}
	if l.Clone != pl.IsClone {
		diffs = append(diffs, diff{finding.Warning, fmt.Sprintf("clone: live %t, disk %t", l.Clone, pl.IsClone)})
	}
	if l.EsnapClone != pl.EsnapClone {
		diffs = append(diffs, diff{finding.Warning, fmt.Sprintf("external-snapshot clone: live %t, disk %t", l.EsnapClone, pl.EsnapClone)})
	}
	// An empty live base snapshot is the lost-parent trace, handled apart.
	if l.ParentReported && l.BaseSnapshot != "" && pl.ParentName != "" && l.BaseSnapshot != pl.ParentName {
		diffs = append(diffs, diff{finding.Error, fmt.Sprintf("parent: live %q, disk %q (blob %#x)", l.BaseSnapshot, pl.ParentName, pl.ParentBlobID)})
	}
	if len(diffs) == 0 {
		return
	}
	sev := finding.Info
	texts := make([]string, len(diffs))
	for i, d := range diffs {
		texts[i] = d.text
		if d.sev > sev {
			sev = d.sev
		}
	}
	alias := inf.name + "/" + pl.Name
	f := c.base(inf, pl)
	f.Code, f.Severity = CodeAttrMismatch, sev
	f.Message = fmt.Sprintf("%s: the views disagree (%s); after a restart the target uses the disk's value", alias, strings.Join(texts, "; "))
	f.Evidence = map[string]string{
		EvLive: fmt.Sprintf("%s: size %d, thin %t, snapshot %t, clone %t, base snapshot %q", orUnknown(l.Alias), l.SizeBytes, l.Thin, l.Snapshot, l.Clone, l.BaseSnapshot),
		EvDisk: fmt.Sprintf("blob %#x %q: size %d, thin %t, read-only %t, snapshot %t, clone %t, parent %q", pl.BlobID, pl.Name, pl.SizeBytes, pl.Thin, pl.ReadOnly, pl.IsSnapshot, pl.IsClone, pl.ParentName),
	}
	f.Repair = "Re-run `lvfsck check` (a device read beside a running target can catch an update half-written); if it stays, re-apply the change over RPC (bdev_lvol_resize, bdev_lvol_rename, bdev_lvol_set_read_only) so that it is persisted before the next restart."
	c.add(f)
}

// liveLvols checks each live lvol against the journal (resurrected) and, where
// the disk was read, against the persisted blobs (phantom).
func (c *checker) liveLvols() {
	for i := range c.in.Live.Lvols {
		l := &c.in.Live.Lvols[i]
		if l.UUID == "" || c.liveIdx[l.UUID] != i {
			continue
		}
		inf := c.lvs[l.LvstoreUUID]
		c.resurrected(inf, l)
		if inf == nil || !inf.compare {
			continue
		}
		if _, ok := c.persIdx[l.UUID]; ok {
			continue
		}
		c.add(finding.Finding{
			Code: CodePhantom, Severity: finding.Error,
			Lvstore: inf.name, LvstoreUUID: inf.uuid,
			LvolName: l.Name, LvolUUID: l.UUID,
			Message: fmt.Sprintf("%s (uuid %s) is live but no blob on disk carries its uuid: it will not exist after a restart", orUnknown(l.Alias), l.UUID),
			Evidence: map[string]string{
				EvLive: fmt.Sprintf("listed: size %d, thin %t, snapshot %t, clone %t", l.SizeBytes, l.Thin, l.Snapshot, l.Clone),
				EvDisk: fmt.Sprintf("no blob with uuid %s on %s", l.UUID, orUnknown(inf.disk.Device)),
			},
			Repair: "If the device was read before the lvol was created or from a stale copy, re-run `lvfsck check`; otherwise copy its data off before the target restarts.",
		})
	}
}

func (c *checker) resurrected(inf *lvsInfo, l *LiveLvol) {
	if c.hist == nil {
		return
	}
	var ev evidence
	for _, d := range c.hist.DeletesOf(l.UUID) {
		if d.Result.gone() {
			what := "deleted"
			if d.Alias != "" {
				what += " as " + d.Alias
			}
			ev.mark(EvJournal, fmt.Sprintf("%s at %s (incarnation %s), outcome %s", what, stamp(d.IntentAt), orUnknown(d.Incarnation), resultText(d.Result)))
		}
	}
	if g, ok := c.hist.SeenEarlierAndGone(l.UUID); ok && (c.cur == "" || g.Incarnation != c.cur) {
		ev.mark(EvJournal, fmt.Sprintf("listed until %s then gone (incarnation %s)", stamp(g.LastSeen), orUnknown(g.Incarnation)))
	}
	for _, e := range c.hist.LogEvidence(l.UUID, l.Alias) {
		if e.Kind == EvidenceForcedRemoval {
			ev.mark(EvLog, e.Text)
		}
	}
	c.recordedDrops(&ev, l.UUID)
	if !ev.positive {
		return
	}
	name := lvsName(inf, l.LvstoreName)
	ev.add(EvLive, fmt.Sprintf("listed again as %s", orUnknown(l.Alias)))
	f := finding.Finding{
		Code: CodeResurrected, Severity: finding.Error,
		Lvstore: name, LvstoreUUID: l.LvstoreUUID,
		LvolName: l.Name, LvolUUID: l.UUID,
		Message:  fmt.Sprintf("%s (uuid %s) was deleted earlier and is live again: resurrected", orUnknown(l.Alias), l.UUID),
		Evidence: ev.m,
		Repair:   fmt.Sprintf("The control plane believes %s deleted. Make sure nothing uses it, then run `lvfsck repair --yes` to delete it with guarded semantics.", orUnknown(l.Alias)),
	}
	if c.persIdx != nil {
		if pi, ok := c.persIdx[l.UUID]; ok && inf != nil && inf.compare {
			pl := &c.in.Persisted.Lvols[pi]
			b := c.base(inf, pl)
			f.BlobID, f.SPDK, f.Page = b.BlobID, b.SPDK, b.Page
			f.Evidence[EvDisk] = c.diskText(inf, pl)
		}
	}
	c.add(f)
}

// recordedDrops marks what earlier runs recorded as findings about a lvol
// that is live now: a pending resurrection (or a fixed target's hidden
// zombie) reported in another target incarnation proves the drop even when no run saw the lvol listed before
// it (deleted between two checks); a resurrection still open stays one
// until repaired. A pending resurrection of this incarnation proves
// nothing here: the lvol cannot be live again without a restart.
func (c *checker) recordedDrops(ev *evidence, uuid string) {
	var stillOpen *RecordedFinding
	for _, r := range c.hist.RecordedFindings(uuid) {
		switch {
		case (r.Code == CodePendingResurrection || r.Code == CodeHiddenZombie) && r.Incarnation != "" && r.Incarnation != c.cur:
			when := "at " + stamp(r.LastSeen)
			if !r.FirstSeen.Equal(r.LastSeen) {
				when = fmt.Sprintf("from %s to %s", stamp(r.FirstSeen), stamp(r.LastSeen))
			}
			ev.mark(EvJournal, fmt.Sprintf("reported %s by the checks of incarnation %s %s, on this evidence then: %s",
				r.Code, r.Incarnation, when, orUnknown(unnest(r.Summary))))
		case r.Code == CodeResurrected && r.Open:
			stillOpen = &r
		}
	}
	// The run's record says "reported since"; the open resurrection is
	// named only when it is all that is left (the rest pruned).
	if stillOpen != nil && !ev.positive {
		ev.mark(EvJournal, fmt.Sprintf("reported %s since %s and not repaired", CodeResurrected, stamp(stillOpen.FirstSeen)))
	}
}

// recordedHere says, when an earlier check of this incarnation recorded a
// finding of that code about the lvol, what it was and on which evidence;
// "" otherwise.
func (c *checker) recordedHere(uuid string, code finding.Code) string {
	if c.hist == nil || c.cur == "" {
		return ""
	}
	for _, r := range c.hist.RecordedFindings(uuid) {
		if r.Code == code && r.Incarnation == c.cur {
			return fmt.Sprintf("reported %s by an earlier check of this target incarnation at %s, on this evidence then: %s", code, stamp(r.LastSeen), orUnknown(unnest(r.Summary)))
		}
	}
	return ""
}

func (c *checker) openIntents() {
	if c.hist == nil {
		return
	}
	seen := make(map[string]bool)
	for _, it := range c.hist.OpenIntents() {
		// One finding per lvol: its journal key is per lvol.
		if seen[it.LvolUUID] {
			continue
		}
		seen[it.LvolUUID] = true
		state := "not listed now"
		lvs, name, _ := strings.Cut(it.Alias, "/")
		if name == "" {
			lvs, name = "", it.Alias
		}
		if li, ok := c.liveIdx[it.LvolUUID]; ok {
			state = "still listed now: the delete did not happen"
			name = c.in.Live.Lvols[li].Name
		}
		ev := map[string]string{
			EvJournal: fmt.Sprintf("delete intent %s for %s at %s (incarnation %s) has no outcome", orUnknown(it.ID), orUnknown(it.Alias), stamp(it.At), orUnknown(it.Incarnation)),
			EvLive:    state,
		}
		f := finding.Finding{
			Code: CodeOpenDeleteIntent, Severity: finding.Warning,
			Lvstore: lvs, LvstoreUUID: it.LvstoreUUID, LvolUUID: it.LvolUUID, LvolName: name,
			Message: fmt.Sprintf("lvfsck stopped in the middle of deleting %s (uuid %s); the outcome was never recorded", orUnknown(it.Alias), orUnknown(it.LvolUUID)),
			Repair:  "If the lvol is still listed, run the delete again; if it is gone from the view but on disk, it is reported as a pending resurrection. `lvfsck repair --yes` settles the intent.",
		}
		if inf := c.lvs[it.LvstoreUUID]; inf != nil {
			f.Lvstore = lvsName(inf, lvs)
			if inf.compare && c.persIdx != nil {
				if pi, ok := c.persIdx[it.LvolUUID]; ok {
					pl := &c.in.Persisted.Lvols[pi]
					f.BlobID = pl.BlobID
					ev[EvDisk] = c.diskText(inf, pl)
				} else {
					ev[EvDisk] = "no blob with its uuid on disk"
				}
			}
		}
		f.Evidence = ev
		c.add(f)
	}
}

// maxText bounds a message, repair or evidence text: names come from data
// (captured JSON in offline checks) and must not blow up a report.
const maxText = 4096

func (c *checker) add(f finding.Finding) {
	f.Message, f.Repair = clip(f.Message), clip(f.Repair)
	for k, v := range f.Evidence {
		f.Evidence[k] = clip(v)
	}
	c.out = append(c.out, f)
}

func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	s = strings.ToValidUTF8(s[:maxText], "")
	return s + "…"
}

// base is a finding about a persisted lvol, without code and text.
func (c *checker) base(inf *lvsInfo, pl *PersistedLvol) finding.Finding {
	f := finding.Finding{
		Lvstore: inf.name, LvstoreUUID: inf.uuid, BlobID: pl.BlobID,
		LvolName: pl.Name, LvolUUID: pl.UUID, SPDK: pl.Loads,
	}
	if len(pl.Pages) > 0 {
		f.Page = finding.PageRef(pl.Pages[0])
	}
	return f
}

func (c *checker) diskText(inf *lvsInfo, pl *PersistedLvol) string {
	var b strings.Builder
	fmt.Fprintf(&b, "blob %#x", pl.BlobID)
	if len(pl.Pages) > 0 {
		fmt.Fprintf(&b, " (md pages %s)", capPages(pl.Pages, 8))
	}
	fmt.Fprintf(&b, " carries name %q and uuid %s; SPDK would %s it; %s allocated", pl.Name, pl.UUID, pl.Loads, c.clusterText(inf, pl))
	if inf.disk != nil && !inf.disk.Clean {
		b.WriteString("; super block clean=0 (store loaded, or not cleanly unloaded)")
	}
	return b.String()
}

func (c *checker) clusterText(inf *lvsInfo, pl *PersistedLvol) string {
	s := fmt.Sprintf("%d clusters", pl.AllocatedClusters)
	if inf.disk != nil && inf.disk.ClusterSize != 0 && pl.AllocatedClusters <= (1<<63)/inf.disk.ClusterSize {
		s += " (" + bytesText(pl.AllocatedClusters*inf.disk.ClusterSize) + ")"
	}
	return s
}

// evidence collects texts per source; positive records whether any of them
// is positive evidence of a drop.
type evidence struct {
	m        map[string]string
	positive bool
}

func (e *evidence) add(k, v string) {
	if e.m == nil {
		e.m = make(map[string]string, 4)
	}
	e.m[k] = joinEv(e.m[k], v)
}

func (e *evidence) mark(k, v string) {
	e.add(k, v)
	e.positive = true
}

// maxEvidence bounds one evidence text: a journal can hold many records.
const maxEvidence = 2048

func joinEv(a, b string) string {
	switch {
	case a == "":
		return b
	case len(a) >= maxEvidence:
		return a
	case len(a)+len(b) > maxEvidence:
		return a + "; …"
	}
	return a + "; " + b
}

func resultText(r DeleteResult) string {
	if r == ResultNone {
		return "not recorded"
	}
	return string(r)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}

// quotedEvidence joins a recorded finding's own evidence to the quote of an
// earlier record's.
const quotedEvidence = ", on this evidence then: "

// unnest is a recorded summary with the earlier records it quoted flattened
// into their evidence, each item once: every check of a pending
// resurrection quotes the one before, which would otherwise nest one level
// deeper per check.
func unnest(summary string) string {
	var out []string
	seen := make(map[string]bool)
	for _, part := range strings.Split(summary, "; ") {
		for {
			i := strings.LastIndex(part, quotedEvidence)
			if i < 0 {
				break
			}
			part = part[i+len(quotedEvidence):]
		}
		if part != "" && !seen[part] {
			seen[part] = true
			out = append(out, part)
		}
	}
	return strings.Join(out, "; ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func lvsName(inf *lvsInfo, fallback string) string {
	if inf != nil && inf.name != "" {
		return inf.name
	}
	return fallback
}

func capList(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(xs[:n], ", "), len(xs)-n)
}

func capPages(ps []uint32, n int) string {
	parts := make([]string, 0, min(len(ps), n))
	for _, p := range ps[:min(len(ps), n)] {
		parts = append(parts, fmt.Sprint(p))
	}
	s := strings.Join(parts, ",")
	if len(ps) > n {
		s += fmt.Sprintf(",… (%d pages)", len(ps))
	}
	return s
}

func bytesText(n uint64) string {
	const mib = 1 << 20
	if n >= mib && n%mib == 0 {
		return fmt.Sprintf("%d MiB", n/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}
