package report

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
)

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testfix.Golden(t, filepath.Join("testdata", name), got)
}

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// Identities from the real notify capture (testdata/fixtures/notify.*):
// lvstore lvs-r and snap-x, the snapshot a forced removal left on disk.
const (
	lvsR     = "5623c961-e73c-4942-89a7-61e47f821fc3"
	snapX    = "5ae2d848-da40-4d18-8f6c-64cb6802a968"
	volUUID  = "cab61897-1d40-4dd8-9fb3-350e7c43404f"
	lvsOther = "0b7c3e0e-5d7a-4a51-9f0e-2f4f3c1a9e11"
)

func cleanSummary() Summary {
	return Summary{
		Command: "check", Version: "v0.1.0", Target: "/var/tmp/spdk.sock",
		Incarnation: "pid 4242 start 1764150000",
		Lvstores:    []LvstoreSummary{{Name: "lvs-r", UUID: lvsR, Lvols: 4, Source: "disk+live"}},
		Started:     t0, Finished: t0.Add(1234 * time.Millisecond),
		ScannedBytes: 128 << 20, ScanDuration: 812 * time.Millisecond,
		Exit: ExitOK,
	}
}

func pendingSummary() Summary {
	s := cleanSummary()
	s.Lvstores[0].Lvols = 3
	s.Findings = []finding.Finding{
		{
			Code: "attr-mismatch", Severity: finding.Warning, Lvstore: "lvs-r", LvstoreUUID: lvsR,
			LvolName: "vol", LvolUUID: volUUID, BlobID: 0x100000001,
			Message:  "vol reports itself a clone but names no base snapshot",
			Evidence: map[string]string{"live": "clone=true base_snapshot=null", "disk": "SNAP=0x100000003"},
		},
		{
			Code: "pending-resurrection", Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: lvsR,
			LvolName: "snap-x", LvolUUID: snapX, BlobID: 0x100000003, Page: finding.PageRef(3),
			Message: "snap-x is persisted on disk but absent from the live view: a forced removal left it; it comes back at the next restart",
			SPDK:    finding.LoadOK,
			Evidence: map[string]string{
				"notify":  "bdev_unregister ctx=" + snapX + " id=7",
				"live":    "absent from bdev_lvol_get_lvols",
				"disk":    "blob 0x100000003 chain [3] crc ok, name=snap-x",
				"journal": "listed at 09:00:00Z in this incarnation",
			},
			Repair: "restart spdk_tgt in a maintenance window, then: lvfsck repair --yes",
		},
		{
			Code: "stale-used-page-mask", Severity: finding.Info, Lvstore: "lvs-r", LvstoreUUID: lvsR,
			Message: "super block clean=0: masks on disk are stale, scanned in recovery mode",
		},
		{
			Code: "lvol-absent-live", Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: lvsR,
			LvolName: "snap-x", LvolUUID: snapX, BlobID: 0x100000003,
			Message: "second view of the same blob",
			SPDK:    finding.LoadOK,
		},
	}
	s.Exit = ExitFor(s.Findings)
	s.Notes = []string{"device /dev/nvme0n1 is on tmpfs-like storage: O_DIRECT refused, read buffered"}
	return s
}

// hostileSummary has two lvstores, one clean, a critical crash, a refused
// lvstore named only by findings, a journal finding tied to no lvstore, and
// names from a damaged disk carrying terminal escapes and bidi overrides.
func hostileSummary() Summary {
	s := cleanSummary()
	s.Lvstores = append(s.Lvstores, LvstoreSummary{Name: "lvs-a", UUID: lvsOther, Lvols: 2, Source: "disk"})
	s.Findings = []finding.Finding{
		{
			Code: "chain-foreign-page", Severity: finding.Critical, Lvstore: "lvs-r", LvstoreUUID: lvsR,
			LvolName: "evil\x1b]0;pwned\x07\u202etxt.exe", BlobID: 0x100000009, Page: finding.PageRef(610),
			Message: "chain of blob 0x100000009 runs into page 610,\nwhich belongs to blob 0x100000005",
			SPDK:    finding.LoadCrash,
			Evidence: map[string]string{
				"disk":         "page 610: id=0x100000005 seq=1\npage 611: id=0x100000005 seq=2",
				"a\x00b":       "\xff\xfe invalid utf-8",
				"longer-key-x": "x",
			},
			Repair: "none in place: restore the md page from a backup",
		},
		{
			Code: "bad-super-block", Severity: finding.Error, Lvstore: "lvs-gone",
			Message: "super block crc mismatch", SPDK: finding.LoadRefuse,
		},
		{
			Code: "open-delete-intent", Severity: finding.Warning,
			Message: "delete intent 17 has no outcome: lvfsck stopped mid-delete",
			Repair:  "lvfsck check again; the next repair finishes it",
		},
		{Code: "odd-outcome", Severity: finding.Info, Lvstore: "lvs-r", LvstoreUUID: lvsR, SPDK: "future-outcome"},
		{Code: "too-severe", Severity: finding.Severity(9), Lvstore: "lvs-r", Message: "producer bug: severity out of range"},
	}
	s.Exit = ExitFor(s.Findings)
	return s
}

func incompleteSummary() Summary {
	s := cleanSummary()
	s.Lvstores = nil
	s.Exit = ExitOperational
	s.ScannedBytes, s.ScanDuration = 0, 0
	s.Notes = []string{"cannot reach /var/tmp/spdk.sock: connection refused"}
	return s
}

func TestWriteTextGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Summary
		opts TextOptions
	}{
		{"clean.txt.golden", cleanSummary(), TextOptions{}},
		{"pending.txt.golden", pendingSummary(), TextOptions{}},
		{"pending-color.txt.golden", pendingSummary(), TextOptions{Color: true}},
		{"pending-warnings.txt.golden", pendingSummary(), TextOptions{MinSeverity: finding.Warning}},
		{"hostile.txt.golden", hostileSummary(), TextOptions{}},
		{"incomplete.txt.golden", incompleteSummary(), TextOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteText(&buf, tc.s, tc.opts))
			golden(t, tc.name, buf.Bytes())
		})
	}
}

// summaries are the golden tests' inputs, by the name their files start
// with.
var summaries = map[string]func() Summary{
	"clean": cleanSummary, "pending": pendingSummary, "hostile": hostileSummary, "incomplete": incompleteSummary,
}

// goldenEach renders each named summary and compares it with
// testdata/<name>.<ext>.golden, after check (when not nil) had its say.
func goldenEach(t *testing.T, ext string, names []string, render func(io.Writer, Summary) error, check func(*testing.T, string)) {
	for _, name := range names {
		file := name + "." + ext + ".golden"
		t.Run(file, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, render(&buf, summaries[name]()))
			if check != nil {
				check(t, buf.String())
			}
			golden(t, file, buf.Bytes())
		})
	}
}

func TestWriteJSONGolden(t *testing.T) {
	goldenEach(t, "json", []string{"clean", "pending", "hostile"}, WriteJSON, nil)
}

func TestWritePromGolden(t *testing.T) {
	last := t0.Add(-time.Hour)
	goldenEach(t, "prom", []string{"clean", "pending", "hostile", "incomplete"},
		func(w io.Writer, s Summary) error { return WriteProm(w, s, last) }, checkPromText)
}
