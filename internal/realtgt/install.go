package realtgt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Install is where a usable spdk_tgt lives on this machine.
type Install struct {
	// Dir is the extracted build: bin/spdk_tgt, lib/, lib-fixed/.
	Dir string
	// Extra holds libraries the build links but does not ship (see isalStub).
	Extra string
}

// Bin is the spdk_tgt executable.
func (in Install) Bin() string { return filepath.Join(in.Dir, "bin", "spdk_tgt") }

// LibraryPath is LD_LIBRARY_PATH for one delete semantics: lib-fixed first
// for Longhorn's fix, as the build's README says.
func (in Install) LibraryPath(fixed bool) string {
	dirs := []string{filepath.Join(in.Dir, "lib")}
	if fixed {
		dirs = append([]string{filepath.Join(in.Dir, "lib-fixed")}, dirs...)
	}
	return strings.Join(append(dirs, in.Extra), ":")
}

// SharedDir finds ../shared beside the module root (LVFSCK_SHARED overrides):
// CI clones the project with ../shared next to it.
func SharedDir() (string, error) {
	if d := os.Getenv("LVFSCK_SHARED"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s: cannot place ../shared", wd)
		}
	}
}

var (
	installOnce sync.Once
	installed   Install
	installErr  error
)

// Setup installs the real target once per process (setup.sh is itself
// idempotent and serialised across processes) and returns where it is.
func Setup() (Install, error) {
	installOnce.Do(func() { installed, installErr = setup() })
	return installed, installErr
}

func setup() (Install, error) {
	shared, err := SharedDir()
	if err != nil {
		return Install{}, err
	}
	script := filepath.Join(shared, "spdk-tgt", "setup.sh")
	if _, err := os.Stat(script); err != nil {
		return Install{}, fmt.Errorf("real spdk_tgt: %s missing (CI places ../shared beside the clone; LVFSCK_SHARED moves it): %w", script, err)
	}
	in := Install{Dir: filepath.Join(os.TempDir(), "lvfsck-spdk-tgt")}
	in.Extra = in.Dir + "-extra"
	// setup.sh extracts again whenever the tarball is newer than the
	// extracted spdk_tgt, which is always (tar keeps the members' older
	// mtimes): every test process would replace the libraries under a
	// target that another process is starting ("cannot open shared
	// object file"). One install per tarball: a stamp records it, under
	// a lock of our own (setup.sh holds its own on DEST.lock).
	unlock, err := lockFile(in.Dir + ".lvfsck-install.lock")
	if err != nil {
		return Install{}, fmt.Errorf("real spdk_tgt: %w", err)
	}
	defer unlock()
	tgz := filepath.Join(shared, "spdk-tgt", "spdk-tgt-v24.09-longhorn.tgz")
	stamp, err := tarballStamp(tgz)
	if err != nil {
		return Install{}, fmt.Errorf("real spdk_tgt: %w", err)
	}
	stampFile := filepath.Join(in.Dir, ".lvfsck-installed")
	if have, err := os.ReadFile(stampFile); err != nil || string(have) != stamp {
		var out, stderr bytes.Buffer
		cmd := exec.Command(script, in.Dir)
		cmd.Stdout, cmd.Stderr = &out, &stderr
		runErr := cmd.Run()
		if runErr != nil && !strings.Contains(stderr.String(), "libisal_crypto.so.2") {
			return Install{}, fmt.Errorf("real spdk_tgt: %s failed: %w\n%s", script, runErr, stderr.String())
		}
		if err := os.WriteFile(stampFile, []byte(stamp), 0o644); err != nil {
			return Install{}, fmt.Errorf("real spdk_tgt: %w", err)
		}
	}
	// The build links libisal_crypto.so.2, which Debian 12 does not package
	// and the tarball does not carry: setup.sh then fails its ldd check. Only
	// accel's AES-XTS needs it, which no test uses, so a stub that answers
	// failure stands in. Anything else unresolved is still a failure.
	if err := buildIsalStub(in.Extra); err != nil {
		return Install{}, fmt.Errorf("real spdk_tgt: %w", err)
	}
	cmdEnv := exec.Command("ldd", in.Bin())
	cmdEnv.Env = append(os.Environ(), "LD_LIBRARY_PATH="+in.LibraryPath(true))
	ldd, err := cmdEnv.CombinedOutput()
	if err != nil {
		return Install{}, fmt.Errorf("real spdk_tgt: ldd %s: %w\n%s", in.Bin(), err, ldd)
	}
	if bytes.Contains(ldd, []byte("not found")) {
		return Install{}, fmt.Errorf("real spdk_tgt: unresolved libraries after setup.sh:\n%s", ldd)
	}
	return in, nil
}

// tarballStamp names one version of the build's tarball.
func tarballStamp(tgz string) (string, error) {
	st, err := os.Stat(tgz)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %d %d\n", tgz, st.Size(), st.ModTime().UnixNano()), nil
}

// isalStub is the stand-in for libisal_crypto.so.2 (ISA-L crypto): the four
// AES-XTS entry points libspdk_accel imports, each answering failure.
const isalStub = `int isal_aes_xts_dec_128(void) { return -1; }
int isal_aes_xts_dec_256(void) { return -1; }
int isal_aes_xts_enc_128(void) { return -1; }
int isal_aes_xts_enc_256(void) { return -1; }
`

func buildIsalStub(dir string) error {
	lib := filepath.Join(dir, "libisal_crypto.so.2")
	if _, err := os.Stat(lib); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, "build")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "isal_stub.c")
	if err := os.WriteFile(src, []byte(isalStub), 0o644); err != nil {
		return err
	}
	out := filepath.Join(tmp, "libisal_crypto.so.2")
	cc := exec.Command("gcc", "-shared", "-fPIC", "-Wl,-soname,libisal_crypto.so.2", "-o", out, src)
	if msg, err := cc.CombinedOutput(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("build libisal_crypto stub: gcc not installed (apt-get install gcc)")
		}
		return fmt.Errorf("build libisal_crypto stub: %w\n%s", err, msg)
	}
	// rename: concurrent test processes never see a half-written library.
	return os.Rename(out, lib)
}
