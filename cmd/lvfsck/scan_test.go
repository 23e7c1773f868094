package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The -update flag may be registered by another test file of this package;
// share it rather than register it twice.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const basicImage = "../../testdata/fixtures/basic-1m.img.gz"

// runCLI runs lvfsck with args and returns stdout and the exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--log-level", "error"}, args...))
	err := root.Execute()
	code := 0
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else if isUsage(err) {
			code = 16
		} else {
			code = 8
		}
	}
	return out.String(), code
}

var timings = regexp.MustCompile(`(?m)(scanned +\S+ \S+ in )\S+$|("duration_ns": )\d+`)

// stable masks what changes from run to run (durations).
func stable(s string) string {
	return timings.ReplaceAllString(s, "${1}${2}X")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create %s", path)
	require.Equal(t, string(want), got)
}

func TestScanHumanGolden(t *testing.T) {
	out, code := runCLI(t, "scan", basicImage)
	require.Equal(t, 0, code)
	golden(t, "scan-basic-1m.txt.golden", stable(out))
}

func TestScanJSONGolden(t *testing.T) {
	out, code := runCLI(t, "scan", "--json", basicImage)
	require.Equal(t, 0, code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Equal(t, ScanSchema, doc["schema"])
	require.Equal(t, "clean", doc["mode"])
	golden(t, "scan-basic-1m.json.golden", stable(out))
}

// damagedImage writes basic-1m with vol-thick's first md page's CRC broken.
func damagedImage(t *testing.T) string {
	f, err := os.Open(basicImage)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	img, err := io.ReadAll(zr)
	require.NoError(t, err)
	img[(4+2)*4096+100] ^= 0xff // md region starts at page 4; page 2 is vol-thick
	path := filepath.Join(t.TempDir(), "damaged.img")
	require.NoError(t, os.WriteFile(path, img, 0o644))
	return path
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
			out, code := runCLI(t, c.args...)
			require.Equal(t, c.code, code, out)
			require.Contains(t, out, c.out)
		})
	}
}

func TestScanTreeShowsDamage(t *testing.T) {
	out, _ := runCLI(t, "scan", damagedImage(t))
	require.NotContains(t, out, "vol-thick", "a blob whose first page is unreadable has no name to show")
	require.Contains(t, out, "blob 0x100000002")
}

func TestScanBadSuperBlock(t *testing.T) {
	f, err := os.Open(basicImage)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	img, err := io.ReadAll(zr)
	require.NoError(t, err)
	img[200] ^= 1 // reserved byte of the super block: CRC mismatch
	path := filepath.Join(t.TempDir(), "bad.img")
	require.NoError(t, os.WriteFile(path, img, 0o644))
	out, code := runCLI(t, "scan", path)
	require.Equal(t, 4, code)
	require.Contains(t, out, "super block unusable")
	require.Contains(t, out, "bad-super-block")
	require.Contains(t, out, "REFUSES the lvstore")
}
