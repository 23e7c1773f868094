package journal

import (
	"fmt"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

const (
	lvsR      = "6c2f21f7-0843-4fbe-8e23-40fee4c0120a" // lvs-r in the resurrection fixtures
	replicaA  = "9729f55a-a503-4ddd-bec1-9d3e356b390f"
	bystander = "5a01008a-0e1f-4785-83d2-7109c5d49138"
	backup1   = "877aaf96-4cfd-4d02-85f9-f345a1de9362"
)

func lv(uuid, name string, size uint64) LvolObservation {
	return LvolObservation{UUID: uuid, Name: name, Alias: "lvs/" + name, LvstoreUUID: "lvs-1", LvstoreName: "lvs", SizeBytes: size}
}

func uuids(ls []LvolObservation) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.UUID)
	}
	return out
}

func TestObserveDiff(t *testing.T) {
	a, b, c := lv("a", "va", 1<<20), lv("b", "vb", 2<<20), lv("c", "vc", 3<<20)
	bigB := b
	bigB.SizeBytes = 4 << 20
	noBlob := a // BlobID unknown in this view
	withBlob := a
	withBlob.BlobID = 0x100000005
	steps := []struct {
		name                    string
		inc                     string
		lvols                   []LvolObservation
		appeared, gone, changed []string
		state                   []string
	}{
		{"first view", "i1", []LvolObservation{a, b}, []string{"a", "b"}, nil, nil, []string{"a", "b"}},
		{"unchanged", "i1", []LvolObservation{b, a}, nil, nil, nil, []string{"a", "b"}},
		{"one appears", "i1", []LvolObservation{a, b, c}, []string{"c"}, nil, nil, []string{"a", "b", "c"}},
		{"one resized", "i1", []LvolObservation{a, bigB, c}, nil, nil, []string{"b"}, []string{"a", "b", "c"}},
		{"one gone", "i1", []LvolObservation{a, bigB}, nil, []string{"c"}, nil, []string{"a", "b"}},
		{"blob id learned", "i1", []LvolObservation{withBlob, bigB}, nil, nil, []string{"a"}, []string{"a", "b"}},
		{"blob id unknown again is no change", "i1", []LvolObservation{noBlob, bigB}, nil, nil, nil, []string{"a", "b"}},
		{"gone one back", "i1", []LvolObservation{a, bigB, c}, []string{"c"}, nil, nil, []string{"a", "b", "c"}},
		{"new incarnation starts fresh", "i2", []LvolObservation{a}, []string{"a"}, nil, nil, []string{"a"}},
		{"all gone", "i2", nil, nil, []string{"a"}, nil, nil},
	}
	j, clk := openTest(t)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			d, err := j.ObserveLvols(s.inc, "lvs-1", clk.Advance(time.Hour), s.lvols)
			require.NoError(t, err)
			require.Equal(t, s.appeared, uuids(d.Appeared), "appeared")
			require.Equal(t, s.gone, uuids(d.Disappeared), "gone")
			var changed []string
			for _, ch := range d.Changed {
				require.Equal(t, ch.Before.UUID, ch.After.UUID)
				require.NotEqual(t, ch.Before, ch.After)
				changed = append(changed, ch.After.UUID)
			}
			require.Equal(t, s.changed, changed, "changed")
			require.Equal(t, s.appeared == nil && s.gone == nil && s.changed == nil, d.Empty())
			st, err := j.LastState(s.inc, "lvs-1")
			require.NoError(t, err)
			require.ElementsMatch(t, s.state, sortedKeys(st))
		})
	}
	st, err := j.LastState("i1", "lvs-1")
	require.NoError(t, err)
	require.Equal(t, uint64(0x100000005), st["a"].BlobID, "the known blob id is kept")
	require.Equal(t, uint64(4<<20), st["b"].SizeBytes)
}

func TestObserveInvalid(t *testing.T) {
	j, _ := openTest(t)
	long := string(make([]byte, maxIDLen+1))
	tests := []struct {
		name     string
		inc, lvs string
		lvols    []LvolObservation
	}{
		{"empty incarnation", "", "l", nil},
		{"empty lvstore", "i", "", nil},
		{"oversized incarnation", long, "l", nil},
		{"lvol without uuid", "i", "l", []LvolObservation{{Name: "x"}}},
		{"duplicate uuid", "i", "l", []LvolObservation{{UUID: "u"}, {UUID: "u"}}},
		{"lvol of another lvstore", "i", "l", []LvolObservation{{UUID: "u", LvstoreUUID: "other"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := j.ObserveLvols(tc.inc, tc.lvs, time.Time{}, tc.lvols)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
	incs, err := j.Incarnations()
	require.NoError(t, err)
	require.Empty(t, incs, "a refused observation writes nothing")
}

// Identifiers with "/" and "%" must not leak into neighbouring prefixes.
func TestObserveEscaping(t *testing.T) {
	j, _ := openTest(t)
	_, err := j.ObserveLvols("a/b", "l", time.Time{}, []LvolObservation{{UUID: "x/y"}})
	require.NoError(t, err)
	_, err = j.ObserveLvols("a", "b/l", time.Time{}, []LvolObservation{{UUID: "z%2F"}})
	require.NoError(t, err)
	st, err := j.LastState("a/b", "l")
	require.NoError(t, err)
	require.Equal(t, []string{"x/y"}, sortedKeys(st))
	st, err = j.LastState("a", "b/l")
	require.NoError(t, err)
	require.Equal(t, []string{"z%2F"}, sortedKeys(st))
	_, _, ok, err := j.SeenIn("a/b", "x/y")
	require.NoError(t, err)
	require.True(t, ok)
}

// The real resurrection story, from the captured views of a v24.09 target:
// backup-1 force-removed (gone, and its clone loses the base snapshot
// name), then back after the restart, in a new incarnation.
func TestObserveResurrectionFixtures(t *testing.T) {
	j, _ := openTest(t)
	t0 := time.Date(2026, 11, 24, 22, 14, 50, 0, time.UTC)
	t1 := time.Date(2026, 11, 24, 22, 14, 55, 0, time.UTC)
	t2 := time.Date(2026, 11, 24, 22, 16, 0, 0, time.UTC)

	d, err := j.ObserveLvols("pid:100@1", lvsR, t0, fixtureLvols(t, "resurrection.before-delete.bdev_get_bdevs.json"))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{replicaA, bystander, backup1}, uuids(d.Appeared))

	d, err = j.ObserveLvols("pid:100@1", lvsR, t1, fixtureLvols(t, "resurrection.after-delete.bdev_get_bdevs.json"))
	require.NoError(t, err)
	require.Equal(t, []string{backup1}, uuids(d.Disappeared))
	require.Len(t, d.Changed, 1)
	require.Equal(t, replicaA, d.Changed[0].After.UUID)
	require.Equal(t, "backup-1", d.Changed[0].Before.BaseSnapshot)
	require.Empty(t, d.Changed[0].After.BaseSnapshot, "the clone lost its base snapshot name")
	require.True(t, d.Changed[0].After.Clone)

	first, last, ok, err := j.SeenIn("pid:100@1", backup1)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, t0, first)
	require.Equal(t, t0, last, "last listed before the delete")

	first, last, ok, err = j.SeenIn("pid:100@1", bystander)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, t0, first)
	require.Equal(t, t1, last, "still listed: the latest observation")

	d, err = j.ObserveLvols("pid:200@2", lvsR, t2, fixtureLvols(t, "resurrection.after-restart.bdev_get_bdevs.json"))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{replicaA, bystander, backup1}, uuids(d.Appeared))

	_, _, ok, err = j.SeenIn("pid:200@2", "never-there")
	require.NoError(t, err)
	require.False(t, ok)

	incs, err := j.Incarnations()
	require.NoError(t, err)
	require.Equal(t, []IncarnationInfo{
		{ID: "pid:100@1", FirstSeen: t0, LastSeen: t1},
		{ID: "pid:200@2", FirstSeen: t2, LastSeen: t2},
	}, incs)

	tl, err := j.LvolTimeline(backup1)
	require.NoError(t, err)
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, fmt.Sprintf("%s@%s", e.Kind, e.Incarnation))
		require.Equal(t, "lvs-r/backup-1", e.LvolName)
	}
	require.Equal(t, []string{"seen@pid:100@1", "gone@pid:100@1", "seen@pid:200@2"}, kinds)
	require.Equal(t, t0, tl[1].LastSeen, "gone carries the last sighting")
	require.Equal(t, t1, tl[1].At)

	sights, err := j.Sightings("pid:100@1")
	require.NoError(t, err)
	require.Equal(t, map[string]Sighting{
		replicaA:  {LvstoreUUID: lvsR, FirstSeen: t0, LastSeen: t1},
		bystander: {LvstoreUUID: lvsR, FirstSeen: t0, LastSeen: t1},
		backup1:   {LvstoreUUID: lvsR, FirstSeen: t0, LastSeen: t0, Gone: true},
	}, sights)
	gone, err := j.Disappearances()
	require.NoError(t, err)
	require.Len(t, gone, 1)
	require.Len(t, gone[backup1], 1)
	require.Equal(t, "pid:100@1", gone[backup1][0].Incarnation)
	require.Equal(t, t0, gone[backup1][0].LastSeen)
	require.Equal(t, t1, gone[backup1][0].At)

	all, err := j.Timeline(t1)
	require.NoError(t, err)
	require.Len(t, all, 2+3, "since t1: gone + changed, then three seen")
	for i := 1; i < len(all); i++ {
		require.False(t, all[i].At.Before(all[i-1].At), "timeline in time order")
	}
}

// Years of hourly runs over an unchanged view must write almost nothing:
// only the observation marker changes. (The benchmark runs the full
// 10,000 x 1,000; the test keeps to what runs in seconds under -race.)
func TestUnchangedObservationsStaySmall(t *testing.T) {
	dir := t.TempDir()
	j, clk := openAt(t, dir)
	lvols := make([]LvolObservation, 1000)
	for i := range lvols {
		lvols[i] = LvolObservation{UUID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), Name: fmt.Sprintf("r%04d", i),
			Alias: fmt.Sprintf("lvs/r%04d", i), SizeBytes: 64 << 20, Thin: true}
	}
	_, err := j.ObserveLvols("inc", "lvs", clk.Now(), lvols)
	require.NoError(t, err)
	require.NoError(t, j.Close())
	base, _ := dirBytes(t, dir)

	j, err = Open(dir, Options{Now: clk.Now})
	require.NoError(t, err)
	const runs = 100
	for range runs {
		d, err := j.ObserveLvols("inc", "lvs", clk.Advance(time.Hour), lvols)
		require.NoError(t, err)
		require.True(t, d.Empty())
	}
	require.NoError(t, j.Close())
	after, _ := dirBytes(t, dir)
	grown := after - base
	t.Logf("1000 lvols: %d bytes after the first observation, +%d after %d unchanged ones (%.0f B/run)", base, grown, runs, float64(grown)/runs)
	// A full copy of the set is ~250 KB; a run must cost well under 1% of that.
	require.Less(t, grown, int64(runs*1024))

	j, err = Open(dir, Options{Now: clk.Now})
	require.NoError(t, err)
	defer j.Close()
	tl, err := j.Timeline(time.Time{})
	require.NoError(t, err)
	require.Len(t, tl, 1000, "only the first observation made events")
	_, last, ok, err := j.SeenIn("inc", lvols[500].UUID)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, clk.Now(), last)
}

// An observation larger than one badger transaction is split, and lands
// whole.
func TestObserveLarge(t *testing.T) {
	j, _ := openTest(t)
	// ~700 bytes of writes per new lvol: 1500 of them exceed the 600 KB a
	// transaction takes with our 4 MB memtable.
	lvols := make([]LvolObservation, 1500)
	for i := range lvols {
		lvols[i] = LvolObservation{UUID: fmt.Sprintf("u%06d", i), Name: fmt.Sprintf("n%06d", i), Alias: fmt.Sprintf("lvs/n%06d", i)}
	}
	d, err := j.ObserveLvols("inc", "lvs", time.Time{}, lvols)
	require.NoError(t, err)
	require.Len(t, d.Appeared, 1500)
	st, err := j.LastState("inc", "lvs")
	require.NoError(t, err)
	require.Len(t, st, 1500)
	d, err = j.ObserveLvols("inc", "lvs", time.Time{}, nil)
	require.NoError(t, err)
	require.Len(t, d.Disappeared, 1500)
}

// A damaged state record (disk damage, a bug in an older lvfsck) must not
// fail every later observation: the new view replaces it.
func TestObserveHealsDamagedState(t *testing.T) {
	j, _ := openTest(t)
	a, b := lv("a", "va", 1<<20), lv("b", "vb", 1<<20)
	_, err := j.ObserveLvols("i", "lvs-1", time.Time{}, []LvolObservation{a, b})
	require.NoError(t, err)
	require.NoError(t, j.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte(pState+"i/lvs-1/a"), []byte("{garbage")); err != nil {
			return err
		}
		return txn.Set([]byte(pState+"i/lvs-1/b"), []byte(`{"uuid":`))
	}))
	d, err := j.ObserveLvols("i", "lvs-1", time.Time{}, []LvolObservation{a})
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, uuids(func() []LvolObservation {
		var out []LvolObservation
		for _, c := range d.Changed {
			out = append(out, c.After)
		}
		return out
	}()), "the damaged listed lvol is rewritten")
	require.Equal(t, []string{"b"}, uuids(d.Disappeared))
	st, err := j.LastState("i", "lvs-1")
	require.NoError(t, err)
	require.Equal(t, map[string]LvolObservation{"a": a}, st)
	d, err = j.ObserveLvols("i", "lvs-1", time.Time{}, []LvolObservation{a})
	require.NoError(t, err)
	require.True(t, d.Empty(), "healed")
}
