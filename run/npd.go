package run

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/report"
)

// Exit codes of a node-problem-detector custom plugin.
const (
	NPDOK      = 0
	NPDProblem = 1
	NPDUnknown = 2
)

// npdMaxLine is NPD's limit on a plugin's message (longer ones are cut).
const npdMaxLine = 80

// NPD is the node-problem-detector verdict from the journal alone: the
// findings the last completed check (of `check`, the CronJob or `watch`)
// left open, no device read, so it answers within NPD's 5 s timeout on any
// store. Error and critical findings are a problem; no completed check
// within maxAge is unknown.
func NPD(j *journal.Journal, now time.Time, maxAge time.Duration) (int, string) {
	runs, err := j.Runs()
	if err != nil {
		return NPDUnknown, NPDLine("lvfsck: journal unreadable: %v", err)
	}
	last := lastCompletedCheck(runs)
	if last.IsZero() {
		return NPDUnknown, "lvfsck: no completed check in the journal yet"
	}
	if age := now.Sub(last); age > maxAge {
		return NPDUnknown, NPDLine("lvfsck: last completed check %s ago", age.Truncate(time.Second))
	}
	recs, err := j.Findings()
	if err != nil {
		return NPDUnknown, NPDLine("lvfsck: journal unreadable: %v", err)
	}
	return npdVerdict(recs)
}

func npdVerdict(recs []journal.FindingRecord) (int, string) {
	byCode := map[finding.Code]int{}
	n := 0
	for _, r := range recs {
		if !r.Open() || r.Finding.Severity < finding.Error {
			continue
		}
		byCode[r.Finding.Code]++
		n++
	}
	if n == 0 {
		return NPDOK, "lvfsck: no error findings"
	}
	codes := make([]finding.Code, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	// Most frequent first, then by name: a stable line for NPD's dedup.
	sort.Slice(codes, func(a, b int) bool {
		if byCode[codes[a]] != byCode[codes[b]] {
			return byCode[codes[a]] > byCode[codes[b]]
		}
		return codes[a] < codes[b]
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s=%d", c, byCode[c])
	}
	return NPDProblem, NPDLine("lvfsck: %d finding(s): %s", n, strings.Join(parts, " "))
}

// NPDLine formats one line of at most npdMaxLine bytes.
func NPDLine(format string, args ...any) string {
	s := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
	if len(s) > npdMaxLine {
		s = s[:npdMaxLine-3] + "..."
	}
	return s
}

// lastCompletedCheck is the end of the newest check run that completed.
func lastCompletedCheck(runs []journal.Run) time.Time {
	var last time.Time
	for _, run := range runs {
		if run.Command == "check" && !run.Unfinished() && report.RunCompleted(run.ExitCode) && run.Finished.After(last) {
			last = run.Finished
		}
	}
	return last
}
