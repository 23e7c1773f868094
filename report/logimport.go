package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/lvfsck/lvfsck/tgtlog"
)

// LogImportSchema names the JSON document of `lvfsck log import --json`.
const LogImportSchema = "lvfsck.log-import/v1"

// LogImportFile is what one input of `lvfsck log import` gave.
type LogImportFile struct {
	File   string       `json:"file"`
	Stats  tgtlog.Stats `json:"stats"`
	New    int          `json:"new"`   // lvol evidence the journal did not have
	Known  int          `json:"known"` // lvol evidence already imported
	NoLvol int          `json:"not_about_an_lvol"`
	// Notable lists the records worth a look (forced removals, lvols that
	// got no bdev, unloads with open blobs...), new or not.
	Notable        []tgtlog.Record `json:"notable,omitempty"`
	NotableOmitted int             `json:"notable_omitted,omitempty"` // beyond MaxNotable
	Error          string          `json:"error,omitempty"`
}

// LogImportDoc is the LogImportSchema document of `lvfsck log import --json`.
type LogImportDoc struct {
	Schema   string          `json:"schema"`
	StateDir string          `json:"state_dir"`
	Files    []LogImportFile `json:"files"`
	New      int             `json:"new"`
	Known    int             `json:"known"`
}

// MaxNotable bounds the notable records kept per file.
const MaxNotable = 100

// Failed counts the inputs that ended in an error.
func (d LogImportDoc) Failed() int {
	n := 0
	for _, f := range d.Files {
		if f.Error != "" {
			n++
		}
	}
	return n
}

// WriteLogImport writes doc as JSON, or as text: one paragraph per input
// and a total line.
func WriteLogImport(w io.Writer, doc LogImportDoc, asJSON bool) error {
	if asJSON {
		return writeDoc(w, doc)
	}
	var b strings.Builder
	for _, f := range doc.Files {
		st := f.Stats
		fmt.Fprintf(&b, "%s: %d lines, %d records: %d new, %d already known", Printable(f.File), st.Lines, st.Records, f.New, f.Known)
		if f.NoLvol > 0 {
			fmt.Fprintf(&b, "; %d about lvstores or the target (not stored)", f.NoLvol)
		}
		b.WriteString("\n")
		if n := st.Overlong + st.Binary; n > 0 {
			fmt.Fprintf(&b, "  skipped %d lines: %d too long, %d not text\n", n, st.Overlong, st.Binary)
		}
		if st.Unattributed > 0 {
			fmt.Fprintf(&b, "  %d forced removals name no lvol that the log can tell (not stored)\n", st.Unattributed)
		}
		for _, r := range f.Notable {
			fmt.Fprintf(&b, "  line %-6d %s  %-27s  %s%s\n", r.Line, Timestamp(r.At), r.Kind, Printable(recordSubject(r)), afterForced(r))
		}
		if f.NotableOmitted > 0 {
			fmt.Fprintf(&b, "  ... and %d more (--json lists the first %d)\n", f.NotableOmitted, MaxNotable)
		}
		if f.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", f.Error)
		}
	}
	fmt.Fprintf(&b, "%d new, %d already known (journal %s)\n", doc.New, doc.Known, Printable(doc.StateDir))
	_, err := io.WriteString(w, b.String())
	return err
}

// afterForced notes an lvol that a forced removal had dropped, seen again.
func afterForced(r tgtlog.Record) string {
	switch {
	case r.ForcedLine == 0:
		return ""
	case r.Kind == tgtlog.LvolLoaded:
		return fmt.Sprintf("  back from disk after its forced removal on line %d", r.ForcedLine)
	case r.Kind == tgtlog.LvolDeleted:
		return fmt.Sprintf("  deleted for real after its forced removal on line %d", r.ForcedLine)
	}
	return ""
}

// recordSubject names what a record is about, for one line of output.
func recordSubject(r tgtlog.Record) string {
	var parts []string
	if r.Alias != "" {
		parts = append(parts, r.Alias)
	} else if r.LvolName != "" {
		parts = append(parts, r.LvolName)
	}
	if r.LvolUUID != "" {
		parts = append(parts, r.LvolUUID)
	}
	if len(r.Candidates) > 0 {
		parts = append(parts, "one of "+strings.Join(r.Candidates, ", "))
	}
	if r.Lvstore != "" && r.Alias == "" {
		parts = append(parts, "lvstore "+r.Lvstore)
	}
	if r.Bdev != "" {
		parts = append(parts, "bdev "+r.Bdev)
	}
	if len(parts) == 0 {
		return r.Text
	}
	return strings.Join(parts, " ")
}

// ShowLine is the line `lvfsck log show` prints for a record of file name:
// tab-separated columns (for a tabwriter), the free-text subject last.
func ShowLine(name string, r tgtlog.Record) string {
	return fmt.Sprintf("%s:%d\t%s\t%s\t%s%s\n", Printable(name), r.Line, Timestamp(r.At), r.Kind,
		strings.ReplaceAll(Printable(recordSubject(r)), "\t", " "), showVia(r))
}

// showVia adds how a record's lvol was found, or the forced removal it
// came back from.
func showVia(r tgtlog.Record) string {
	if s := afterForced(r); s != "" {
		return s
	}
	if r.Via != "" && r.Kind == tgtlog.ForcedRemoval {
		return "  (" + r.Via + ")"
	}
	return ""
}
