package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/report"
)

// lvfsckResult is what one in-process run of lvfsck gave.
type lvfsckResult struct {
	out, errText string
	code         int
	err          error // as Execute returned it
}

// runLvfsck runs the command line in-process as main's run does (same exit
// code mapping), with stdin, and returns stdout, the error text and the
// exit code.
func runLvfsck(t *testing.T, stdin io.Reader, args ...string) lvfsckResult {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	if stdin != nil {
		root.SetIn(stdin)
	}
	root.SetArgs(append([]string{"--log-level", "error"}, args...))
	err := root.Execute()
	res := lvfsckResult{out: out.String(), errText: errOut.String(), err: err}
	if err != nil {
		res.errText += err.Error()
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			res.code = ee.code
		case isUsage(err):
			res.code = report.ExitUsage
		default:
			res.code = report.ExitOperational
		}
	}
	return res
}

// checkCLI is runLvfsck without stdin, as stdout, the error text and the
// exit code.
func checkCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := runLvfsck(t, nil, args...)
	return r.out, r.errText, r.code
}

// jsonDoc decodes a command's --json output as T.
func jsonDoc[T any](t *testing.T, out string) T {
	t.Helper()
	var d T
	require.NoError(t, json.Unmarshal([]byte(out), &d), out)
	return d
}

// golden compares got with testdata/name (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	testfix.Golden(t, filepath.Join("testdata", name), []byte(got))
}

// inflated writes a sparse copy of a captured image into dir, named as in
// the fixtures (without .gz): a check of a .gz image inflates it on every
// run, which under the race detector costs seconds per 128 MiB.
func inflated(t *testing.T, dir, image string) string {
	t.Helper()
	dst := filepath.Join(dir, strings.TrimSuffix(image, ".gz"))
	testfix.InflateSparseCached(t, filepath.Join(checkFixtures, image), dst)
	return dst
}

// flipped is a copy of a captured image with the bits of mask flipped in
// the byte at off.
func flipped(t *testing.T, image string, off int64, mask byte) string {
	t.Helper()
	path := inflated(t, t.TempDir(), image)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= mask
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	return path
}
