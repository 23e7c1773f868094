package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

func TestWriteJSONRoundTrip(t *testing.T) {
	s := pendingSummary()
	s.Started = s.Started.In(time.FixedZone("CET", 3600))
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, s))

	var raw map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
	require.Equal(t, Schema, raw["schema"])
	require.EqualValues(t, 1, raw["version"])
	require.Equal(t, "2026-11-26T10:00:00Z", raw["started"], "RFC 3339, UTC")
	require.Equal(t, "2026-11-26T10:00:01.234Z", raw["finished"])
	require.Equal(t, "errors", raw["status"])
	require.Equal(t, Headline(s), raw["summary"])

	var r JSONReport
	require.NoError(t, json.Unmarshal(buf.Bytes(), &r))
	require.Equal(t, JSONCounts{Counts: Counts{Error: 2, Warning: 1, Info: 1}, Total: 4}, r.Counts)
	require.Equal(t, 1.234, r.DurationSeconds)
	require.Equal(t, 0.812, r.ScanDurationSeconds)
	require.Equal(t, ExitUncorrected, r.ExitCode)
	require.Equal(t, "errors left uncorrected", r.Exit)
	require.Len(t, r.Lvstores, 1)
	require.Equal(t, 4, r.Lvstores[0].Counts.Total)
	require.Equal(t, "disk+live", r.Lvstores[0].Source)
	require.Len(t, r.Findings, 4)
	require.Equal(t, finding.Code("lvol-absent-live"), r.Findings[0].Code, "sorted: error before warning, then by code")
	require.Equal(t, finding.Code("pending-resurrection"), r.Findings[1].Code)
	require.Equal(t, uint32(3), *r.Findings[1].Page)
	require.Equal(t, s.Findings[1].Evidence, r.Findings[1].Evidence)
	require.Equal(t, s.Notes, r.Notes)
}

func TestWriteJSONEmptyListsAreArrays(t *testing.T) {
	s := incompleteSummary()
	s.Notes = nil
	s.Started, s.Finished = time.Time{}, time.Time{}
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, s))
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
	for _, k := range []string{"lvstores", "findings", "notes"} {
		require.Equal(t, "[]", string(raw[k]), k)
	}
	require.NotContains(t, raw, "started", "unknown times are left out, not year 1")
	require.NotContains(t, raw, "finished")
	require.Equal(t, `"incomplete"`, string(raw["status"]))
}

func TestWriteJSONKeepsHTMLAndHostileBytes(t *testing.T) {
	s := cleanSummary()
	s.Findings = []finding.Finding{{Code: "c", Severity: finding.Info, LvolName: "a<b>&c\x1b\xff"}}
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, s))
	require.Contains(t, buf.String(), `"lvol_name": "a<b>&c\u001b\ufffd"`)
	require.True(t, json.Valid(buf.Bytes()))
}
