package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

// HistorySchema names the JSON document of `lvfsck history --json`.
const HistorySchema = "lvfsck.history/v1"

type historyOpts struct {
	json     bool
	since    string
	stateDir *string
	now      func() time.Time
}

func init() {
	subcommands = append(subcommands, newHistoryCmd)
}

// historyClock is what --since counts back from; tests pin it.
var historyClock = time.Now

func newHistoryCmd(g *globalOpts) *cobra.Command {
	o := &historyOpts{now: historyClock}
	cmd := &cobra.Command{
		Use:   "history [LVOL]",
		Short: "print what the journal remembers about one lvol, or about every lvol",
		Long: `history prints the journal's timeline, oldest first, one line per event:
when the target listed an lvol (seen), stopped listing it (gone), changed it;
delete intents and how they ended; forced removals; lvols that came back
after a restart (resurrected); repairs; and evidence imported from spdk_tgt
logs (log:<kind>).

LVOL is a uuid, an alias (lvstore/name) or a bare name; every lvol that ever
had that name is shown, with a short uuid where names repeat. Log lines that
give only a bare name match that name in any lvstore. Without LVOL, the
whole journal.

Times are UTC; times from spdk_tgt logs are as the log wrote them, read in the
zone given to log import --tz.

Exit: 0, 8 the journal cannot be opened (another lvfsck holds it), 16 usage.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lvol := ""
			if len(args) == 1 {
				lvol = args[0]
			}
			return runHistory(cmd, g, o, lvol)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "write the "+HistorySchema+" JSON document")
	cmd.Flags().StringVar(&o.since, "since", "", "only events newer than this (e.g. 36h, 7d, 90m)")
	o.stateDir = addStateDirFlag(cmd)
	return cmd
}

// parseSince reads a Go duration, also accepting whole days ("7d").
func parseSince(s string) (time.Duration, error) {
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

func runHistory(cmd *cobra.Command, g *globalOpts, o *historyOpts, lvol string) error {
	var since time.Time
	if o.since != "" {
		d, err := parseSince(o.since)
		if err != nil {
			return usageError("--since: %v", err)
		}
		since = o.now().Add(-d)
	}
	if len(lvol) > 512 {
		return usageError("LVOL: over 512 bytes")
	}
	j, err := openJournal(g, *o.stateDir)
	if err != nil {
		return err
	}
	defer func() {
		if err := j.Close(); err != nil {
			g.log.Error().Err(err).Msg("close journal")
		}
	}()
	// The whole timeline: a name is resolved over all of it, even when only
	// the recent part is printed.
	all, err := j.Timeline(time.Time{})
	if err != nil {
		return exitCode(report.ExitOperational, err)
	}
	h := buildHistory(all, lvol, since)
	out := cmd.OutOrStdout()
	if o.json {
		err = writeHistoryJSON(out, h)
	} else {
		err = writeHistoryText(out, h)
	}
	if err != nil {
		return exitCode(report.ExitOperational, fmt.Errorf("write output: %w", err))
	}
	if lvol != "" && len(h.UUIDs) == 0 && len(h.Events) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "lvfsck: the journal in %s has nothing about %s\n", j.Dir(), report.Printable(lvol))
	}
	return nil
}

// history is what gets printed: the matching events, labelled.
type history struct {
	Lvol   string      `json:"lvol,omitempty"` // as asked
	UUIDs  []string    `json:"uuids,omitempty"`
	Since  time.Time   `json:"since,omitzero"`
	Events []histEvent `json:"events"`
}

type histEvent struct {
	journal.Event
	Label   string `json:"lvol"`    // alias, else name, else uuid; with a short uuid where names repeat
	Summary string `json:"summary"` // the line's text
}

// buildHistory selects the events about lvol (all when ""), at or after
// since, and labels them. Pure, for tests.
func buildHistory(all []journal.Event, lvol string, since time.Time) history {
	h := history{Lvol: lvol, Since: since, Events: []histEvent{}}
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
	match := func(histEvent) bool { return true }
	if lvol != "" {
		uuids, nameKeys := resolveLvol(all, lvol)
		for u := range uuids {
			h.UUIDs = append(h.UUIDs, u)
		}
		slices.Sort(h.UUIDs)
		match = func(e histEvent) bool {
			if e.LvolUUID != "" {
				return uuids[e.LvolUUID]
			}
			return e.LvolName != "" && nameKeys[e.LvolName]
		}
	}
	labelUUIDs := map[string]map[string]bool{}
	for _, e := range all {
		he := histEvent{Event: e}
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

// kindColumn is the second column: the event kind, or log:<evidence kind>.
func kindColumn(e journal.Event) string {
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
		return joinDetail("finding first seen", d)
	case journal.EventLogEvidence:
		if _, rest, ok := strings.Cut(d, ": "); ok {
			return rest
		}
		return d
	}
	return d
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

func writeHistoryText(w io.Writer, h history) error {
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
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", report.Timestamp(e.At), report.Printable(e.Label), kindColumn(e.Event), s); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func writeHistoryJSON(w io.Writer, h history) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Schema string `json:"schema"`
		history
	}{HistorySchema, h})
}
