package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/repair"
)

// RepairDoc is the --json document of `lvfsck repair`.
type RepairDoc struct {
	Command  string             `json:"command"`
	Target   string             `json:"target"`
	Reload   bool               `json:"reload"`
	DryRun   bool               `json:"dry_run"`
	Applied  bool               `json:"applied"`
	Findings []finding.Finding  `json:"findings"`
	Plan     []RepairStep       `json:"plan"`
	Results  []RepairStepResult `json:"results"`
	Notes    []string           `json:"notes"`
	Exit     int                `json:"exit"`
	Meaning  string             `json:"exit_meaning"`

	// For the text only. NotesBeforePlan: how many of Notes were known when
	// the plan was shown (the text shows the rest after the outcome).
	NotesBeforePlan int `json:"-"`
	// Declined: the operator answered no at the prompt; nothing was applied.
	Declined bool `json:"-"`
	// Wedged: an lvstore unload did not answer (the target needs a
	// restart); ApplyError: applying stopped on this error.
	Wedged     bool   `json:"-"`
	ApplyError string `json:"-"`
}

// RepairStep is one step of the plan.
type RepairStep struct {
	Action   repair.Action `json:"action"`
	Code     finding.Code  `json:"code"`
	Severity string        `json:"severity"`
	Target   string        `json:"target"`
	LvolUUID string        `json:"lvol_uuid,omitempty"`
	BlobID   uint64        `json:"blob_id,omitempty"`
	Why      string        `json:"why,omitempty"`
	Advice   string        `json:"advice,omitempty"`
	// Description says in words what the step does; Changes: it changes
	// something (the others report what is left).
	Description string `json:"-"`
	Changes     bool   `json:"-"`
	// Reloadable: --reload could finish this waiting step now.
	Reloadable bool `json:"-"`
}

// RepairStepResult is what applying one step did.
type RepairStepResult struct {
	Target   string         `json:"target"`
	Action   repair.Action  `json:"action"`
	Outcome  repair.Outcome `json:"outcome,omitempty"`
	Messages []string       `json:"messages"`
	Error    string         `json:"error,omitempty"`
}

// RepairSteps documents the steps of p.
func RepairSteps(p repair.Plan) []RepairStep {
	out := make([]RepairStep, 0, len(p.Steps))
	for _, st := range p.Steps {
		out = append(out, RepairStep{Action: st.Action, Code: st.Code, Severity: st.Severity.String(), Target: st.Target(),
			LvolUUID: st.LvolUUID, BlobID: st.BlobID, Why: st.Why, Advice: st.Advice,
			Description: st.Describe(p.Reload), Changes: st.Changes(), Reloadable: st.Reloadable})
	}
	return out
}

// RepairStepResults documents what applying a plan did, step by step.
func RepairStepResults(ar repair.ApplyResult) []RepairStepResult {
	out := make([]RepairStepResult, 0, len(ar.Steps))
	for _, sr := range ar.Steps {
		d := RepairStepResult{Target: sr.Step.Target(), Action: sr.Step.Action, Outcome: sr.Outcome, Messages: sr.Messages}
		if d.Messages == nil {
			d.Messages = []string{}
		}
		if sr.Err != nil {
			d.Error = sr.Err.Error()
		}
		out = append(out, d)
	}
	return out
}

// Actionable counts the steps of the plan that change something.
func (d RepairDoc) Actionable() int {
	n := 0
	for _, st := range d.Plan {
		if st.Changes {
			n++
		}
	}
	return n
}

// WriteRepair writes doc as JSON, or as text: WriteRepairPlan, then
// WriteRepairOutcome.
func WriteRepair(w io.Writer, doc RepairDoc, asJSON bool) error {
	if asJSON {
		return writeDoc(w, doc)
	}
	if err := WriteRepairPlan(w, doc); err != nil {
		return err
	}
	return WriteRepairOutcome(w, doc)
}

// WriteRepairPlan writes the notes known when planning and the plan: what
// a prompt asks the operator to confirm.
func WriteRepairPlan(w io.Writer, doc RepairDoc) error {
	var b strings.Builder
	for _, n := range doc.Notes[:min(doc.NotesBeforePlan, len(doc.Notes))] {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	writePlan(&b, doc)
	if !doc.Reload && hasAction(doc.Plan, repair.ActionWaitRestart) {
		b.WriteString("\nPending resurrections are finished after a restart: restart the target (the lvols load again), then run `lvfsck repair --yes`.\n")
		if slices.ContainsFunc(doc.Plan, func(st RepairStep) bool { return st.Reloadable }) {
			b.WriteString("Without a restart, `lvfsck repair --yes --reload` reloads the lvstore in a maintenance window.\n")
		} else if slices.ContainsFunc(doc.Plan, func(st RepairStep) bool { return st.Code == repair.CodeHiddenZombie }) {
			b.WriteString("Do not reload the lvstore (`--reload`) of a hidden zombie: the reload would never finish and take the lvstore offline until a restart.\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteRepairOutcome writes what became of the plan, and the exit code.
func WriteRepairOutcome(w io.Writer, doc RepairDoc) error {
	if doc.Declined {
		_, err := io.WriteString(w, "Not confirmed: nothing was changed.\n")
		return err
	}
	var b strings.Builder
	act := doc.Actionable()
	switch {
	case doc.DryRun:
		b.WriteString("\nDry run: nothing was changed.\n")
	case !doc.Applied && act > 0:
		b.WriteString("\nNothing was changed: run `lvfsck repair --yes` to apply this plan.\n")
	case doc.Applied && act > 0:
		// Steps that change nothing were said in the plan already.
		b.WriteString("\nApplied:\n")
		writeStepResults(&b, doc.Results)
	}
	switch {
	case doc.Wedged:
		fmt.Fprintf(&b, "\nSTOPPED: %s.\nThe target needs a restart before anything else is sent to it; after the restart run `lvfsck repair --yes`.\n", doc.ApplyError)
	case doc.ApplyError != "":
		fmt.Fprintf(&b, "\nerror: %s\n", doc.ApplyError)
	}
	for _, n := range doc.Notes[min(doc.NotesBeforePlan, len(doc.Notes)):] {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "exit %d: %s\n", doc.Exit, doc.Meaning)
	_, err := io.WriteString(w, b.String())
	return err
}

func hasAction(steps []RepairStep, a repair.Action) bool {
	for _, st := range steps {
		if st.Action == a {
			return true
		}
	}
	return false
}

// writePlan writes the plan: the changes in order, what waits for a
// restart, what is not repairable over RPC.
func writePlan(b *strings.Builder, doc RepairDoc) {
	var act, wait, advice []RepairStep
	for _, s := range doc.Plan {
		switch {
		case s.Changes:
			act = append(act, s)
		case s.Action == repair.ActionWaitRestart:
			wait = append(wait, s)
		default:
			advice = append(advice, s)
		}
	}
	if len(doc.Plan) == 0 {
		if len(doc.Findings) == 0 {
			b.WriteString("Consistent: nothing to repair.\n")
		} else {
			b.WriteString("Nothing to repair.\n")
		}
		return
	}
	fmt.Fprintf(b, "Repair plan: %s, %d waiting for a restart, %d not repairable over RPC.\n", plural(len(act), "change", "changes"), len(wait), len(advice))
	if len(act) > 0 {
		b.WriteString("\nWill do, in order (every delete is guarded and verified on disk):\n")
		for i, s := range act {
			fmt.Fprintf(b, "  %d. [%s] %s\n", i+1, s.Action, s.Description)
		}
	}
	if hasAction(act, repair.ActionReloadDelete) {
		b.WriteString("\nReload guards: refused while any lvol of the lvstore is claimed or exported over NVMe-oF\n" +
			"(the unload drops namespaces silently), or while the base bdev shows I/O the lvols do not explain.\n" +
			"A quiet base bdev is not a proof that nothing holds a blob; if the unload does not answer in time,\n" +
			"lvfsck stops and tells you to restart the target.\n")
	}
	if len(wait) > 0 {
		b.WriteString("\nWaiting for a restart (nothing is done now):\n")
		for _, s := range wait {
			fmt.Fprintf(b, "  - %s\n", s.Description)
		}
	}
	if len(advice) > 0 {
		b.WriteString("\nNot touched (lvfsck does not repair these over RPC):\n")
		for _, s := range advice {
			fmt.Fprintf(b, "  - %s\n", s.Description)
		}
	}
}

// writeStepResults writes what applying did, step by step.
func writeStepResults(b *strings.Builder, rs []RepairStepResult) {
	for i, r := range rs {
		outcome := string(r.Outcome)
		if outcome == "" {
			outcome = string(r.Action)
		}
		fmt.Fprintf(b, "%d. %s: %s\n", i+1, r.Target, outcome)
		for _, m := range r.Messages {
			fmt.Fprintf(b, "   %s\n", m)
		}
		if r.Error != "" {
			fmt.Fprintf(b, "   error: %s\n", r.Error)
		}
	}
}
