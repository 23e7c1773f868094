package e2e

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A bundle captured beside a pending resurrection checks, elsewhere and
// with the target gone, to the same findings as the live check it was
// taken beside; obfuscated, to the same codes under other names; and a cut
// bundle is an operational error, never a clean check.
func TestCaptureThenCheckBundle(t *testing.T) {
	image, state := diskAndState(t)
	tg := startSim(t, image, "--flavor", "longhorn-v24.09", "--delete-semantics", "forced")
	snapUUID := setup(t, tg)
	delErr, hd := holdAndDelete(t, tg)
	require.Error(t, delErr)
	hd.wait()
	live := tg.check(t, state)
	require.Equal(t, 4, live.code, "%s", live)
	require.Len(t, live.of("pending-resurrection"), 1, "%s", live)

	dir := t.TempDir()
	plain, obf := filepath.Join(dir, "b.tar.gz"), filepath.Join(dir, "o.tar.gz")
	for _, c := range [][]string{
		{"--out", plain, "--log", tg.logf},
		{"--out", obf, "--obfuscate", "--log", tg.logf},
	} {
		out, err := exec.Command(lvfsckBin, append([]string{"--log-level", "error", "capture", "--socket", tg.sock, "--state-dir", state}, c...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	tg.stop("SIGINT") // the bundle stands alone

	elsewhere := t.TempDir()
	moved := filepath.Join(elsewhere, "bundle.tar.gz")
	require.NoError(t, os.Rename(plain, moved))
	off := runCheck(t, "--bundle", moved)
	require.Equal(t, live.code, off.code, "%s", off)
	require.Equal(t, live.codes(), off.codes(), "same findings offline as live")
	p := off.of("pending-resurrection")
	require.Len(t, p, 1)
	require.Equal(t, snapUUID, p[0].LvolUUID)
	require.Equal(t, live.doc.Incarnation, off.doc.Incarnation, "the bundle carries the incarnation")

	// The journal's history of it travels too: `history --bundle`, with
	// no journal here at all.
	h := lvfsck(t, "history", "--bundle", moved, "lvs-r/backup-1")
	require.Equal(t, 0, h.code, "%s%s", h.stdout, h.stderr)
	require.Contains(t, h.stdout, "lvs-r/backup-1")
	require.Contains(t, h.stdout, "pending-resurrection", "the finding the live check recorded")
	h = lvfsck(t, "history", "--bundle", moved, "lvs-r/none")
	require.Equal(t, 0, h.code)
	require.Contains(t, h.stderr, "bundle "+moved+" has nothing about lvs-r/none")

	// Decompressed, the obfuscated bundle (image, answers, journal, log)
	// holds none of the names.
	all := untar(t, obf)
	for _, n := range []string{"lvs-r", "replica-a", "bystander", "backup-1"} {
		require.NotContains(t, all, n)
	}
	require.Contains(t, all, snapUUID, "uuids kept")

	o := runCheck(t, "--bundle", obf)
	require.Equal(t, live.code, o.code, "%s", o)
	require.Equal(t, codesOnly(live), codesOnly(o))
	po := o.of("pending-resurrection")
	require.Len(t, po, 1)
	require.Equal(t, snapUUID, po[0].LvolUUID, "uuids kept")
	require.NotEqual(t, "backup-1", po[0].LvolName, "names hidden")
	require.Len(t, po[0].LvolName, len("backup-1"), "by a token of the same length")

	// Cut short: exit 8, and no report of a clean store.
	b, err := os.ReadFile(moved)
	require.NoError(t, err)
	cut := filepath.Join(elsewhere, "cut.tar.gz")
	require.NoError(t, os.WriteFile(cut, b[:len(b)*2/3], 0o600))
	out, err := exec.Command(lvfsckBin, "--log-level", "error", "check", "--bundle", cut).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	require.Equal(t, 8, ee.ExitCode(), "%s", out)
	require.Contains(t, string(out), "bad bundle")
	require.NotContains(t, string(out), "consistent")
	h = lvfsck(t, "history", "--bundle", cut)
	require.Equal(t, 8, h.code, "%s%s", h.stdout, h.stderr)
	require.Contains(t, h.stderr, "bad bundle")
}

// untar is every entry of a bundle, decompressed, back to back.
func untar(t *testing.T, path string) string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var all strings.Builder
	for {
		_, err := tr.Next()
		if err == io.EOF {
			return all.String()
		}
		require.NoError(t, err)
		_, err = io.Copy(&all, tr)
		require.NoError(t, err)
	}
}

func codesOnly(r checkResult) []string {
	var out []string
	for _, f := range r.doc.Findings {
		out = append(out, string(f.Code))
	}
	sort.Strings(out)
	return out
}
