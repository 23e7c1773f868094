package tgtlog

import "time"

// Record is one recognised log line and what the parser could tell about it.
type Record struct {
	// At is the line's timestamp read in Options.Location (UTC unless set:
	// spdk_tgt prints its local time without a zone). Zero when the line has
	// no timestamp.
	At   time.Time `json:"at,omitzero"`
	Line int       `json:"line"` // 1-based line number in the input
	// Run counts "Starting SPDK" lines in this input: 1 for the first target
	// start, 0 for lines before any. PID is that target's pid when its DPDK
	// EAL line (--file-prefix=spdk_pid<N>) was logged.
	Run   int    `json:"run,omitempty"`
	PID   int    `json:"pid,omitempty"`
	Kind  Kind   `json:"kind"`
	Level string `json:"level,omitempty"`  // ERROR, WARNING, NOTICE, INFO, DEBUG
	Src   string `json:"source,omitempty"` // SPDK file:line, e.g. "lvol.c:1084"
	Func  string `json:"func,omitempty"`

	LvolUUID    string `json:"lvol_uuid,omitempty"`
	LvolName    string `json:"lvol_name,omitempty"` // the bare name ("snap-x")
	Alias       string `json:"alias,omitempty"`     // "<lvstore>/<name>"
	Lvstore     string `json:"lvstore,omitempty"`   // lvstore name
	LvstoreUUID string `json:"lvstore_uuid,omitempty"`
	BlobID      uint64 `json:"blob_id,omitempty"`
	Bdev        string `json:"bdev,omitempty"` // a bdev the line names that is no lvol (a base bdev)

	// Via says how the lvol was found when the line itself does not name it
	// (delete failures: from the "Lvol <uuid> closed" line before them).
	Via string `json:"via,omitempty"`
	// Candidates lists the lvols a delete failure may concern when more than
	// one was closed just before it; then none is chosen.
	Candidates []string `json:"candidates,omitempty"`

	// ForcedLine, on an lvol-loaded or lvol-deleted record, is the line of
	// the same lvol's forced removal earlier in this input: the lvol came
	// back from disk (a restart, an lvstore reload) as DESIGN.md describes.
	ForcedLine int `json:"forced_line,omitempty"`

	Text string `json:"text"` // the message as logged (after the level), at most MaxText bytes
}

// Lvol returns the best identifier the record has for its lvol: the uuid,
// else the alias, else the bare name; "" when it names none.
func (r Record) Lvol() string {
	switch {
	case r.LvolUUID != "":
		return r.LvolUUID
	case r.Alias != "":
		return r.Alias
	}
	return r.LvolName
}

// AboutLvol reports whether the record identifies an lvol.
func (r Record) AboutLvol() bool { return r.Lvol() != "" }
