package collect

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
)

const (
	lvsU = "5623c961-e73c-4942-89a7-61e47f821fc3"
	uX   = "5ae2d848-da40-4d18-8f6c-64cb6802a968"
	uY   = "cab61897-1d40-4dd8-9fb3-350e7c43404f"
	uZ   = "804a2e0e-123b-4a8b-be34-4ba606fb1cc2"
	uW2  = "4b1c8e0a-77d2-4f0e-9a51-2f7c3c1d9e20"
	incA = "boot/100/1"
	incB = "boot/200/2"
)

func obs(uuid, name string) journal.LvolObservation {
	return journal.LvolObservation{UUID: uuid, Name: name, Alias: "lvs-r/" + name, LvstoreUUID: lvsU, LvstoreName: "lvs-r"}
}

// historyJournal writes a small story into a real journal: x listed then
// gone in incarnation A and back in B; y force-removed by a recorded delete
// in A; an open intent for z; a forced-removal log line about x.
func historyJournal(t *testing.T) (*journal.Journal, string) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	run := func(inc string, at time.Time, lvols ...journal.LvolObservation) string {
		id, err := j.BeginRun(journal.Run{Command: "check", Started: at, Incarnation: inc})
		require.NoError(t, err)
		_, err = j.ObserveLvols(inc, lvsU, at, lvols)
		require.NoError(t, err)
		require.NoError(t, j.FinishRun(id, "ok", 0))
		return id
	}
	run(incA, t0, obs(uX, "x"), obs(uY, "y"), obs(uZ, "z"))
	run(incA, t0.Add(time.Hour), obs(uY, "y"), obs(uZ, "z"))
	id, err := j.RecordIntent(journal.DeleteIntent{LvolUUID: uY, Alias: "lvs-r/y", LvstoreUUID: lvsU, Incarnation: incA, At: t0.Add(2 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, j.RecordOutcome(id, journal.DeleteOutcome{At: t0.Add(2 * time.Hour), Result: journal.ResultForcedRemoval, Semantics: journal.SemanticsForced}))
	run(incA, t0.Add(3*time.Hour), obs(uZ, "z"))
	_, err = j.RecordIntent(journal.DeleteIntent{LvolUUID: uZ, Alias: "lvs-r/z", Incarnation: incA, At: t0.Add(4 * time.Hour)})
	require.NoError(t, err)
	_, err = j.RecordEvidence(journal.Evidence{At: t0.Add(90 * time.Minute), Source: "spdk.log", Line: 7, Kind: journal.EvidenceForcedRemoval, LvolName: "lvs-r/x", Text: "Could not remove blob on lvol gracefully - forced removal"})
	require.NoError(t, err)
	cur := run(incB, t0.Add(5*time.Hour), obs(uX, "x"), obs(uY, "y"), obs(uZ, "z"))
	return j, cur
}

func TestLoadHistory(t *testing.T) {
	j, cur := historyJournal(t)
	h, err := LoadHistory(j, HistoryOptions{Incarnation: incB, Socket: incA})
	require.NoError(t, err)

	require.True(t, h.SeenInIncarnation(incA, uX))
	require.True(t, h.SeenInIncarnation(incB, uX))
	require.False(t, h.SeenInIncarnation("boot/300/3", uX))
	require.False(t, h.SeenInIncarnation(incA, "nope"))

	g, ok := h.SeenEarlierAndGone(uX)
	require.True(t, ok, "x was listed then gone in A")
	require.Equal(t, incA, g.Incarnation)
	require.True(t, g.FirstAbsent.After(g.LastSeen))
	g, ok = h.SeenEarlierAndGone(uY)
	require.True(t, ok, "y too (the forced removal took it out of the view)")
	require.Equal(t, incA, g.Incarnation)
	_, ok = h.SeenEarlierAndGone(uZ)
	require.False(t, ok, "z was always listed")

	ds := h.DeletesOf(uY)
	require.Len(t, ds, 1)
	require.Equal(t, reconcile.ResultForcedRemoval, ds[0].Result)
	require.Equal(t, "lvs-r/y", ds[0].Alias)
	require.Len(t, h.DeletesOf(uZ), 1)
	require.Equal(t, reconcile.ResultNone, h.DeletesOf(uZ)[0].Result)
	require.Len(t, h.OpenIntents(), 1)
	require.Equal(t, uZ, h.OpenIntents()[0].LvolUUID)

	require.Equal(t, reconcile.SemanticsForced, h.TargetSemantics(), "B unknown, A showed forced")
	ev := h.LogEvidence(uX, "lvs-r/x")
	require.Len(t, ev, 1)
	require.Equal(t, reconcile.EvidenceForcedRemoval, ev[0].Kind)
	require.Contains(t, ev[0].Text, "forced removal")
	require.Empty(t, h.LogEvidence(uX, ""), "indexed by the name the log used")

	require.Equal(t, 3, h.EarlierRuns(incA, cur))
	require.Equal(t, 0, h.EarlierRuns(incB, cur))
	require.Equal(t, 0, h.EarlierRuns("", cur))

	// What reconcile makes of it: x and y are back after the restart.
	live := reconcile.Live{Lvstores: []reconcile.LiveLvstore{{UUID: lvsU, Name: "lvs-r"}}}
	for _, o := range []journal.LvolObservation{obs(uX, "x"), obs(uY, "y"), obs(uZ, "z")} {
		live.Lvols = append(live.Lvols, reconcile.LiveLvol{UUID: o.UUID, Name: o.Name, Alias: o.Alias, LvstoreUUID: lvsU, LvstoreName: "lvs-r"})
	}
	fs := reconcile.Check(reconcile.Input{Live: live, History: h, Incarnation: reconcile.Incarnation{ID: incB}})
	got := map[string]finding.Code{}
	for _, f := range fs {
		if f.Code == reconcile.CodeResurrected {
			got[f.LvolUUID] = f.Code
		}
	}
	require.Equal(t, map[string]finding.Code{uX: reconcile.CodeResurrected, uY: reconcile.CodeResurrected}, got, "%v", fs)
}

// A pending resurrection recorded by a check of incarnation A reaches
// reconcile with that incarnation, its lvol and its evidence: w was dropped
// between two checks, so no run listed it, and it is live in B.
func TestLoadHistoryRecordedFindings(t *testing.T) {
	j, _ := historyJournal(t)
	const uW = "0d8f3f36-8d35-4c3f-a1d4-1c2a5d3b0e11"
	pend := finding.Finding{Code: reconcile.CodePendingResurrection, Severity: finding.Error, LvstoreUUID: lvsU, Lvstore: "lvs-r",
		LvolUUID: uW, LvolName: "w", Message: "dropped",
		Evidence: map[string]string{reconcile.EvNotify: "bdev_unregister (id 9)", reconcile.EvDisk: "blob 0x9"}}
	at := time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC)
	_, err := j.UpsertFindingsOf(incA, at, []string{lvsU}, []finding.Finding{pend})
	require.NoError(t, err)
	h, err := LoadHistory(j, HistoryOptions{Incarnation: incB})
	require.NoError(t, err)
	rs := h.RecordedFindings(uW)
	require.Len(t, rs, 1)
	require.Equal(t, reconcile.RecordedFinding{Code: reconcile.CodePendingResurrection, Incarnation: incA, FirstSeen: at, LastSeen: at, Open: true,
		Summary: "notify: bdev_unregister (id 9)"}, rs[0], "the disk evidence is this run's to read again")
	require.Empty(t, h.RecordedFindings(uX))

	// Recorded with no incarnation (none could be asked): placed by the
	// target's start time, as imported log lines are.
	const uV = "9e1d3c55-2b7a-4b8e-8f3e-6a0c1d2e3f40"
	pend.LvolUUID = uV
	_, err = j.UpsertFindingsOf("", at, []string{lvsU}, []finding.Finding{pend})
	require.NoError(t, err)
	for _, tc := range []struct {
		start time.Time
		inc   string
	}{{time.Time{}, ""}, {at.Add(-time.Hour), ""}, {at.Add(time.Hour), earlierRun}} {
		h, err := LoadHistory(j, HistoryOptions{TargetStart: tc.start})
		require.NoError(t, err)
		require.Equal(t, tc.inc, h.RecordedFindings(uV)[0].Incarnation, "target start %s", tc.start)
	}

	live := reconcile.Live{Lvstores: []reconcile.LiveLvstore{{UUID: lvsU, Name: "lvs-r"}},
		Lvols: []reconcile.LiveLvol{{UUID: uW, Name: "w", Alias: "lvs-r/w", LvstoreUUID: lvsU, LvstoreName: "lvs-r"}}}
	fs := reconcile.Check(reconcile.Input{Live: live, History: h, Incarnation: reconcile.Incarnation{ID: incB}})
	var res []finding.Finding
	for _, f := range fs {
		if f.Code == reconcile.CodeResurrected {
			res = append(res, f)
		}
	}
	require.Len(t, res, 1, "%v", fs)
	require.Equal(t, uW, res[0].LvolUUID)
	require.Contains(t, res[0].Evidence[reconcile.EvJournal], "bdev_unregister (id 9)")
}

// A fixed target's hidden zombie recorded in incarnation A is history too:
// back in B (the kill and restart it needed), it is resurrected, and the
// semantics the earlier check saw reach reconcile.
func TestLoadHistoryRecordedZombie(t *testing.T) {
	j, _ := historyJournal(t)
	const uW = "0d8f3f36-8d35-4c3f-a1d4-1c2a5d3b0e11"
	zombie := finding.Finding{Code: reconcile.CodeHiddenZombie, Severity: finding.Error, LvstoreUUID: lvsU, Lvstore: "lvs-r",
		LvolUUID: uW, LvolName: "w", Message: "hidden",
		Evidence: map[string]string{reconcile.EvSemantics: "fixed: its clone lvs-r/v still names it as base snapshot"}}
	at := time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC)
	_, err := j.UpsertFindingsOf(incA, at, []string{lvsU}, []finding.Finding{zombie})
	require.NoError(t, err)
	h, err := LoadHistory(j, HistoryOptions{Incarnation: incB})
	require.NoError(t, err)
	rs := h.RecordedFindings(uW)
	require.Len(t, rs, 1)
	require.Equal(t, reconcile.CodeHiddenZombie, rs[0].Code)
	require.Equal(t, zombie.Evidence[reconcile.EvSemantics], rs[0].Semantics)

	live := reconcile.Live{Lvstores: []reconcile.LiveLvstore{{UUID: lvsU, Name: "lvs-r"}},
		Lvols: []reconcile.LiveLvol{{UUID: uW, Name: "w", Alias: "lvs-r/w", LvstoreUUID: lvsU, LvstoreName: "lvs-r"}}}
	in := reconcile.Input{Live: live, History: h, Incarnation: reconcile.Incarnation{ID: incB}}
	var res []finding.Finding
	for _, f := range reconcile.Check(in) {
		if f.Code == reconcile.CodeResurrected {
			res = append(res, f)
		}
	}
	require.Len(t, res, 1)
	require.Equal(t, uW, res[0].LvolUUID)
	require.Contains(t, res[0].Evidence[reconcile.EvJournal], "hidden-zombie")
	o := reconcile.ObservedSemantics(in, res)
	require.Equal(t, reconcile.SemanticsFixed, o.Semantics)
	require.Contains(t, o.From, "lvs-r/w hidden before the restart")
}

// A forced-removal line that names x's uuid is no evidence about y, a
// later lvol created under x's name: y must not read as resurrected.
func TestLoadHistoryLogEvidenceByUUIDOnly(t *testing.T) {
	j, _ := historyJournal(t)
	_, err := j.RecordEvidence(journal.Evidence{At: time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC), Source: "spdk.log", Line: 9,
		Kind: journal.EvidenceForcedRemoval, LvolUUID: uZ, LvolName: "lvs-r/backup-1", Text: "forced removal of z"})
	require.NoError(t, err)
	h, err := LoadHistory(j, HistoryOptions{Incarnation: incB})
	require.NoError(t, err)
	require.Len(t, h.LogEvidence(uZ, "lvs-r/z"), 1, "by its uuid")
	require.Empty(t, h.LogEvidence(uY, "lvs-r/backup-1"), "another uuid under that name")

	live := reconcile.Live{Lvstores: []reconcile.LiveLvstore{{UUID: lvsU, Name: "lvs-r"}},
		Lvols: []reconcile.LiveLvol{{UUID: uW2, Name: "backup-1", Alias: "lvs-r/backup-1", LvstoreUUID: lvsU, LvstoreName: "lvs-r"}}}
	for _, f := range reconcile.Check(reconcile.Input{Live: live, History: h, Incarnation: reconcile.Incarnation{ID: incB}}) {
		require.NotEqual(t, reconcile.CodeResurrected, f.Code, "%v", f)
	}
}

func TestLoadHistoryNoSemantics(t *testing.T) {
	j, _ := historyJournal(t)
	h, err := LoadHistory(j, HistoryOptions{Socket: "/var/tmp/spdk.sock"})
	require.NoError(t, err)
	require.Empty(t, h.TargetSemantics())
}

// errJournal fails one method, to show each failure surfaces.
type errJournal struct {
	JournalReader
	fail string
}

var errJ = errors.New("journal broken")

func (e errJournal) Timeline(s time.Time) ([]journal.Event, error) {
	if e.fail == "timeline" {
		return nil, errJ
	}
	return e.JournalReader.Timeline(s)
}
func (e errJournal) AllDeletes() ([]journal.DeleteRecord, error) {
	if e.fail == "deletes" {
		return nil, errJ
	}
	return e.JournalReader.AllDeletes()
}
func (e errJournal) TargetSemantics(t string) (journal.SemanticsRecord, bool, error) {
	if e.fail == "semantics" {
		return journal.SemanticsRecord{}, false, errJ
	}
	return e.JournalReader.TargetSemantics(t)
}
func (e errJournal) Runs() ([]journal.Run, error) {
	if e.fail == "runs" {
		return nil, errJ
	}
	return e.JournalReader.Runs()
}
func (e errJournal) Sightings(inc string) (map[string]journal.Sighting, error) {
	if e.fail == "sightings" {
		return nil, errJ
	}
	return e.JournalReader.Sightings(inc)
}
func (e errJournal) AllEvidence() ([]journal.Evidence, error) {
	if e.fail == "evidence" {
		return nil, errJ
	}
	return e.JournalReader.AllEvidence()
}

func (e errJournal) FindingsWith(codes ...finding.Code) ([]journal.FindingRecord, error) {
	if e.fail == "findings" {
		return nil, errJ
	}
	return e.JournalReader.FindingsWith(codes...)
}

func TestLoadHistoryErrors(t *testing.T) {
	j, _ := historyJournal(t)
	for _, f := range []string{"timeline", "deletes", "semantics", "runs", "sightings", "evidence", "findings"} {
		t.Run(f, func(t *testing.T) {
			_, err := LoadHistory(errJournal{JournalReader: j, fail: f}, HistoryOptions{Incarnation: incA})
			require.ErrorIs(t, err, errJ)
		})
	}
}

// fakeJournal serves a fixed timeline.
type fakeJournal struct{ events []journal.Event }

func (f fakeJournal) Timeline(time.Time) ([]journal.Event, error) { return f.events, nil }
func (f fakeJournal) AllDeletes() ([]journal.DeleteRecord, error) { return nil, nil }
func (f fakeJournal) TargetSemantics(string) (journal.SemanticsRecord, bool, error) {
	return journal.SemanticsRecord{}, false, nil
}
func (f fakeJournal) Runs() ([]journal.Run, error) { return nil, nil }
func (f fakeJournal) Sightings(string) (map[string]journal.Sighting, error) {
	return nil, nil
}
func (f fakeJournal) AllEvidence() ([]journal.Evidence, error) { return nil, nil }
func (f fakeJournal) FindingsWith(...finding.Code) ([]journal.FindingRecord, error) {
	return nil, nil
}

func TestSeenEarlierAndGoneFromEvents(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ev := func(min int, kind journal.EventKind, inc string) journal.Event {
		return journal.Event{At: t0.Add(time.Duration(min) * time.Minute), Kind: kind, Incarnation: inc, LvolUUID: uX, LastSeen: t0.Add(time.Duration(min-1) * time.Minute)}
	}
	cases := []struct {
		name    string
		events  []journal.Event
		want    bool
		wantInc string
	}{
		{"never gone", []journal.Event{ev(0, journal.EventSeen, incA)}, false, ""},
		{"gone in A", []journal.Event{ev(0, journal.EventSeen, incA), ev(5, journal.EventGone, incA)}, true, incA},
		{"gone then back in A (a reload)", []journal.Event{ev(0, journal.EventSeen, incA), ev(5, journal.EventGone, incA), ev(9, journal.EventSeen, incA)}, false, ""},
		{"gone in A and in B: the latest", []journal.Event{ev(0, journal.EventSeen, incA), ev(5, journal.EventGone, incA), ev(10, journal.EventSeen, incB), ev(15, journal.EventGone, incB)}, true, incB},
		{"event without incarnation ignored", []journal.Event{{At: t0, Kind: journal.EventGone, LvolUUID: uX}}, false, ""},
		{"other kinds ignored", []journal.Event{ev(0, journal.EventDeleteIntent, incA), ev(1, journal.EventForcedRemoval, incA)}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := LoadHistory(fakeJournal{tc.events}, HistoryOptions{Incarnation: incB})
			require.NoError(t, err)
			d, ok := h.SeenEarlierAndGone(uX)
			require.Equal(t, tc.want, ok)
			require.Equal(t, tc.wantInc, d.Incarnation)
			if ok {
				require.True(t, d.FirstAbsent.After(d.LastSeen))
			}
		})
	}
}

// The lvstores the previous run of this target listed: those still listed
// at its last look, by the socket's runs only, none without an incarnation.
func TestPreviousLvstores(t *testing.T) {
	const sock, lvs2 = "/run/spdk.sock", "0e4b3c2a-1111-4222-8333-944455556666"
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	check := func(inc, target string, at time.Time, observe func()) {
		id, err := j.BeginRun(journal.Run{Command: "check", Started: at, Incarnation: inc, Target: target})
		require.NoError(t, err)
		observe()
		require.NoError(t, j.FinishRun(id, "ok", 0))
	}
	other := func(uuid, name string) journal.LvolObservation {
		return journal.LvolObservation{UUID: uuid, Name: name, Alias: "lvs-2/" + name, LvstoreUUID: lvs2, LvstoreName: "lvs-2"}
	}
	check(incA, sock, t0, func() {
		_, err := j.ObserveLvols(incA, lvsU, t0, []journal.LvolObservation{obs(uX, "x"), obs(uY, "y")})
		require.NoError(t, err)
		_, err = j.ObserveLvols(incA, lvs2, t0, []journal.LvolObservation{other(uZ, "z")})
		require.NoError(t, err)
	})
	// lvs-2 was unloaded later in that run: not "loaded in the previous run"
	check(incA, sock, t0.Add(time.Hour), func() {
		_, err := j.ObserveLvols(incA, lvs2, t0.Add(time.Hour), nil)
		require.NoError(t, err)
	})
	check("boot/900/9", "/another.sock", t0.Add(2*time.Hour), func() {})

	h, err := LoadHistory(j, HistoryOptions{Incarnation: incB, Socket: sock})
	require.NoError(t, err)
	require.Equal(t, []reconcile.EarlierLvstore{{UUID: lvsU, Name: "lvs-r", Incarnation: incA, Lvols: 2, LastSeen: t0}}, h.PreviousLvstores())

	for _, o := range []HistoryOptions{{Incarnation: incA, Socket: sock}, {Socket: sock}, {Incarnation: incB, Socket: "/nobody.sock"}} {
		h, err := LoadHistory(j, o)
		require.NoError(t, err)
		require.Empty(t, h.PreviousLvstores(), "%+v", o)
	}
}
