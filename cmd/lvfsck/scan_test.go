package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

const basicImage = "../../testdata/fixtures/basic-1m.img.gz"

var timings = regexp.MustCompile(`(?m)(scanned +\S+ \S+ in )\S+$|("duration_ns": )\d+`)

// stable masks what changes from run to run (durations).
func stable(s string) string {
	return timings.ReplaceAllString(s, "${1}${2}X")
}

func TestScanHumanGolden(t *testing.T) {
	out, _, code := checkCLI(t, "scan", basicImage)
	require.Equal(t, 0, code)
	golden(t, "scan-basic-1m.txt.golden", stable(out))
}

func TestScanJSONGolden(t *testing.T) {
	out, _, code := checkCLI(t, "scan", "--json", basicImage)
	require.Equal(t, 0, code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Equal(t, ScanSchema, doc["schema"])
	require.Equal(t, "clean", doc["mode"])
	golden(t, "scan-basic-1m.json.golden", stable(out))
}

// damagedImage is basic-1m with vol-thick's first md page's CRC broken.
func damagedImage(t *testing.T) string {
	return flipped(t, "basic-1m.img.gz", (4+2)*4096+100, 0xff) // md region starts at page 4; page 2 is vol-thick
}

func TestScanExitCodes(t *testing.T) {
	damaged := damagedImage(t)
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"clean", []string{"scan", basicImage}, 0, "next load spdk_tgt loads"},
		{"errors", []string{"scan", damaged}, 4, "md-crc-mismatch"},
		{"errors json", []string{"scan", "--json", damaged}, 4, `"exit_code": 4`},
		{"recovery mode", []string{"scan", "--mode", "recovery", basicImage}, 0, "scanned in recovery mode"},
		{"missing", []string{"scan", filepath.Join(t.TempDir(), "nope")}, 8, ""},
		{"bad mode", []string{"scan", "--mode", "fast", basicImage}, 16, ""},
		{"no path", []string{"scan"}, 16, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _, code := checkCLI(t, c.args...)
			require.Equal(t, c.code, code, out)
			require.Contains(t, out, c.out)
		})
	}
}

// A scan that cannot read its device still gives --json readers a
// document, as check --json does: exit code 8 and the error.
func TestScanJSONFailedDocument(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	out, _, code := checkCLI(t, "scan", "--json", missing)
	require.Equal(t, 8, code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc), "stdout: %q", out)
	require.Equal(t, ScanSchema, doc["schema"])
	require.Equal(t, float64(8), doc["exit_code"])
	require.Equal(t, missing, doc["device"])
	require.Contains(t, doc["error"], "nope")
	require.Equal(t, []any{}, doc["blobs"])
}

func TestScanTreeShowsDamage(t *testing.T) {
	out, _, _ := checkCLI(t, "scan", damagedImage(t))
	require.NotContains(t, out, "vol-thick", "a blob whose first page is unreadable has no name to show")
	require.Contains(t, out, "blob 0x100000002")
}

func TestScanBadSuperBlock(t *testing.T) {
	path := flipped(t, "basic-1m.img.gz", 200, 1) // reserved byte of the super block: CRC mismatch
	out, _, code := checkCLI(t, "scan", path)
	require.Equal(t, 4, code)
	require.Contains(t, out, "super block unusable")
	require.Contains(t, out, "bad-super-block")
	require.Contains(t, out, "REFUSES the lvstore")
}
