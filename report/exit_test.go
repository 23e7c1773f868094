package report

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

func TestExitMeaning(t *testing.T) {
	for _, tc := range []struct {
		code      int
		want      string
		completed bool
	}{
		{ExitOK, "consistent", true},
		{ExitCorrected, "errors corrected", true},
		{ExitUncorrected, "errors left uncorrected", true},
		{ExitCorrected | ExitUncorrected, "errors corrected, errors left uncorrected", true},
		{ExitOperational, "operational error", false},
		{ExitUncorrected | ExitOperational, "errors left uncorrected, operational error", false},
		{ExitUsage, "usage error", false},
		{ExitCancelled, "cancelled", false},
		{2, "exit 2", false},
		{64 | ExitUncorrected, "errors left uncorrected, exit 68", false},
		{-1, "errors corrected, errors left uncorrected, operational error, usage error, cancelled, exit -1", false},
	} {
		require.Equal(t, tc.want, ExitMeaning(tc.code), "%d", tc.code)
		require.Equal(t, tc.completed, RunCompleted(tc.code), "%d", tc.code)
	}
}

func TestExitFor(t *testing.T) {
	require.Equal(t, ExitOK, ExitFor(nil))
	require.Equal(t, ExitOK, ExitFor([]finding.Finding{{Severity: finding.Warning}}))
	require.Equal(t, ExitUncorrected, ExitFor([]finding.Finding{{Severity: finding.Info}, {Severity: finding.Error}}))
}
