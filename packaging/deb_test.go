// Package packaging holds the release tooling's module (nfpm, pinned in
// go.mod) and the test that installs the built .deb on this machine.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDebInstalls installs dist's amd64 .deb with dpkg, runs what it
// installed and removes it again (also when an assertion fails). It runs
// from make release-test only, which builds dist/ first. Not root is a
// failure, not a skip: the target exists to run this test, and a silent
// skip would read as a pass.
func TestDebInstalls(t *testing.T) {
	require.Equal(t, 0, os.Getuid(), "the .deb test installs a package with dpkg: run make release-test as root (CI is)")
	_, err := exec.LookPath("dpkg")
	require.NoError(t, err, "the .deb test needs dpkg (Debian)")
	_, err = exec.LookPath("man")
	require.NoError(t, err, "the .deb test runs man -w: apt-get install -y man-db (.ci/run does)")
	debs, err := filepath.Glob("../dist/lvfsck_*_amd64.deb")
	require.NoError(t, err)
	require.Len(t, debs, 1, "want exactly one amd64 .deb in dist/: run make release first")
	// Never replace or remove an lvfsck this test did not install.
	require.Error(t, exec.Command("dpkg", "-s", "lvfsck").Run(), "package lvfsck is already installed here; the test will not touch it")

	run(t, "dpkg", "-i", debs[0])
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "-r", "lvfsck").CombinedOutput(); err != nil {
			t.Errorf("dpkg -r lvfsck: %v\n%s", err, out)
		}
		_, err := os.Stat("/usr/bin/lvfsck")
		require.True(t, os.IsNotExist(err), "dpkg -r left /usr/bin/lvfsck")
	})

	commit := strings.TrimSpace(string(runOut(t, "git", "rev-parse", "HEAD")))
	require.Contains(t, string(runOut(t, "/usr/bin/lvfsck", "--version")), commit[:7], "lvfsck --version names the commit")
	require.Contains(t, string(runOut(t, "/usr/bin/lvfsck", "version", "--json")), `"commit": "`+commit+`"`, "stamped by make release's ldflags")

	manPath := strings.TrimSpace(string(runOut(t, "man", "-w", "lvfsck")))
	require.Equal(t, "/usr/share/man/man8/lvfsck.8.gz", manPath)
	runOut(t, "man", "-w", "lvfsck-check")

	st, err := os.Stat("/var/lib/lvfsck")
	require.NoError(t, err)
	require.True(t, st.IsDir())
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "the journal's directory is owner-only")

	unit, err := os.ReadFile("/usr/lib/systemd/system/lvfsck-watch.service")
	require.NoError(t, err)
	require.Contains(t, string(unit), "ExecStart=/usr/bin/lvfsck watch")
	for _, f := range []string{
		"/usr/share/bash-completion/completions/lvfsck",
		"/usr/share/zsh/vendor-completions/_lvfsck",
		"/usr/share/fish/vendor_completions.d/lvfsck.fish",
	} {
		_, err := os.Stat(f)
		require.NoError(t, err, f)
	}

	if _, err := exec.LookPath("file"); err == nil {
		require.Contains(t, string(runOut(t, "file", "-L", "/usr/bin/lvfsck")), "statically linked")
	}
}

func run(t *testing.T, name string, args ...string) { t.Helper(); runOut(t, name, args...) }

func runOut(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return out
}
