// Package history turns the journal's events into the timeline `lvfsck
// history` prints: which events are about an lvol (asked by uuid, alias or
// bare name), labelled and summarized one line each, and their text and
// JSON renderings. Pure: it takes []journal.Event and writes to an
// io.Writer.
package history

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

// Schema names the JSON document of `lvfsck history --json`.
const Schema = "lvfsck.history/v1"

// ParseSince reads a Go duration, also accepting whole days ("7d"), for
// --since and --keep.
func ParseSince(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 100*366 {
			return 0, fmt.Errorf("%q: want a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: negative", s)
	}
	return d, nil
}

// History is what gets printed: the matching events, labelled.
type History struct {
	Lvol   string    `json:"lvol,omitempty"` // as asked
	UUIDs  []string  `json:"uuids,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Events []Event   `json:"events"`
}

// Event is one line: a journal event with the lvol it is about and its text.
type Event struct {
	journal.Event
	Label   string `json:"lvol"`    // alias, else name, else uuid; with a short uuid where names repeat
	Summary string `json:"summary"` // the line's text
}

// Build selects the events about lvol (a uuid, an alias or a bare name;
// all events when "") at or after since, and labels them. The lvol is
// resolved over all of them, whatever since says.
func Build(all []journal.Event, lvol string, since time.Time) History {
	h := History{Lvol: lvol, Since: since, Events: []Event{}}
	alias := map[string]string{} // uuid → last known alias
	names := map[string]string{} // uuid → last known bare name
	for _, e := range all {
		for _, ob := range []*journal.LvolObservation{e.Before, e.After} {
			if ob != nil && ob.UUID != "" {
				if ob.Alias != "" {
					alias[ob.UUID] = ob.Alias
				}
				if ob.Name != "" {
					names[ob.UUID] = ob.Name
				}
			}
		}
		if e.LvolUUID != "" && strings.Contains(e.LvolName, "/") {
			alias[e.LvolUUID] = e.LvolName
		}
	}
	match := func(Event) bool { return true }
	if lvol != "" {
		uuids, nameKeys := resolveLvol(all, lvol)
		for u := range uuids {
			h.UUIDs = append(h.UUIDs, u)
		}
		slices.Sort(h.UUIDs)
		match = func(e Event) bool {
			if e.LvolUUID != "" {
				return uuids[e.LvolUUID]
			}
			return e.LvolName != "" && nameKeys[e.LvolName]
		}
	}
	labelUUIDs := map[string]map[string]bool{}
	for _, e := range all {
		he := Event{Event: e}
		if !match(he) || (!since.IsZero() && e.At.Before(since)) {
			continue
		}
		he.Label = labelOf(e, alias, names)
		if e.LvolUUID != "" {
			if labelUUIDs[he.Label] == nil {
				labelUUIDs[he.Label] = map[string]bool{}
			}
			labelUUIDs[he.Label][e.LvolUUID] = true
		}
		he.Summary = summarize(e)
		h.Events = append(h.Events, he)
	}
	// A name used by more than one lvol (a name collision, a name reused
	// after a delete): say which one each line is about.
	for i := range h.Events {
		e := &h.Events[i]
		if e.LvolUUID != "" && len(labelUUIDs[e.Label]) > 1 && e.Label != e.LvolUUID {
			e.Label += " (" + shortUUID(e.LvolUUID) + ")"
		}
	}
	return h
}

// resolveLvol finds the uuids an argument means, and the names under which
// log evidence without a uuid may be filed for them.
func resolveLvol(all []journal.Event, lvol string) (uuids, nameKeys map[string]bool) {
	uuids, nameKeys = map[string]bool{}, map[string]bool{lvol: true}
	isAlias := strings.Contains(lvol, "/")
	bare := lvol
	if isAlias {
		bare = lvol[strings.LastIndexByte(lvol, '/')+1:]
	}
	nameKeys[bare] = true
	matches := func(alias, name string) bool {
		if isAlias {
			return alias == lvol
		}
		return name == lvol || alias == lvol || strings.HasSuffix(alias, "/"+lvol)
	}
	for _, e := range all {
		if e.LvolUUID == "" {
			continue
		}
		if e.LvolUUID == lvol {
			uuids[lvol] = true
		}
		aliasOf := e.LvolName
		if !strings.Contains(aliasOf, "/") {
			aliasOf = ""
		}
		if matches(aliasOf, e.LvolName) {
			uuids[e.LvolUUID] = true
		}
		for _, ob := range []*journal.LvolObservation{e.Before, e.After} {
			if ob != nil && ob.UUID != "" && matches(ob.Alias, ob.Name) {
				uuids[ob.UUID] = true
			}
		}
	}
	// Evidence filed by name: every name these uuids had.
	for _, e := range all {
		if !uuids[e.LvolUUID] {
			continue
		}
		if e.LvolName != "" {
			nameKeys[e.LvolName] = true
		}
		for _, ob := range []*journal.LvolObservation{e.Before, e.After} {
			if ob != nil {
				for _, n := range []string{ob.Alias, ob.Name} {
					if n != "" {
						nameKeys[n] = true
					}
				}
			}
		}
	}
	return uuids, nameKeys
}

func labelOf(e journal.Event, alias, names map[string]string) string {
	switch {
	case e.LvolUUID != "" && alias[e.LvolUUID] != "":
		return alias[e.LvolUUID]
	case e.LvolName != "":
		return e.LvolName
	case e.LvolUUID != "" && names[e.LvolUUID] != "":
		return names[e.LvolUUID]
	case e.LvolUUID != "":
		return e.LvolUUID
	}
	return "-"
}

func shortUUID(u string) string {
	if len(u) > 8 {
		return u[:8]
	}
	return u
}

// KindColumn is the second column: the event kind, or log:<evidence kind>.
func KindColumn(e journal.Event) string {
	if e.Kind == journal.EventLogEvidence {
		if k, _, ok := strings.Cut(e.Detail, ": "); ok && len(k) <= 64 && !strings.ContainsAny(k, " \t") {
			return "log:" + k
		}
		return "log"
	}
	return string(e.Kind)
}

// outcomeWords says what each delete result means for the lvol.
var outcomeWords = map[journal.DeleteResult]string{
	journal.ResultDeletedVerified: "deleted; verified gone from disk",
	journal.ResultRefusedBusy:     "target answered busy and kept the lvol; nothing changed",
	journal.ResultRefusedGuard:    "refused by lvfsck's preflight; nothing changed",
	journal.ResultForcedRemoval:   "target answered busy and dropped the lvol anyway (forced removal)",
	journal.ResultHiddenZombie:    "target answered busy and hid the lvol, kept closed in its lvstore (fixed target: undeletable until a restart)",
	journal.ResultNotFound:        "target answered No such device",
	journal.ResultError:           "delete failed",
}

// summarize is the text of one line.
func summarize(e journal.Event) string {
	d := strings.TrimSpace(e.Detail)
	switch e.Kind {
	case journal.EventSeen:
		s := "listed by the target"
		if e.After != nil {
			s += describeObs(*e.After)
		}
		return withInc(s, e.Incarnation)
	case journal.EventGone:
		s := "no longer listed by the target"
		if !e.LastSeen.IsZero() {
			s += " (last listed " + report.Timestamp(e.LastSeen) + ")"
		}
		return withInc(s, e.Incarnation)
	case journal.EventChanged:
		if e.Before != nil && e.After != nil {
			if c := describeChange(*e.Before, *e.After); c != "" {
				return c
			}
		}
		return "changed"
	case journal.EventDeleteIntent:
		return joinDetail("delete requested", d)
	case journal.EventDeleteOutcome, journal.EventForcedRemoval:
		// The journal writes "<result> <detail>".
		res, rest, _ := strings.Cut(d, " ")
		if e.Kind == journal.EventForcedRemoval {
			return joinDetail("delete answered busy; dropped from memory, blob still on disk", rest)
		}
		if w, ok := outcomeWords[journal.DeleteResult(res)]; ok {
			return joinDetail(w, rest)
		}
		return joinDetail("delete ended", d)
	case journal.EventResurrected:
		return joinDetail("back after a target restart", d)
	case journal.EventRepaired:
		return joinDetail("repaired", d)
	case journal.EventFindingFirstSeen:
		return findingWords(d)
	case journal.EventLogEvidence:
		if _, rest, ok := strings.Cut(d, ": "); ok {
			return rest
		}
		return d
	}
	return d
}

// findingWords reads the finding key the journal files a first sighting
// under ("<lvstore uuid>|<code>|<lvol uuid, blob:0x.. or page:N>") as
// words: the code, and the blob or page when no lvol names the line.
func findingWords(key string) string {
	parts := strings.Split(key, "|")
	if len(parts) != 3 || parts[1] == "" {
		return joinDetail("first reported", key)
	}
	s := "first reported: " + parts[1]
	if b, ok := strings.CutPrefix(parts[2], "blob:"); ok {
		s += " on blob " + b
	} else if p, ok := strings.CutPrefix(parts[2], "page:"); ok {
		s += " on md page " + p
	}
	return s
}

func joinDetail(s, d string) string {
	if d == "" {
		return s
	}
	return s + ": " + d
}

func withInc(s, inc string) string {
	if inc == "" {
		return s
	}
	return s + " [target " + inc + "]"
}

// describeObs lists an lvol's attributes: " (snapshot, thin, 32 MiB, ...)".
func describeObs(o journal.LvolObservation) string {
	var p []string
	switch {
	case o.Snapshot:
		p = append(p, "snapshot")
	case o.Clone && o.BaseSnapshot != "":
		p = append(p, "clone of "+o.BaseSnapshot)
	case o.Clone:
		p = append(p, "clone with no base snapshot name")
	}
	if o.Thin {
		p = append(p, "thin")
	}
	if o.ReadOnly {
		p = append(p, "read-only")
	}
	if o.SizeBytes > 0 {
		p = append(p, report.Bytes(o.SizeBytes))
	}
	if o.BlobID != 0 {
		p = append(p, fmt.Sprintf("blob 0x%x", o.BlobID))
	}
	if len(p) == 0 {
		return ""
	}
	return " (" + strings.Join(p, ", ") + ")"
}

// describeChange says what differs between two observations.
func describeChange(a, b journal.LvolObservation) string {
	var p []string
	str := func(what, x, y string) {
		if x != y {
			p = append(p, fmt.Sprintf("%s %s → %s", what, orNone(x), orNone(y)))
		}
	}
	flag := func(what string, x, y bool) {
		if x != y {
			p = append(p, fmt.Sprintf("%s %t → %t", what, x, y))
		}
	}
	str("alias", a.Alias, b.Alias)
	if a.Alias == b.Alias {
		str("name", a.Name, b.Name)
	}
	if a.SizeBytes != b.SizeBytes {
		p = append(p, fmt.Sprintf("size %s → %s", report.Bytes(a.SizeBytes), report.Bytes(b.SizeBytes)))
	}
	flag("thin", a.Thin, b.Thin)
	flag("read-only", a.ReadOnly, b.ReadOnly)
	flag("snapshot", a.Snapshot, b.Snapshot)
	flag("clone", a.Clone, b.Clone)
	str("base snapshot", a.BaseSnapshot, b.BaseSnapshot)
	if a.BlobID != b.BlobID && a.BlobID != 0 && b.BlobID != 0 {
		p = append(p, fmt.Sprintf("blob 0x%x → 0x%x", a.BlobID, b.BlobID))
	}
	return strings.Join(p, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// WriteText writes one aligned line per event: time, lvol, kind, summary.
func WriteText(w io.Writer, h History) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(h.Events) == 0 {
		what := "the journal"
		if h.Lvol != "" {
			what = report.Printable(h.Lvol)
		}
		if _, err := fmt.Fprintf(w, "no events for %s\n", what); err != nil {
			return err
		}
		return nil
	}
	for _, e := range h.Events {
		// Tabs only between the first three columns: the summary is free
		// text and must not be split by tabwriter.
		s := strings.ReplaceAll(report.Printable(e.Summary), "\t", " ")
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", report.Timestamp(e.At), report.Printable(e.Label), KindColumn(e.Event), s); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// maxDoc bounds a Schema document ReadEvents reads (a bundle's journal
// excerpt): its length comes from the data.
const maxDoc = 256 << 20

// ReadEvents reads a Schema document (WriteJSON's, as a support bundle
// carries the journal's history) back into the journal events it shows,
// for Build to select and label again.
func ReadEvents(r io.Reader) ([]journal.Event, error) {
	var doc struct { // as WriteJSON writes it
		Schema string `json:"schema"`
		History
	}
	lr := &io.LimitedReader{R: r, N: maxDoc + 1}
	if err := json.NewDecoder(lr).Decode(&doc); err != nil {
		return nil, fmt.Errorf("history document: %w", err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("history document: over %d bytes", maxDoc)
	}
	if doc.Schema != Schema {
		return nil, fmt.Errorf("history document: schema %q, want %q", doc.Schema, Schema)
	}
	evs := make([]journal.Event, 0, len(doc.Events))
	for _, e := range doc.Events {
		evs = append(evs, e.Event)
	}
	return evs, nil
}

// WriteJSON writes the Schema document.
func WriteJSON(w io.Writer, h History) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Schema string `json:"schema"`
		History
	}{Schema, h})
}
