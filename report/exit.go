package report

import "github.com/lvfsck/lvfsck/finding"

// Exit codes, as e2fsck's, so that cron jobs and scripts written for fsck
// read lvfsck the same way.
const (
	ExitOK          = 0  // consistent
	ExitCorrected   = 1  // errors corrected
	ExitUncorrected = 4  // errors left uncorrected
	ExitOperational = 8  // cannot reach the socket, cannot read the device
	ExitUsage       = 16 // usage error
	ExitCancelled   = 32 // cancelled by the user
)

// ExitFor returns the exit code for a finished check: 4 when any finding is
// of error severity or worse, 0 otherwise (warnings and infos do not fail a
// cron job).
func ExitFor(fs []finding.Finding) int {
	if m, ok := finding.Max(fs); ok && m >= finding.Error {
		return ExitUncorrected
	}
	return ExitOK
}
