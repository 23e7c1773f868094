package history

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
)

// resAt is a time of the resurrection capture (its log runs 22:14:50–22:15:00).
func resAt(sec, msec int) time.Time {
	return time.Date(2026, 11, 24, 22, 14, sec, msec*int(time.Millisecond), time.UTC)
}

func TestParseSince(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"90m", 90 * time.Minute, false},
		{"36h", 36 * time.Hour, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"0d", 0, false},
		{"1.5d", 0, true},
		{"d", 0, true},
		{"-1h", 0, true},
		{"", 0, true},
	} {
		got, err := ParseSince(tc.in)
		if tc.bad {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

// TestBuildHistoryNameReuse: two lvols that had the same alias (a name
// collision, or a name reused after a delete) are told apart by a short
// uuid, and asking by the alias shows both.
func TestBuildHistoryNameReuse(t *testing.T) {
	u1, u2 := "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002"
	obs := func(u string) *journal.LvolObservation {
		return &journal.LvolObservation{UUID: u, Name: "snap-x", Alias: "lvs-r/snap-x"}
	}
	ev := []journal.Event{
		{At: resAt(1, 0), Kind: journal.EventSeen, LvolUUID: u1, After: obs(u1)},
		{At: resAt(2, 0), Kind: journal.EventForcedRemoval, LvolUUID: u1, LvolName: "lvs-r/snap-x", Detail: "forced-removal busy"},
		{At: resAt(3, 0), Kind: journal.EventSeen, LvolUUID: u2, After: obs(u2)},
		{At: resAt(4, 0), Kind: journal.EventLogEvidence, LvolUUID: u1, LvolName: "lvs-r/snap-x",
			Detail: "bdev-name-exists: Bdev name lvs-r/snap-x already exists (x.log:3)"},
		{At: resAt(5, 0), Kind: journal.EventSeen, LvolUUID: "33333333-0000-4000-8000-000000000003",
			After: &journal.LvolObservation{UUID: "33333333-0000-4000-8000-000000000003", Name: "other", Alias: "lvs-r/other"}},
	}
	h := Build(ev, "lvs-r/snap-x", time.Time{})
	require.Equal(t, []string{u1, u2}, h.UUIDs)
	var got []string
	for _, e := range h.Events {
		got = append(got, e.Label+" | "+KindColumn(e.Event)+" | "+e.Summary)
	}
	require.Equal(t, []string{
		"lvs-r/snap-x (11111111) | seen | listed by the target",
		"lvs-r/snap-x (11111111) | forced-removal | delete answered busy; dropped from memory, blob still on disk: busy",
		"lvs-r/snap-x (22222222) | seen | listed by the target",
		"lvs-r/snap-x (11111111) | log:bdev-name-exists | Bdev name lvs-r/snap-x already exists (x.log:3)",
	}, got)

	// The whole store: the other lvol has a label of its own.
	h = Build(ev, "", time.Time{})
	require.Len(t, h.Events, 5)
	require.Equal(t, "lvs-r/other", h.Events[4].Label)
}

func TestDescribeChange(t *testing.T) {
	a := journal.LvolObservation{Alias: "lvs/a", Name: "a", SizeBytes: 8 << 20, Clone: true, BaseSnapshot: "s"}
	b := journal.LvolObservation{Alias: "lvs/b", Name: "b", SizeBytes: 12 << 20, Clone: true, ReadOnly: true}
	require.Equal(t, "alias lvs/a → lvs/b; size 8 MiB → 12 MiB; read-only false → true; base snapshot s → (none)", describeChange(a, b))
	require.Empty(t, describeChange(a, a))
}

func TestWrite(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteText(&b, History{Lvol: "lvs/x\x1b"}))
	require.Equal(t, "no events for \"lvs/x\\x1b\"\n", b.String(), "names from data are quoted")
	b.Reset()
	require.NoError(t, WriteText(&b, History{}))
	require.Equal(t, "no events for the journal\n", b.String())

	h := Build([]journal.Event{{At: resAt(1, 0), Kind: journal.EventRepaired, LvolUUID: "u", LvolName: "lvs/a", Detail: "x\ty"}}, "", time.Time{})
	b.Reset()
	require.NoError(t, WriteText(&b, h))
	require.Equal(t, "2026-11-24 22:14:01Z  lvs/a  repaired  \"repaired: x\\ty\"\n", b.String(), "a tab in the summary is escaped, not a column")
	b.Reset()
	require.NoError(t, WriteJSON(&b, h))
	var doc struct {
		Schema string
		Events []struct{ Lvol, Summary string }
	}
	require.NoError(t, json.Unmarshal([]byte(b.String()), &doc))
	require.Equal(t, Schema, doc.Schema)
	require.Equal(t, "lvs/a", doc.Events[0].Lvol)
}

// BenchmarkBuild: a year of a busy journal, one lvol asked by alias.
func BenchmarkBuild(b *testing.B) {
	var evs []journal.Event
	for i := range 20000 {
		u := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i%500)
		ob := &journal.LvolObservation{UUID: u, Name: fmt.Sprintf("vol-%d", i%500), Alias: fmt.Sprintf("lvs/vol-%d", i%500), SizeBytes: 1 << 30}
		evs = append(evs, journal.Event{At: resAt(0, 0).Add(time.Duration(i) * time.Minute), Kind: journal.EventSeen, LvolUUID: u, After: ob})
	}
	b.ReportAllocs()
	for b.Loop() {
		Build(evs, "lvs/vol-7", time.Time{})
	}
	b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// A first sighting is filed under the finding's key; the line says the
// code in words, never the internal "<uuid>|<code>|<uuid>" key.
func TestFindingFirstSeenInWords(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"8d8b189b-1c53-43f0-bd30-30cfab08bb98|pending-resurrection|0cb79d67-87ec-449b-842e-22455bfa39ae", "first reported: pending-resurrection"},
		{"8d8b189b-1c53-43f0-bd30-30cfab08bb98|md-crc-mismatch|blob:0x100000003", "first reported: md-crc-mismatch on blob 0x100000003"},
		{"|chain-broken|page:17", "first reported: chain-broken on md page 17"},
		{"not a key", "first reported: not a key"},
	} {
		h := Build([]journal.Event{{At: resAt(1, 0), Kind: journal.EventFindingFirstSeen, LvolUUID: "u", LvolName: "lvs/a", Detail: tc.key}}, "", time.Time{})
		require.Equal(t, tc.want, h.Events[0].Summary)
		require.NotContains(t, h.Events[0].Summary, "|")
	}
}

// Events of one second keep the journal's order (its keys: time, then a
// sequence number), whatever their kinds or lvols.
func TestBuildKeepsJournalOrder(t *testing.T) {
	var evs []journal.Event
	kinds := []journal.EventKind{journal.EventGone, journal.EventFindingFirstSeen, journal.EventSeen, journal.EventResurrected, journal.EventDeleteIntent}
	for i, k := range kinds {
		evs = append(evs, journal.Event{At: resAt(1, 0), Kind: k, LvolUUID: fmt.Sprintf("u%d", i%2), LvolName: fmt.Sprintf("lvs/v%d", i%2), Detail: fmt.Sprint(i)})
	}
	for range 20 {
		h := Build(evs, "", time.Time{})
		var got []journal.EventKind
		for _, e := range h.Events {
			got = append(got, e.Kind)
		}
		require.Equal(t, kinds, got)
	}
}

// A bundle's journal excerpt (WriteJSON's document) reads back into the
// events it shows, and Build over them selects and labels as over the
// journal; anything else is an error.
func TestReadEvents(t *testing.T) {
	u1 := "11111111-0000-4000-8000-000000000001"
	ev := []journal.Event{
		{At: resAt(1, 0), Kind: journal.EventSeen, LvolUUID: u1, After: &journal.LvolObservation{UUID: u1, Name: "snap-x", Alias: "lvs-r/snap-x"}},
		{At: resAt(2, 0), Kind: journal.EventForcedRemoval, LvolUUID: u1, LvolName: "lvs-r/snap-x", Detail: "forced-removal busy"},
	}
	var b strings.Builder
	require.NoError(t, WriteJSON(&b, Build(ev, "", time.Time{})))
	back, err := ReadEvents(strings.NewReader(b.String()))
	require.NoError(t, err)
	require.Equal(t, Build(ev, "lvs-r/snap-x", time.Time{}), Build(back, "lvs-r/snap-x", time.Time{}))

	for _, bad := range []string{"", "{", `{"schema":"other/v1","events":[]}`, `[]`, `{"schema":"lvfsck.history/v1","events":{}}`} {
		_, err := ReadEvents(strings.NewReader(bad))
		require.Error(t, err, "%q", bad)
	}
}

func FuzzReadEvents(f *testing.F) {
	var b strings.Builder
	_ = WriteJSON(&b, Build([]journal.Event{{At: resAt(1, 0), Kind: journal.EventSeen, LvolUUID: "u"}}, "", time.Time{}))
	f.Add(b.String())
	f.Add(`{"schema":"lvfsck.history/v1","events":[{"kind":"seen"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		evs, err := ReadEvents(strings.NewReader(s))
		if err != nil {
			return
		}
		h := Build(evs, "", time.Time{})
		var out strings.Builder
		require.NoError(t, WriteText(&out, h))
	})
}
