package reconcile

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

// bigInput is n lvols in one lvstore, every tenth a snapshot with the next
// one its clone; the last `dropped` snapshots are gone from the live view
// with a bdev_unregister each, as after forced removals.
func bigInput(n, dropped int) Input {
	p := &Persisted{Lvstores: []PersistedLvstore{{UUID: lvsU, Name: lvsN, Device: "/dev/aio0", ClusterSize: mib, Readable: true, Loads: finding.LoadOK}}}
	live := Live{Lvstores: []LiveLvstore{{UUID: lvsU, Name: lvsN, BaseBdev: "aio0", Device: "/dev/aio0", ClusterSize: mib}}, NotifyAvailable: true}
	h := &MemHistory{Seen: map[string]map[string]bool{inc1: {}}}
	live.Notifications = append(live.Notifications, Notify{ID: 0, Type: NotifyBdevRegister, Ctx: "aio0"})
	var snaps []int
	for i := range n {
		name, uuid := fmt.Sprintf("r%05d", i), fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
		pl := PersistedLvol{LvstoreUUID: lvsU, BlobID: 1<<32 | uint64(i+1), Name: name, UUID: uuid, SizeBytes: 64 * mib, Thin: true, Loads: finding.LoadOK, Pages: []uint32{uint32(i + 1)}}
		ll := LiveLvol{UUID: uuid, Name: name, Alias: lvsN + "/" + name, LvstoreUUID: lvsU, LvstoreName: lvsN, Thin: true, SizeBytes: 64 * mib, ParentReported: true}
		switch i % 10 {
		case 0:
			pl.IsSnapshot, pl.ReadOnly, ll.Snapshot = true, true, true
			snaps = append(snaps, i)
		case 1:
			pl.IsClone, pl.ParentBlobID, pl.ParentName = true, 1<<32|uint64(i), fmt.Sprintf("r%05d", i-1)
			ll.Clone, ll.BaseSnapshot = true, pl.ParentName
		}
		p.Lvols = append(p.Lvols, pl)
		live.Lvols = append(live.Lvols, ll)
		live.Notifications = append(live.Notifications, Notify{ID: uint64(i + 1), Type: NotifyBdevRegister, Ctx: uuid})
		h.Seen[inc1][uuid] = true
	}
	drop := map[int]bool{}
	for _, s := range snaps[len(snaps)-dropped:] {
		drop[s] = true
		live.Notifications = append(live.Notifications, Notify{ID: uint64(len(live.Notifications)), Type: NotifyBdevUnregister, Ctx: p.Lvols[s].UUID})
	}
	kept := live.Lvols[:0]
	for i, l := range live.Lvols {
		switch {
		case drop[i]:
			continue
		case drop[i-1] && l.Clone:
			l.BaseSnapshot = ""
		}
		kept = append(kept, l)
	}
	live.Lvols = kept
	return Input{Persisted: p, Live: live, History: h, Incarnation: Incarnation{ID: inc1, EarlierRuns: 5}}
}

func TestBigInput(t *testing.T) {
	fs := Check(bigInput(1000, 3))
	require.Len(t, fs, 3)
	for _, f := range fs {
		require.Equal(t, CodePendingResurrection, f.Code)
		require.NotEmpty(t, f.Evidence[EvLive])
		require.NotEmpty(t, f.Evidence[EvNotify])
		require.NotEmpty(t, f.Evidence[EvJournal])
	}
}

func BenchmarkCheck10k(b *testing.B) {
	const n = 10000
	in := bigInput(n, 10)
	b.ReportAllocs()
	b.ResetTimer()
	var fs []finding.Finding
	for b.Loop() {
		fs = Check(in)
	}
	if len(fs) != 10 {
		b.Fatalf("want 10 findings, got %d", len(fs))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/lvol")
}
