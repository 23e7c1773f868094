package run

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

func TestNPDVerdict(t *testing.T) {
	open := func(code string, sev finding.Severity) journal.FindingRecord {
		return journal.FindingRecord{Finding: finding.Finding{Code: finding.Code(code), Severity: sev}}
	}
	resolved := open("resurrected", finding.Critical)
	resolved.ResolvedAt = time.Unix(1, 0)
	many := []journal.FindingRecord{}
	for i := range 12 {
		many = append(many, open(strings.Repeat("x", i+10), finding.Error))
	}
	for _, tc := range []struct {
		name string
		recs []journal.FindingRecord
		code int
		line string
	}{
		{"none", nil, NPDOK, "lvfsck: no error findings"},
		{"warnings and resolved only", []journal.FindingRecord{open("stale-masks", finding.Warning), resolved}, NPDOK, "lvfsck: no error findings"},
		{"problem", []journal.FindingRecord{open("phantom", finding.Error), open("pending-resurrection", finding.Error), open("pending-resurrection", finding.Error)},
			NPDProblem, "lvfsck: 3 finding(s): pending-resurrection=2 phantom=1"},
		{"cut at 80", many, NPDProblem, "lvfsck: 12 finding(s): xxxxxxxxxx=1 xxxxxxxxxxx=1 xxxxxxxxxxxx=1 xxxxxxxxxxxx..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, line := npdVerdict(tc.recs)
			require.Equal(t, tc.code, code)
			require.Equal(t, tc.line, line)
			require.LessOrEqual(t, len(line), 80)
		})
	}
}

func TestNPDFromJournal(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

	code, line := NPD(j, now, time.Hour)
	require.Equal(t, NPDUnknown, code, "no check yet")
	require.Equal(t, "lvfsck: no completed check in the journal yet", line)

	id, err := j.BeginRun(journal.Run{Command: "check", Started: now.Add(-2 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, j.FinishRun(id, "findings", report.ExitUncorrected))
	_, err = j.UpsertFindings(now.Add(-2*time.Hour), []finding.Finding{{Code: "pending-resurrection", Severity: finding.Error, LvstoreUUID: "ls"}})
	require.NoError(t, err)

	runs, err := j.Runs()
	require.NoError(t, err)
	age := now.Sub(runs[0].Finished)
	code, line = NPD(j, now, age-time.Minute)
	require.Equal(t, NPDUnknown, code, "stale")
	require.Contains(t, line, "last completed check")
	code, line = NPD(j, now, age+time.Minute)
	require.Equal(t, NPDProblem, code)
	require.Equal(t, "lvfsck: 1 finding(s): pending-resurrection=1", line)
}
