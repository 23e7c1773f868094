package report

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/lvfsck/lvfsck/finding"
)

// fuzzInput is one finding's data-derived strings: names and uuids come
// from disk xattrs and RPC answers, so the renderers must take anything.
type fuzzInput struct {
	lvsName, lvsUUID, lvolName, msg, evKey, evVal string
	sev                                           int
	blob                                          uint64
	outcome                                       string
}

func (in fuzzInput) summary() Summary {
	s := cleanSummary()
	s.Lvstores = append(s.Lvstores, LvstoreSummary{Name: in.lvsName, UUID: in.lvsUUID, Lvols: 1, Source: in.outcome})
	s.Findings = []finding.Finding{{
		Code: finding.Code(in.evKey), Severity: finding.Severity(in.sev), Message: in.msg,
		Lvstore: in.lvsName, LvstoreUUID: in.lvsUUID, LvolName: in.lvolName, LvolUUID: in.lvsUUID,
		BlobID: in.blob, SPDK: finding.LoadOutcome(in.outcome),
		Evidence: map[string]string{in.evKey: in.evVal}, Repair: in.evVal,
	}}
	s.Notes = []string{in.msg}
	s.Exit = ExitFor(s.Findings)
	return s
}

// addSeeds seeds a fuzz target with identities from the real captures.
func addSeeds(f *testing.F, add func(fuzzInput)) {
	add(fuzzInput{"lvs-r", lvsR, "snap-x", "pending", "disk", "blob 0x100000003", 2, 0x100000003, "load"})
	add(fuzzInput{"e\x1b[2J", "\xff\"\\\n", "\u202e", strings.Repeat("\n", 100), "", "\x00", 9, 1 << 63, "crash"})
	for _, m := range []string{"notify-pending-live", "resurrection-pending-live", "tags-dirty"} {
		raw, err := os.ReadFile("../testdata/fixtures/" + m + ".manifest.json")
		if err != nil {
			continue // the fixture set may change; the literal seeds remain
		}
		var man struct {
			Lvstores []struct{ Name, UUID string }
			Lvols    []struct{ Name, UUID, Alias string }
		}
		if json.Unmarshal(raw, &man) != nil || len(man.Lvstores) == 0 {
			continue
		}
		for i, l := range man.Lvols {
			add(fuzzInput{man.Lvstores[0].Name, man.Lvstores[0].UUID, l.Name, l.Alias, "live", l.UUID, i % 4, uint64(1)<<32 | uint64(i), "skip"})
		}
	}
}

func fuzzTarget(f *testing.F, check func(t *testing.T, s Summary)) {
	addSeeds(f, func(in fuzzInput) {
		f.Add(in.lvsName, in.lvsUUID, in.lvolName, in.msg, in.evKey, in.evVal, in.sev, in.blob, in.outcome)
	})
	f.Fuzz(func(t *testing.T, lvsName, lvsUUID, lvolName, msg, evKey, evVal string, sev int, blob uint64, outcome string) {
		check(t, fuzzInput{lvsName, lvsUUID, lvolName, msg, evKey, evVal, sev, blob, outcome}.summary())
	})
}

func FuzzWriteText(f *testing.F) {
	fuzzTarget(f, func(t *testing.T, s Summary) {
		var buf bytes.Buffer
		if err := WriteText(&buf, s, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !isPlainUTF8(strings.ReplaceAll(out, "\n", " ")) {
			t.Fatalf("unsafe characters in the text report: %q", out)
		}
		if first, _, _ := strings.Cut(out, "\n"); first != Headline(s) {
			t.Fatalf("first line %q is not the headline %q", first, Headline(s))
		}
		for _, l := range strings.Split(out, "\n") {
			if len(l) > 4*maxTextField+200 {
				t.Fatalf("unbounded line of %d bytes", len(l))
			}
		}
	})
}

func FuzzWriteProm(f *testing.F) {
	fuzzTarget(f, func(t *testing.T, s Summary) {
		var buf bytes.Buffer
		if err := WriteProm(&buf, s, t0); err != nil {
			t.Fatal(err)
		}
		if err := validateProm(buf.String()); err != nil {
			t.Fatalf("%v\n%s", err, buf.String())
		}
	})
}

func FuzzWriteJSON(f *testing.F) {
	fuzzTarget(f, func(t *testing.T, s Summary) {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, s); err != nil {
			t.Fatal(err)
		}
		var r JSONReport
		if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if r.Schema != Schema || r.Counts.Total != 1 || len(r.Findings) != 1 {
			t.Fatalf("bad document: %+v", r)
		}
		if r.Findings[0].Message != string([]rune(s.Findings[0].Message)) { // encoding/json replaces each bad byte
			t.Fatalf("message changed: %q", r.Findings[0].Message)
		}
	})
}
