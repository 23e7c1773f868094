package report

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/repair"
)

func TestNewDeleteResult(t *testing.T) {
	for _, tc := range []struct {
		outcome repair.Outcome
		want    string
	}{
		{repair.OutcomeDeletedVerified, "deleted and verified"},
		{repair.OutcomeForcedRemoval, "FORCED REMOVAL"},
		{repair.OutcomePendingResurrection, "not told apart: do not reload"},
		{repair.OutcomeHiddenZombie, "HIDDEN ZOMBIE on a fixed target"},
		{repair.OutcomeRefusedBusy, "still busy when --wait ran out"},
		{repair.OutcomeUnverified, "NOT verified"},
		{repair.Outcome("new-outcome"), "NOT verified"}, // unknown: never claims success
	} {
		t.Run(string(tc.outcome), func(t *testing.T) {
			d := NewDeleteResult(repair.Result{Ref: "lvs/a", Outcome: tc.outcome, Lvol: &repair.Lvol{UUID: "u"}}, nil)
			require.Contains(t, d.Summary, tc.want)
			require.Equal(t, "u", d.LvolUUID)
			require.NotNil(t, d.Messages, "JSON says [] not null")
			require.Empty(t, d.Error)
		})
	}
	d := NewDeleteResult(repair.Result{Ref: "x"}, errors.New("boom"))
	require.Equal(t, "boom", d.Error)
	require.Empty(t, d.LvolUUID)
}

func TestWriteDelete(t *testing.T) {
	doc := DeleteDoc{
		Notes:    []string{"n1"},
		Finished: []DeleteResult{{Ref: "lvs/old", Summary: "s-old", Messages: []string{}}},
		Results: []DeleteResult{
			{Ref: "lvs/a", Summary: "s-a", Messages: []string{"m1", "same"}, Error: "same"},
			{Ref: "lvs/b", Summary: "s-b", Messages: []string{}, Error: "other"},
		},
	}
	var b strings.Builder
	require.NoError(t, WriteDelete(&b, doc, false))
	require.Equal(t, "note: n1\n"+
		"Finished 1 interrupted delete(s) from an earlier run:\nlvs/old: s-old\n\n"+
		"lvs/a: s-a\n  m1\n  same\n"+
		"lvs/b: s-b\n  error: other\n", b.String(), "an error already said as a message is not said twice")

	b.Reset()
	require.NoError(t, WriteDelete(&b, doc, true))
	var back DeleteDoc
	require.NoError(t, json.Unmarshal([]byte(b.String()), &back))
	require.Equal(t, doc, back)
}

// A missing lvol is said once, not three times (summary, message, error).
func TestWriteDeleteNotFoundOnce(t *testing.T) {
	d := NewDeleteResult(repair.Result{Ref: "lvs/missing", Outcome: repair.OutcomeNotFound,
		Messages: []string{"lvs/missing: not in the live view, and no blob on disk carries it; nothing to delete"}},
		errors.New("lvol lvs/missing: not in the live view and no blob on disk carries it"))
	var b strings.Builder
	require.NoError(t, WriteDelete(&b, DeleteDoc{Results: []DeleteResult{d}}, false))
	require.Equal(t, 1, strings.Count(b.String(), "no blob on disk carries it"), b.String())
	require.NotContains(t, b.String(), "error:")
}
