package report

import (
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
			LvolUUID: st.LvolUUID, BlobID: st.BlobID, Why: st.Why, Advice: st.Advice})
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
