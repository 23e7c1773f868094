package report

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/lvfsck/lvfsck/finding"
)

// Schema identifies the JSON document WriteJSON writes. Fields are only ever
// added under this name; a rename, removal or change of meaning makes a v2.
// docs/check-json.md documents every field.
const (
	Schema        = "lvfsck.check/v1"
	SchemaVersion = 1
)

// JSONReport is the document WriteJSON writes, field by field as in
// docs/check-json.md. It is exported so that tools (and tests) can decode
// it with encoding/json.
type JSONReport struct {
	Schema              string            `json:"schema"`
	Version             int               `json:"version"`
	LvfsckVersion       string            `json:"lvfsck_version,omitempty"`
	Command             string            `json:"command"`
	Target              string            `json:"target,omitempty"`
	Incarnation         string            `json:"incarnation,omitempty"`
	Started             time.Time         `json:"started,omitzero"`
	Finished            time.Time         `json:"finished,omitzero"`
	DurationSeconds     float64           `json:"duration_seconds"`
	ScannedBytes        int64             `json:"scanned_bytes"`
	ScanDurationSeconds float64           `json:"scan_duration_seconds"`
	ExitCode            int               `json:"exit_code"`
	Exit                string            `json:"exit"`
	Status              string            `json:"status"`
	Summary             string            `json:"summary"`
	Counts              JSONCounts        `json:"counts"`
	Lvstores            []JSONLvstore     `json:"lvstores"`
	Findings            []finding.Finding `json:"findings"`
	Notes               []string          `json:"notes"`
	DeleteSemantics     *DeleteSemantics  `json:"delete_semantics,omitempty"`
}

// JSONCounts is Counts with the total spelled out.
type JSONCounts struct {
	Counts
	Total int `json:"total"`
}

// JSONLvstore is an lvstore of the run with its own finding counts.
type JSONLvstore struct {
	LvstoreSummary
	Counts JSONCounts `json:"counts"`
}

func jsonCounts(c Counts) JSONCounts { return JSONCounts{Counts: c, Total: c.Total()} }

// NewJSONReport builds the document for s: findings sorted as in the text
// report, severities clamped to the known ones, times in UTC, and empty
// lists as [] (never null).
func NewJSONReport(s Summary) JSONReport {
	gs, sorted := groups(s)
	r := JSONReport{
		Schema:              Schema,
		Version:             SchemaVersion,
		LvfsckVersion:       s.Version,
		Command:             s.Command,
		Target:              s.Target,
		Incarnation:         s.Incarnation,
		ScannedBytes:        s.ScannedBytes,
		ScanDurationSeconds: s.ScanDuration.Seconds(),
		ExitCode:            s.Exit,
		Exit:                ExitMeaning(s.Exit),
		Status:              s.Status(),
		Summary:             headline(s, gs),
		Counts:              jsonCounts(CountFindings(s.Findings)),
		Lvstores:            []JSONLvstore{},
		Findings:            sorted,
		Notes:               append([]string{}, s.Notes...),
		DeleteSemantics:     s.DeleteSemantics,
	}
	if !s.Started.IsZero() {
		r.Started = s.Started.UTC()
	}
	if !s.Finished.IsZero() {
		r.Finished = s.Finished.UTC()
	}
	if !s.Started.IsZero() && !s.Finished.IsZero() {
		r.DurationSeconds = s.Finished.Sub(s.Started).Seconds()
	}
	if r.Findings == nil {
		r.Findings = []finding.Finding{}
	}
	for i := range r.Findings {
		// An out-of-range severity would encode as "severity(9)", which no
		// decoder reads back; count and print it as the nearest known one.
		r.Findings[i].Severity = clampSeverity(r.Findings[i].Severity)
	}
	for _, g := range gs {
		if g.known {
			r.Lvstores = append(r.Lvstores, JSONLvstore{LvstoreSummary: g.lvs, Counts: jsonCounts(g.counts)})
		}
	}
	return r
}

// WriteJSON writes s as one indented lvfsck.check/v1 document and a newline.
func WriteJSON(w io.Writer, s Summary) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // lvol names with & or < stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(NewJSONReport(s)); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// writeDoc writes a command's document (delete, repair, log import) as
// indented JSON.
func writeDoc(w io.Writer, doc any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
