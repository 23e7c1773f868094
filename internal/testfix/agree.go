package testfix

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/lvfsck/lvfsck/finding"
)

var (
	// comesBack is a promise that the object loads again at a restart.
	comesBack = regexp.MustCompile(`(?i)\bcomes back\b|\bloads (again )?at the next restart\b|\bloads again at\b`)
	// notLoaded is evidence that SPDK would not load it.
	notLoaded = regexp.MustCompile(`(?i)would not load|SPDK skips|would skip|gets no bdev at load`)
	// deviceAdvice asks for the lvstore's own device to be read.
	deviceAdvice = regexp.MustCompile(`(?i)the lvstore's device`)
)

// Contradictions lists where a finding's message, advice and evidence
// disagree (issue 8 item 15): a promise that it comes back at a restart
// beside an SPDK load outcome or evidence that it would not load; advice to
// read the lvstore's device when its evidence shows the device was read.
func Contradictions(f finding.Finding) []string {
	var out []string
	text := f.Message + "\n" + f.Repair
	if comesBack.MatchString(text) {
		switch f.SPDK {
		case finding.LoadSkip, finding.LoadRefuse, finding.LoadCrash:
			out = append(out, fmt.Sprintf("says it comes back, but SPDK would %s it", f.SPDK))
		}
		for _, k := range f.EvidenceKeys() {
			if notLoaded.MatchString(f.Evidence[k]) {
				out = append(out, fmt.Sprintf("says it comes back, but its %s evidence says %q", k, f.Evidence[k]))
			}
		}
	}
	if deviceAdvice.MatchString(f.Repair) {
		if d, ok := f.Evidence["disk"]; ok && !strings.HasPrefix(d, "not read") && !strings.HasPrefix(d, "not scanned") {
			out = append(out, fmt.Sprintf("asks for the lvstore's device, but its disk evidence shows it was read: %q", d))
		}
	}
	return out
}

// RequireAgree fails t for every finding of fs that contradicts itself.
func RequireAgree(t testing.TB, fs []finding.Finding) {
	t.Helper()
	for _, f := range fs {
		if c := Contradictions(f); len(c) > 0 {
			t.Errorf("%s %s/%s contradicts itself: %s\n  message: %s\n  repair: %s", f.Code, f.Lvstore, f.LvolName, strings.Join(c, "; "), f.Message, f.Repair)
		}
	}
}
