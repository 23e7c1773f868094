package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
)

const (
	lvsU   = "11111111-0000-0000-0000-000000000001"
	lvsN   = "lvs-r"
	inc1   = "pid=100,start=1"
	inc2   = "pid=200,start=2"
	uSnap  = "aaaaaaaa-0000-0000-0000-000000000001"
	uVol   = "aaaaaaaa-0000-0000-0000-000000000002"
	uBy    = "aaaaaaaa-0000-0000-0000-000000000003"
	uNew   = "aaaaaaaa-0000-0000-0000-000000000004"
	blSnap = 1<<32 | 3
	blVol  = 1<<32 | 4
	blBy   = 1<<32 | 5
	mib    = 1 << 20
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// disk is the persisted view of the basic scenario: snapshot snap (96
// clusters), its clone vol, and a thick bystander.
func disk(mods ...func(*Persisted)) *Persisted {
	p := &Persisted{
		Lvstores: []PersistedLvstore{{UUID: lvsU, Name: lvsN, Device: "/dev/aio0", ClusterSize: mib, Readable: true, Loads: finding.LoadOK}},
		Lvols: []PersistedLvol{
			{LvstoreUUID: lvsU, BlobID: blSnap, Name: "snap", UUID: uSnap, SizeBytes: 112 * mib, Thin: true, ReadOnly: true, IsSnapshot: true, Loads: finding.LoadOK, AllocatedClusters: 96, Pages: []uint32{3}},
			{LvstoreUUID: lvsU, BlobID: blVol, Name: "vol", UUID: uVol, SizeBytes: 112 * mib, Thin: true, IsClone: true, ParentBlobID: blSnap, ParentName: "snap", Loads: finding.LoadOK, Pages: []uint32{4}},
			{LvstoreUUID: lvsU, BlobID: blBy, Name: "by", UUID: uBy, SizeBytes: 8 * mib, Loads: finding.LoadOK, AllocatedClusters: 8, Pages: []uint32{5}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func llv(name, uuid string, size uint64, thin bool) LiveLvol {
	return LiveLvol{UUID: uuid, Name: name, Alias: lvsN + "/" + name, LvstoreUUID: lvsU, LvstoreName: lvsN, Thin: thin, SizeBytes: size, ParentReported: true}
}

// liveAll is the live view with all three lvols; liveDropped lacks snap and
// vol reports no base snapshot, as after the forced removal.
func liveAll() Live {
	snap := llv("snap", uSnap, 112*mib, true)
	snap.Snapshot, snap.Clones = true, []string{"vol"}
	vol := llv("vol", uVol, 112*mib, true)
	vol.Clone, vol.BaseSnapshot = true, "snap"
	return Live{
		Lvstores: []LiveLvstore{{UUID: lvsU, Name: lvsN, BaseBdev: "aio0", Device: "/dev/aio0", ClusterSize: mib}},
		Lvols:    []LiveLvol{snap, vol, llv("by", uBy, 8*mib, false)},
	}
}

func liveDropped(lostName bool) Live {
	l := liveAll()
	l.Lvols = l.Lvols[1:]
	if lostName {
		l.Lvols[0].BaseSnapshot = ""
	} else {
		// Only bdev_lvol_get_lvols seen: the parent's name is not known.
		l.Lvols[0].ParentReported, l.Lvols[0].BaseSnapshot = false, ""
	}
	return l
}

func withNotify(l Live, evs ...Notify) Live {
	l.NotifyAvailable = true
	l.Notifications = evs
	return l
}

// startEvents is what the ring holds for a run that started with the three
// lvols (ids from 0: the ring covers the start).
func startEvents() []Notify {
	return []Notify{
		{ID: 0, Type: NotifyBdevRegister, Ctx: "aio0"},
		{ID: 1, Type: NotifyBdevRegister, Ctx: uSnap},
		{ID: 2, Type: NotifyBdevRegister, Ctx: uVol},
		{ID: 3, Type: NotifyBdevRegister, Ctx: uBy},
	}
}

type want struct {
	code finding.Code
	sev  finding.Severity
	uuid string
}

func (w want) String() string { return fmt.Sprintf("%s/%s/%s", w.code, w.sev, w.uuid) }

func wants(fs []finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = want{f.Code, f.Severity, f.LvolUUID}.String()
	}
	sort.Strings(out)
	return out
}

func TestCheck(t *testing.T) {
	snapGoneDisk := func(p *Persisted) {
		p.Lvols = p.Lvols[1:]
		p.Lvols[0].ParentBlobID, p.Lvols[0].ParentName, p.Lvols[0].IsClone = 0, "", false
	}
	pending := want{CodePendingResurrection, finding.Error, uSnap}
	// a new lvol created under the name of the dropped one
	newSnapOnDisk := func(p *Persisted) {
		p.Lvols = append(p.Lvols, PersistedLvol{LvstoreUUID: lvsU, BlobID: 1<<32 | 6, Name: "snap", UUID: uNew, SizeBytes: 4 * mib, Thin: true, Loads: finding.LoadOK})
	}

	cases := []struct {
		name string
		in   Input
		want []want
		// evidence keys that must be present, per code
		evidence map[finding.Code][]string
		// substrings that must appear in the finding of that code
		text map[finding.Code]string
	}{
		{
			name: "consistent views: nothing",
			in:   Input{Persisted: disk(), Live: withNotify(liveAll(), startEvents()...), History: &MemHistory{}, Incarnation: Incarnation{ID: inc1}},
		},
		{
			name:     "pending: seen live earlier in this incarnation",
			in:       Input{Persisted: disk(), Live: liveDropped(false), History: &MemHistory{Seen: map[string]map[string]bool{inc1: {uSnap: true}}}, Incarnation: Incarnation{ID: inc1, EarlierRuns: 1}},
			want:     []want{pending},
			evidence: map[finding.Code][]string{CodePendingResurrection: {EvDisk, EvJournal}},
		},
		{
			name: "no incarnation id: journal sightings cannot be tied to this run",
			in:   Input{Persisted: disk(), Live: liveDropped(false), History: &MemHistory{Seen: map[string]map[string]bool{"": {uSnap: true}}}},
			want: []want{{CodeNoEvidence, finding.Warning, uSnap}},
			text: map[finding.Code]string{CodeNoEvidence: "cause unknown"},
		},
		{
			name: "pending: recorded forced-removal delete in this incarnation",
			in: Input{Persisted: disk(), Live: liveDropped(false), Incarnation: Incarnation{ID: inc1},
				History: &MemHistory{Semantics: SemanticsForced, Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultForcedRemoval, Incarnation: inc1}}}}},
			want:     []want{pending},
			evidence: map[finding.Code][]string{CodePendingResurrection: {EvDisk, EvJournal}},
			text:     map[finding.Code]string{CodePendingResurrection: "forced-removal"},
		},
		{
			name: "pending: open delete intent in this incarnation is positive, and the intent is reported",
			in: Input{Persisted: disk(), Live: liveDropped(false), Incarnation: Incarnation{ID: inc1},
				History: &MemHistory{
					Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Incarnation: inc1}}},
					Intents: []Intent{{LvolUUID: uSnap, Alias: "lvs-r/snap", LvstoreUUID: lvsU, At: t0, Incarnation: inc1}},
				}},
			want:     []want{pending, {CodeOpenDeleteIntent, finding.Warning, uSnap}},
			evidence: map[finding.Code][]string{CodeOpenDeleteIntent: {EvJournal, EvLive, EvDisk}},
			text:     map[finding.Code]string{CodeOpenDeleteIntent: "never recorded"},
		},
		{
			name: "open intent, lvol still listed: the delete did not happen",
			in: Input{Persisted: disk(), Live: liveAll(), Incarnation: Incarnation{ID: inc1},
				History: &MemHistory{Intents: []Intent{
					{LvolUUID: uBy, Alias: "lvs-r/by", LvstoreUUID: lvsU, At: t0, Incarnation: inc1},
					{LvolUUID: uBy, Alias: "lvs-r/by", LvstoreUUID: lvsU, At: t0.Add(time.Hour), Incarnation: inc1},
				}}},
			want: []want{{CodeOpenDeleteIntent, finding.Warning, uBy}},
			text: map[finding.Code]string{CodeOpenDeleteIntent: "still listed"},
		},
		{
			name: "delete record from an earlier incarnation says nothing about this run",
			in: Input{Persisted: disk(), Live: liveDropped(false), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultRefusedBusy, Incarnation: inc1}}}}},
			want: []want{{CodeNoEvidence, finding.Warning, uSnap}},
		},
		{
			name:     "pending: bdev_unregister in the ring while the blob stays",
			in:       Input{Persisted: disk(), Live: withNotify(liveDropped(false), append(startEvents(), Notify{ID: 4, Type: NotifyBdevUnregister, Ctx: uSnap})...)},
			want:     []want{pending},
			evidence: map[finding.Code][]string{CodePendingResurrection: {EvDisk, EvNotify}},
			text:     map[finding.Code]string{CodePendingResurrection: "bdev_unregister (id 4)"},
		},
		{
			name: "registered in this run, no unregister, now absent: opened, but no drop shown",
			in:   Input{Persisted: disk(), Live: withNotify(liveDropped(false), startEvents()...)},
			want: []want{{CodeNoEvidence, finding.Warning, uSnap}},
			text: map[finding.Code]string{CodeNoEvidence: "bdev_register (id 1) and no bdev_unregister"},
		},
		{
			name:     "pending: live clone lost its base snapshot name (folded, no second finding)",
			in:       Input{Persisted: disk(), Live: liveDropped(true)},
			want:     []want{pending},
			evidence: map[finding.Code][]string{CodePendingResurrection: {EvDisk, EvLive}},
			text:     map[finding.Code]string{CodePendingResurrection: "lvs-r/vol reports clone=true"},
		},
		{
			// A snapshot that failed to open at load leaves its clone
			// nameless too; the ring covering the run shows it never had
			// a bdev, so the nameless clone is no evidence of a drop.
			name: "snapshot never opened in this run: clone without base name is not a forced removal",
			in: Input{Persisted: disk(), Live: withNotify(liveDropped(true),
				Notify{ID: 0, Type: NotifyBdevRegister, Ctx: "aio0"},
				Notify{ID: 1, Type: NotifyBdevRegister, Ctx: uVol},
				Notify{ID: 2, Type: NotifyBdevRegister, Ctx: uBy})},
			want: []want{{CodeNotOpenedAtLoad, finding.Warning, uSnap}},
			text: map[finding.Code]string{CodeNotOpenedAtLoad: "not opened at load"},
		},
		{
			name: "pending: forced-removal log line",
			in: Input{Persisted: disk(), Live: liveDropped(false), Incarnation: Incarnation{ID: inc1},
				History: &MemHistory{Logs: map[string][]Evidence{uSnap: {{Kind: EvidenceForcedRemoval, Text: "Could not remove blob on lvol gracefully - forced removal", Incarnation: inc1}}}}},
			want:     []want{pending},
			evidence: map[finding.Code][]string{CodePendingResurrection: {EvLog}},
		},
		{
			name: "forced-removal log line from another incarnation does not count",
			in: Input{Persisted: disk(), Live: liveDropped(false), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Logs: map[string][]Evidence{"lvs-r/snap": {{Kind: EvidenceForcedRemoval, Text: "forced removal", Incarnation: inc1}}}}},
			want: []want{{CodeNoEvidence, finding.Warning, uSnap}},
		},
		{
			name: "real delete: blob gone from disk, same unregister event: nothing",
			in: Input{Persisted: disk(snapGoneDisk), Incarnation: Incarnation{ID: inc1},
				Live: func() Live {
					l := withNotify(liveDropped(false), append(startEvents(), Notify{ID: 4, Type: NotifyBdevUnregister, Ctx: uSnap})...)
					l.Lvols[0].Clone = false
					return l
				}(),
				History: &MemHistory{
					Seen:    map[string]map[string]bool{inc1: {uSnap: true}},
					Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultDeletedVerified, Incarnation: inc1}}},
				}},
		},
		{
			name: "fixed semantics: busy delete, lvol still live: nothing",
			in: Input{Persisted: disk(), Live: withNotify(liveAll(), startEvents()...), Incarnation: Incarnation{ID: inc1},
				History: &MemHistory{Semantics: SemanticsFixed, Seen: map[string]map[string]bool{inc1: {uSnap: true}},
					Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultRefusedBusy, Incarnation: inc1}}}}},
		},
		{
			name:     "no evidence at all: no-evidence, not pending",
			in:       Input{Persisted: disk(), Live: liveDropped(false)},
			want:     []want{{CodeNoEvidence, finding.Warning, uSnap}},
			evidence: map[finding.Code][]string{CodeNoEvidence: {EvDisk, EvNotify, EvJournal}},
		},
		{
			name: "not opened at load: ring covers the start, no register for it",
			in: Input{Persisted: disk(), Incarnation: Incarnation{ID: inc1, EarlierRuns: 3}, History: &MemHistory{},
				Live: withNotify(liveDropped(false), Notify{ID: 0, Type: NotifyBdevRegister, Ctx: "aio0"}, Notify{ID: 1, Type: NotifyBdevRegister, Ctx: uVol}, Notify{ID: 2, Type: NotifyBdevRegister, Ctx: uBy})},
			want:     []want{{CodeNotOpenedAtLoad, finding.Warning, uSnap}},
			evidence: map[finding.Code][]string{CodeNotOpenedAtLoad: {EvNotify, EvJournal, EvDisk}},
			text:     map[finding.Code]string{CodeNotOpenedAtLoad: "not a forced removal"},
		},
		{
			name: "ring does not cover the start: say so, no guess",
			in: Input{Persisted: disk(),
				Live: withNotify(liveDropped(false), Notify{ID: 1500, Type: NotifyBdevRegister, Ctx: "x"}, Notify{ID: 1501, Type: NotifyBdevUnregister, Ctx: "x"})},
			want: []want{{CodeNoEvidence, finding.Warning, uSnap}},
			text: map[finding.Code]string{CodeNoEvidence: "cause unknown"},
		},
		{
			name: "not opened at load: log says so, no ring",
			in: Input{Persisted: disk(), Live: liveDropped(false),
				History: &MemHistory{Logs: map[string][]Evidence{uSnap: {{Kind: EvidenceErrorOpeningLvol, Text: "Error opening lvol " + uSnap}}}}},
			want:     []want{{CodeNotOpenedAtLoad, finding.Warning, uSnap}},
			evidence: map[finding.Code][]string{CodeNotOpenedAtLoad: {EvLog}},
		},
		{
			name: "name collision before the restart: pending + collision naming both",
			in: Input{Persisted: disk(newSnapOnDisk), Incarnation: Incarnation{ID: inc1},
				Live: func() Live {
					l := liveDropped(true)
					l.Lvols = append(l.Lvols, llv("snap", uNew, 4*mib, true))
					return l
				}()},
			want:     []want{pending, {CodeNameCollision, finding.Error, uSnap}},
			evidence: map[finding.Code][]string{CodeNameCollision: {EvDisk, EvLive}},
			text:     map[finding.Code]string{CodeNameCollision: uNew},
		},
		{
			name: "name collision after the restart: the invisible lvol and its clusters",
			in: Input{Persisted: disk(newSnapOnDisk), Incarnation: Incarnation{ID: inc2},
				Live: func() Live {
					l := withNotify(liveDropped(false), Notify{ID: 0, Type: NotifyBdevRegister, Ctx: uVol}, Notify{ID: 1, Type: NotifyBdevRegister, Ctx: uNew})
					l.Lvols = append(l.Lvols, llv("snap", uNew, 4*mib, true))
					return l
				}()},
			want: []want{{CodeNameCollision, finding.Error, uSnap}},
			text: map[finding.Code]string{CodeNameCollision: "96 clusters (96 MiB)"},
		},
		{
			name: "name collision when the scanner says the old blob is skipped",
			in: Input{Persisted: disk(newSnapOnDisk, func(p *Persisted) { p.Lvols[0].Loads = finding.LoadSkip }), Incarnation: Incarnation{ID: inc2},
				Live: func() Live {
					l := liveDropped(false)
					l.Lvols = append(l.Lvols, llv("snap", uNew, 4*mib, true))
					return l
				}()},
			want: []want{{CodeNameCollision, finding.Error, uSnap}},
		},
		{
			name: "blob SPDK would skip: the scanner's finding, not ours",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvols[0].Loads = finding.LoadSkip }), Live: liveDropped(false), Incarnation: Incarnation{ID: inc1}, History: &MemHistory{Seen: map[string]map[string]bool{inc1: {uSnap: true}}}},
		},
		{
			name: "degraded blob counts",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvols[0].Loads = finding.LoadDegraded }), Live: liveDropped(true)},
			want: []want{{CodePendingResurrection, finding.Error, uSnap}},
		},
		{
			name: "phantom: live lvol with no blob",
			in: Input{Persisted: disk(), Live: func() Live {
				l := liveAll()
				l.Lvols = append(l.Lvols, llv("ghost", uNew, mib, true))
				return l
			}()},
			want:     []want{{CodePhantom, finding.Error, uNew}},
			evidence: map[finding.Code][]string{CodePhantom: {EvLive, EvDisk}},
		},
		{
			name: "attr mismatch: size is an error",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvols[2].SizeBytes = 12 * mib }), Live: liveAll()},
			want: []want{{CodeAttrMismatch, finding.Error, uBy}},
			text: map[finding.Code]string{CodeAttrMismatch: "size: live 8388608, disk 12582912"},
		},
		{
			name: "attr mismatch: thin is a warning",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvols[2].Thin = true }), Live: liveAll()},
			want: []want{{CodeAttrMismatch, finding.Warning, uBy}},
		},
		{
			name: "attr mismatch: external-snapshot clone",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvols[2].EsnapClone = true }), Live: liveAll()},
			want: []want{{CodeAttrMismatch, finding.Warning, uBy}},
			text: map[finding.Code]string{CodeAttrMismatch: "external-snapshot clone: live false, disk true"},
		},
		{
			name: "attr mismatch: read-only when reported",
			in: Input{Persisted: disk(), Live: func() Live {
				l := liveAll()
				ro := true
				l.Lvols[2].ReadOnly = &ro
				return l
			}()},
			want: []want{{CodeAttrMismatch, finding.Warning, uBy}},
		},
		{
			name: "attr mismatch: name and parent, one finding per lvol",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvols[1].Name, p.Lvols[1].ParentName = "vol-old", "snap-old" }), Live: liveAll()},
			want: []want{{CodeAttrMismatch, finding.Error, uVol}},
			text: map[finding.Code]string{CodeAttrMismatch: `parent: live "snap", disk "snap-old"`},
		},
		{
			name: "lvstore attr mismatch: cluster size",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvstores[0].ClusterSize = 4 * mib }), Live: liveAll()},
			want: []want{{CodeAttrMismatch, finding.Error, ""}},
		},
		{
			name: "lvstore live only: all devices scanned",
			in:   Input{Persisted: &Persisted{Complete: true}, Live: liveAll()},
			want: []want{{CodeLvstoreLiveOnly, finding.Warning, ""}},
		},
		{
			name: "lvstore live only: its device holds another lvstore",
			in:   Input{Persisted: &Persisted{Lvstores: []PersistedLvstore{{UUID: "other", Name: "x", Device: "/dev/aio0", Readable: true}}}, Live: liveAll()},
			want: []want{{CodeLvstoreLiveOnly, finding.Error, ""}, {CodeLvstoreDiskOnly, finding.Warning, ""}},
		},
		{
			name: "device not scanned: disk-not-read info, no lvol findings",
			in:   Input{Persisted: &Persisted{}, Live: liveDropped(false)},
			want: []want{{CodeDiskNotRead, finding.Warning, ""}},
		},
		{
			name: "lvstore on disk only: its lvols are not pending",
			in:   Input{Persisted: disk(), Live: Live{}},
			want: []want{{CodeLvstoreDiskOnly, finding.Warning, ""}},
		},
		{
			name: "no device read: clone lost its base snapshot, reported from RPC alone",
			in:   Input{Live: liveDropped(true)},
			want: []want{{CodeDiskNotRead, finding.Warning, ""}, {CodeCloneLostBaseSnapshot, finding.Error, uVol}},
			text: map[finding.Code]string{CodeCloneLostBaseSnapshot: "lvs-r/vol"},
		},
		{
			name: "no device read: a clone without parent info is not a trace",
			in:   Input{Live: liveDropped(false)},
			want: []want{{CodeDiskNotRead, finding.Warning, ""}},
		},
		{
			name: "unreadable device: RPC-only checks still run",
			in:   Input{Persisted: &Persisted{Lvstores: []PersistedLvstore{{Device: "/dev/aio0", Err: "permission denied"}}}, Live: liveDropped(true)},
			want: []want{{CodeDiskNotRead, finding.Warning, ""}, {CodeCloneLostBaseSnapshot, finding.Error, uVol}},
			text: map[finding.Code]string{CodeDiskNotRead: "permission denied"},
		},
		{
			name: "clone lost its base name but the disk shows no parent on disk",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvols[1].ParentBlobID = 1<<32 | 99 }), Live: liveDropped(true)},
			want: []want{{CodeCloneLostBaseSnapshot, finding.Error, uVol}, {CodeNoEvidence, finding.Warning, uSnap}},
			text: map[finding.Code]string{CodeCloneLostBaseSnapshot: "not on disk"},
		},
		{
			name: "clone lost its base name while the parent is live",
			in: Input{Persisted: disk(), Live: func() Live {
				l := liveAll()
				l.Lvols[1].BaseSnapshot = ""
				return l
			}()},
			want: []want{{CodeCloneLostBaseSnapshot, finding.Error, uVol}},
			text: map[finding.Code]string{CodeCloneLostBaseSnapshot: "is live"},
		},
		{
			// Issue 8 item 15: after a reload with two lvols of one name
			// the parent is skipped; the clone's finding must not promise
			// it back, nor ask for the device that was read.
			name:     "clone lost its base name, its parent on disk would not load: not back at a restart",
			in:       Input{Persisted: disk(func(p *Persisted) { p.Lvols[0].Loads = finding.LoadSkip }), Live: liveDropped(true)},
			want:     []want{{CodeCloneLostBaseSnapshot, finding.Error, uVol}},
			evidence: map[finding.Code][]string{CodeCloneLostBaseSnapshot: {EvDisk, EvLive}},
			text:     map[finding.Code]string{CodeCloneLostBaseSnapshot: "now or after a restart"},
		},
		{
			name: "lvstore SPDK refuses: no per-lvol findings",
			in:   Input{Persisted: disk(func(p *Persisted) { p.Lvstores[0].Loads = finding.LoadRefuse }), Live: liveDropped(true)},
			want: []want{{CodeCloneLostBaseSnapshot, finding.Error, uVol}},
		},
		{
			name: "resurrected: forced removal recorded in an earlier incarnation",
			in: Input{Persisted: disk(), Live: liveAll(), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultForcedRemoval, Incarnation: inc1, Alias: "lvs-r/snap"}}}}},
			want:     []want{{CodeResurrected, finding.Error, uSnap}},
			evidence: map[finding.Code][]string{CodeResurrected: {EvJournal, EvLive, EvDisk}},
			text:     map[finding.Code]string{CodeResurrected: "2026-11-26T09:00:00Z"},
		},
		{
			name: "resurrected without a device read",
			in: Input{Live: liveAll(), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultDeletedVerified, Incarnation: inc1}}}}},
			want: []want{{CodeDiskNotRead, finding.Warning, ""}, {CodeResurrected, finding.Error, uSnap}},
		},
		{
			name: "resurrected: present then absent within an earlier incarnation",
			in: Input{Persisted: disk(), Live: liveAll(), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Gone: map[string]Disappearance{uSnap: {Incarnation: inc1, LastSeen: t0}}}},
			want: []want{{CodeResurrected, finding.Error, uSnap}},
		},
		{
			name: "resurrected: forced-removal log line, lvol live again",
			in: Input{Persisted: disk(), Live: liveAll(), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Logs: map[string][]Evidence{uSnap: {{Kind: EvidenceForcedRemoval, Text: "forced removal"}}}}},
			want:     []want{{CodeResurrected, finding.Error, uSnap}},
			evidence: map[finding.Code][]string{CodeResurrected: {EvLog}},
		},
		{
			name: "refused-busy then still live, after a restart: not resurrected",
			in: Input{Persisted: disk(), Live: liveAll(), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultRefusedBusy, Incarnation: inc1}}}}},
		},
		{
			name: "not-found delete answer, lvol live after a restart: not resurrected by that alone",
			in: Input{Persisted: disk(), Live: liveAll(), Incarnation: Incarnation{ID: inc2},
				History: &MemHistory{Semantics: "unknown", Deletes: map[string][]DeleteRecord{uSnap: {{IntentAt: t0, Result: ResultNotFound, Incarnation: inc1}}}}},
		},
		{
			name: "gone within this incarnation is not a resurrection",
			in: Input{Persisted: disk(), Live: liveAll(), Incarnation: Incarnation{ID: inc1},
				History: &MemHistory{Gone: map[string]Disappearance{uSnap: {Incarnation: inc1}}}},
		},
		{
			name: "duplicate live entries and empty uuids do not duplicate findings",
			in: Input{Persisted: disk(), Live: func() Live {
				l := liveDropped(true)
				l.Lvols = append(l.Lvols, l.Lvols[0], LiveLvol{Name: "noid", LvstoreUUID: lvsU})
				return l
			}()},
			want: []want{pending},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.in)
			exp := make([]string, len(tc.want))
			for i, w := range tc.want {
				exp[i] = w.String()
			}
			sort.Strings(exp)
			require.Equal(t, exp, wants(got), "findings:\n%s", render(got))
			for code, keys := range tc.evidence {
				f := only(t, got, code)
				for _, k := range keys {
					require.NotEmpty(t, f.Evidence[k], "%s evidence %q missing: %v", code, k, f.Evidence)
				}
			}
			for code, sub := range tc.text {
				f := only(t, got, code)
				require.Contains(t, f.String()+" "+strings.Join(values(f.Evidence), " "), sub)
			}
			invariants(t, got)
		})
	}
}

// invariants hold for every Check result.
func invariants(t *testing.T, fs []finding.Finding) {
	t.Helper()
	keys := map[string]bool{}
	for _, f := range fs {
		require.NotEmpty(t, f.Code)
		require.NotEmpty(t, f.Message, "%s", f.Code)
		require.NotEmpty(t, f.Repair, "%s has no repair advice", f.Code)
		require.NotEmpty(t, f.Evidence, "%s has no evidence", f.Code)
		for k := range f.Evidence {
			require.Contains(t, []string{EvDisk, EvLive, EvJournal, EvNotify, EvLog, EvSemantics}, k)
		}
		require.False(t, keys[f.Key()], "two findings share the journal key %s", f.Key())
		keys[f.Key()] = true
	}
	testfix.RequireAgree(t, fs)
}

func only(t *testing.T, fs []finding.Finding, code finding.Code) finding.Finding {
	t.Helper()
	var hit []finding.Finding
	for _, f := range fs {
		if f.Code == code {
			hit = append(hit, f)
		}
	}
	require.Len(t, hit, 1, "want one %s in:\n%s", code, render(fs))
	return hit[0]
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func render(fs []finding.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s\n", f)
		for _, k := range f.EvidenceKeys() {
			fmt.Fprintf(&b, "    %s: %s\n", k, f.Evidence[k])
		}
	}
	return b.String()
}

func TestCheckSortedAndDeterministic(t *testing.T) {
	in := Input{Persisted: disk(func(p *Persisted) { p.Lvols[2].Thin = true }), Live: liveDropped(false)}
	a, b := Check(in), Check(in)
	require.Equal(t, a, b)
	for i := 1; i < len(a); i++ {
		require.GreaterOrEqual(t, a[i-1].Severity, a[i].Severity)
	}
}

func TestCheckBoundsTexts(t *testing.T) {
	long := strings.Repeat("x", 100000)
	l := liveAll()
	l.Lvols = append(l.Lvols, LiveLvol{UUID: long, Name: long, Alias: long, LvstoreUUID: lvsU})
	fs := Check(Input{Persisted: disk(), Live: l})
	require.Len(t, fs, 1)
	require.Equal(t, CodePhantom, fs[0].Code)
	require.LessOrEqual(t, len(fs[0].Message), maxText+len("…"))
	for _, v := range fs[0].Evidence {
		require.LessOrEqual(t, len(v), maxText+len("…"))
	}
}

// An lvstore the previous run of this target listed and this run has in no
// view was not checked: a warning, never a silent "clean". One this run
// loads, or reads from a device, is not.
func TestLvstoreNotLoaded(t *testing.T) {
	gone := EarlierLvstore{UUID: "22222222-0000-0000-0000-000000000002", Name: "lvs-old", Incarnation: inc1, Lvols: 3, LastSeen: t0}
	here := EarlierLvstore{UUID: lvsU, Name: lvsN, Incarnation: inc1, Lvols: 3, LastSeen: t0}
	onDisk := func(p *Persisted) {
		p.Lvstores = append(p.Lvstores, PersistedLvstore{UUID: gone.UUID, Name: gone.Name, Device: "/dev/aio1", ClusterSize: mib, Readable: true, Loads: finding.LoadOK})
	}
	cases := []struct {
		name string
		in   Input
		want []finding.Code
	}{
		{"not loaded, not read", Input{Persisted: disk(), Live: liveAll(), Earlier: []EarlierLvstore{gone, here}}, []finding.Code{CodeLvstoreNotLoaded}},
		{"no lvstore at all after a restart", Input{Live: Live{}, Earlier: []EarlierLvstore{here}}, []finding.Code{CodeLvstoreNotLoaded}},
		{"loaded again", Input{Persisted: disk(), Live: liveAll(), Earlier: []EarlierLvstore{here}}, nil},
		{"its device read: the disk-only finding says it", Input{Persisted: disk(onDisk), Live: liveAll(), Earlier: []EarlierLvstore{gone}}, []finding.Code{CodeLvstoreDiskOnly}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := Check(tc.in)
			var got []finding.Code
			for _, f := range fs {
				if f.Code == CodeLvstoreNotLoaded || f.Code == CodeLvstoreDiskOnly {
					got = append(got, f.Code)
					require.Equal(t, finding.Warning, f.Severity)
				}
				if f.Code == CodeLvstoreNotLoaded {
					require.Contains(t, f.Message, "was not checked")
					require.Contains(t, f.Evidence[EvJournal], inc1)
				}
			}
			require.Equal(t, tc.want, got, "%s", render(fs))
			invariants(t, fs)
			testfix.RequireAgree(t, fs)
		})
	}
}
