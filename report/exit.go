package report

import (
	"strconv"
	"strings"

	"github.com/lvfsck/lvfsck/finding"
)

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

// exitBits names each exit code bit; e2fsck ORs them (4|8 = 12), so a code
// is read bit by bit.
var exitBits = []struct {
	bit  int
	text string
}{
	{ExitCorrected, "errors corrected"},
	{ExitUncorrected, "errors left uncorrected"},
	{ExitOperational, "operational error"},
	{ExitUsage, "usage error"},
	{ExitCancelled, "cancelled"},
}

// ExitMeaning says in words what an exit code means ("consistent",
// "errors left uncorrected", "errors left uncorrected, operational error").
func ExitMeaning(code int) string {
	if code == ExitOK {
		return "consistent"
	}
	var parts []string
	rest := code
	for _, b := range exitBits {
		if code&b.bit != 0 {
			parts = append(parts, b.text)
			rest &^= b.bit
		}
	}
	if rest != 0 || len(parts) == 0 {
		parts = append(parts, "exit "+strconv.Itoa(code))
	}
	return strings.Join(parts, ", ")
}

// RunCompleted reports whether a run with this exit code finished its check
// (whatever it found): no operational error, usage error or cancellation.
// It is what "last success" means for monitoring.
func RunCompleted(code int) bool {
	return code >= 0 && code&^(ExitCorrected|ExitUncorrected) == 0
}
