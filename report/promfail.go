package report

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/finding"
)

// FailedSummary is what a run that failed before it could check anything
// (journal locked or damaged, bad flags) reports: no lvstores, no
// findings, its exit code and times, and why.
func FailedSummary(command, version string, started, finished time.Time, code int, why error) Summary {
	s := Summary{Command: command, Version: version, Started: started, Finished: finished, Exit: code, Findings: []finding.Finding{}}
	if why != nil {
		s.Notes = []string{why.Error()}
	}
	return s
}

// PromLastSuccess reads lvfsck_last_success_timestamp_seconds back from a
// textfile WritePromFile wrote: a run that cannot read the journal keeps
// the last success it reported, rather than claiming none ever happened.
// Zero when the file is missing or says nothing usable.
func PromLastSuccess(path string) time.Time {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	const metric = "lvfsck_last_success_timestamp_seconds "
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), metric)
		if !ok {
			continue
		}
		sec, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || sec <= 0 || sec > 1e11 {
			return time.Time{}
		}
		return time.UnixMilli(int64(sec * 1000)).UTC()
	}
	return time.Time{}
}
