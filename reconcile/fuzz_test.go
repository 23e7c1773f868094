package reconcile

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
)

// fuzzInput turns bytes into a small scenario whose names and uuids come
// from tiny pools, so that collisions, duplicates and dangling references
// are common.
func fuzzInput(data []byte) Input {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	lvss := []string{"lvs-a", "lvs-b", ""}
	uuids := []string{"u0", "u1", "u2", "u3", ""}
	names := []string{"n0", "n1", "n2", ""}
	loads := []finding.LoadOutcome{finding.LoadOK, finding.LoadDegraded, finding.LoadSkip, finding.LoadRefuse, ""}
	pick := func(xs []string) string { return xs[int(next())%len(xs)] }

	var in Input
	flags := next()
	if flags&1 != 0 {
		p := &Persisted{Complete: flags&2 != 0}
		for range int(next() % 3) {
			p.Lvstores = append(p.Lvstores, PersistedLvstore{UUID: pick(lvss), Name: pick(names), Device: pick(names), ClusterSize: uint64(next()%3) << 20, Readable: next()%4 != 0, Loads: loads[int(next())%len(loads)]})
		}
		for range int(next() % 6) {
			b := next()
			p.Lvols = append(p.Lvols, PersistedLvol{LvstoreUUID: pick(lvss), BlobID: 1<<32 | uint64(next()%5), Name: pick(names), UUID: pick(uuids),
				SizeBytes: uint64(next()%3) << 20, Thin: b&1 != 0, ReadOnly: b&2 != 0, IsSnapshot: b&4 != 0, IsClone: b&8 != 0,
				ParentBlobID: uint64(next()%3) << 32, ParentName: pick(names), Loads: loads[int(next())%len(loads)], AllocatedClusters: uint64(next()),
				Pages: []uint32{uint32(next())}})
		}
		in.Persisted = p
	}
	for range int(next() % 3) {
		in.Live.Lvstores = append(in.Live.Lvstores, LiveLvstore{UUID: pick(lvss), Name: pick(names), Device: pick(names), ClusterSize: uint64(next()%3) << 20})
	}
	for range int(next() % 6) {
		b := next()
		in.Live.Lvols = append(in.Live.Lvols, LiveLvol{UUID: pick(uuids), Name: pick(names), Alias: pick(names), LvstoreUUID: pick(lvss),
			Thin: b&1 != 0, Snapshot: b&2 != 0, Clone: b&4 != 0, EsnapClone: b&8 != 0, ParentReported: b&16 != 0, BaseSnapshot: pick(names), SizeBytes: uint64(next()%3) << 20})
	}
	if flags&4 != 0 {
		in.Live.NotifyAvailable = true
		for range int(next() % 6) {
			typ := NotifyBdevRegister
			if next()%2 == 0 {
				typ = NotifyBdevUnregister
			}
			in.Live.Notifications = append(in.Live.Notifications, Notify{ID: uint64(next() % 4), Type: typ, Ctx: pick(uuids)})
		}
	}
	incs := []string{"i1", "i2", ""}
	in.Incarnation = Incarnation{ID: pick(incs), EarlierRuns: int(next() % 3)}
	if flags&8 != 0 {
		h := &MemHistory{Seen: map[string]map[string]bool{}, Deletes: map[string][]DeleteRecord{}, Gone: map[string]Disappearance{}, Logs: map[string][]Evidence{},
			Findings: map[string][]RecordedFinding{}}
		recorded := []finding.Code{CodePendingResurrection, CodeResurrected, CodeNotOpenedAtLoad, CodeNoEvidence}
		results := []DeleteResult{ResultNone, ResultDeletedVerified, ResultDeletedVerified, ResultRefusedBusy, ResultForcedRemoval, ResultError}
		for range int(next() % 6) {
			u, inc := pick(uuids), pick(incs)
			switch next() % 6 {
			case 0:
				if h.Seen[inc] == nil {
					h.Seen[inc] = map[string]bool{}
				}
				h.Seen[inc][u] = true
			case 1:
				h.Deletes[u] = append(h.Deletes[u], DeleteRecord{Result: results[int(next())%len(results)], Incarnation: inc})
			case 2:
				h.Gone[u] = Disappearance{Incarnation: inc}
			case 3:
				kind := EvidenceForcedRemoval
				if next()%2 == 0 {
					kind = EvidenceErrorOpeningLvol
				}
				h.Logs[u] = append(h.Logs[u], Evidence{Kind: kind, Text: "line", Incarnation: inc})
			case 4:
				h.Intents = append(h.Intents, Intent{LvolUUID: u, LvstoreUUID: pick(lvss), Incarnation: inc})
			case 5:
				h.Findings[u] = append(h.Findings[u], RecordedFinding{Code: recorded[int(next())%len(recorded)], Incarnation: inc, Open: next()%2 == 0, Summary: "then"})
			}
		}
		in.History = h
	}
	return in
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0f, 1, 0, 0, 0, 0, 1, 0, 2, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 20, 1, 1, 0, 0})
	f.Add([]byte{0xff, 2, 0, 1, 1, 1, 0, 0, 5, 1, 1, 0, 1, 1, 1, 2, 3, 0, 4, 4, 2, 2, 0, 1, 9, 8, 7, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		fs := Check(in)
		keys := map[string]bool{}
		for _, fd := range fs {
			require.NotEmpty(t, fd.Code)
			require.NotEmpty(t, fd.Message)
			require.NotEmpty(t, fd.Repair)
			require.Empty(t, testfix.Contradictions(fd), "%v", fd)
			if fd.Code == CodeDiskNotRead && fd.LvstoreUUID == "" {
				continue // unreadable devices without identity share a key
			}
			require.False(t, keys[fd.Key()], "duplicate key %s in %v", fd.Key(), fs)
			keys[fd.Key()] = true
			if fd.Code == CodePendingResurrection {
				// Only a loadable persisted lvol absent from the live view.
				require.NotNil(t, in.Persisted)
				found := false
				for _, p := range in.Persisted.Lvols {
					if p.UUID == fd.LvolUUID && p.BlobID == fd.BlobID && (p.Loads == finding.LoadOK || p.Loads == finding.LoadDegraded) {
						found = true
					}
				}
				require.True(t, found, "%v", fd)
				for _, l := range in.Live.Lvols {
					require.NotEqual(t, l.UUID, fd.LvolUUID)
				}
			}
		}
	})
}
