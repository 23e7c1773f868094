// Package finding holds the one value every check in lvfsck produces: a
// Finding, with a stable code, a severity, where it is, what each view said,
// what SPDK will do about it at its next load, and the repair (if any).
//
// Producers (scanner integrity checks, reconcile) define their own codes;
// report renders findings, journal stores them and repair plans from them.
// Nothing here does I/O.
package finding

import (
	"fmt"
	"sort"
	"strings"

	"github.com/lvfsck/lvfsck/owner"
)

// Severity orders findings. The zero value is Info.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
	Critical
)

var severityNames = [...]string{"info", "warning", "error", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity is the inverse of String.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(n, s) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q", s)
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// LoadOutcome says what a real spdk_tgt does with the blob (or lvstore) at its
// next load. Real targets are mostly silent about damage, so every finding
// says it explicitly.
type LoadOutcome string

const (
	LoadOK         LoadOutcome = "load"           // loads normally
	LoadDegraded   LoadOutcome = "load-degraded"  // loads, but degraded (missing esnap, shared clusters...)
	LoadSkip       LoadOutcome = "skip"           // the blob/lvol silently does not load
	LoadRefuse     LoadOutcome = "refuse-lvstore" // the whole lvstore does not load
	LoadCrash      LoadOutcome = "crash"          // spdk_tgt fails an assertion and dies
	LoadNotApplies LoadOutcome = ""               // not about a load (journal, live-only findings)
)

// Code is a stable identifier of a kind of finding ("md-crc-mismatch",
// "pending-resurrection"). Codes never change meaning once released.
type Code string

// Finding is one thing lvfsck has to say. Fields that do not apply stay zero
// and are omitted from JSON.
type Finding struct {
	Code     Code     `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`

	Lvstore     string `json:"lvstore,omitempty"`      // lvstore name
	LvstoreUUID string `json:"lvstore_uuid,omitempty"` // lvstore uuid
	BlobID      uint64 `json:"blob_id,omitempty"`
	LvolName    string `json:"lvol_name,omitempty"`
	LvolUUID    string `json:"lvol_uuid,omitempty"`
	// Page is the md page index (within the md region) the finding is about,
	// or -1 / absent when none.
	Page *uint32 `json:"page,omitempty"`

	// SPDK is what the target will do with this at its next load.
	SPDK LoadOutcome `json:"spdk,omitempty"`
	// Evidence is what each view (disk, live, journal, notify, log) said,
	// keyed by source, in a stable order when rendered.
	Evidence map[string]string `json:"evidence,omitempty"`
	// Owner is the control plane the lvol belongs to, when its name or
	// xattrs follow a known convention (package owner); nil otherwise.
	Owner *owner.Owner `json:"owner,omitempty"`
	// Repair is the action that fixes it, in words an operator can act on;
	// empty when lvfsck knows no repair.
	Repair string `json:"repair,omitempty"`
}

// PageRef is a small helper to fill Finding.Page.
func PageRef(p uint32) *uint32 { return &p }

// Key identifies a finding across runs (for first-seen/last-seen in the
// journal): same code about the same object is the same finding.
func (f Finding) Key() string {
	obj := f.LvolUUID
	if obj == "" && f.BlobID != 0 {
		obj = fmt.Sprintf("blob:%#x", f.BlobID)
	}
	if obj == "" && f.Page != nil {
		obj = fmt.Sprintf("page:%d", *f.Page)
	}
	return fmt.Sprintf("%s|%s|%s", f.LvstoreUUID, f.Code, obj)
}

// EvidenceKeys returns the evidence keys sorted, for stable rendering.
func (f Finding) EvidenceKeys() []string {
	keys := make([]string, 0, len(f.Evidence))
	for k := range f.Evidence {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Sort orders findings most severe first, then by lvstore, code, blob, page.
func Sort(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Lvstore != b.Lvstore {
			return a.Lvstore < b.Lvstore
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.BlobID != b.BlobID {
			return a.BlobID < b.BlobID
		}
		return pageOf(a) < pageOf(b)
	})
}

func pageOf(f Finding) int64 {
	if f.Page == nil {
		return -1
	}
	return int64(*f.Page)
}

// Max returns the highest severity among fs, and false when fs is empty.
func Max(fs []Finding) (Severity, bool) {
	if len(fs) == 0 {
		return Info, false
	}
	m := fs[0].Severity
	for _, f := range fs[1:] {
		if f.Severity > m {
			m = f.Severity
		}
	}
	return m, true
}

// String is a one-line rendering for logs and test failures.
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", f.Severity, f.Code)
	if f.Lvstore != "" {
		fmt.Fprintf(&b, " lvs=%s", f.Lvstore)
	}
	if f.BlobID != 0 {
		fmt.Fprintf(&b, " blob=%#x", f.BlobID)
	}
	if f.LvolName != "" {
		fmt.Fprintf(&b, " lvol=%s", f.LvolName)
	}
	if f.Page != nil {
		fmt.Fprintf(&b, " page=%d", *f.Page)
	}
	fmt.Fprintf(&b, ": %s", f.Message)
	return b.String()
}

// Sink receives findings as checks produce them (restic-style streaming).
type Sink interface{ Add(Finding) }

// List is a Sink that keeps everything.
type List []Finding

func (l *List) Add(f Finding) { *l = append(*l, f) }
