package spdk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/testfix"
)

func TestReadIncarnationFakeProc(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "4242"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys/kernel/random"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "4242/stat"), []byte(testfix.StatLine("4242", "spdk_tgt (main)")), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "sys/kernel/random/boot_id"), []byte("b1d2-33\n"), 0o644))

	inc, err := ReadIncarnation(root, 4242)
	require.NoError(t, err)
	require.Equal(t, Incarnation{PID: 4242, StartTime: 123456, BootID: "b1d2-33"}, inc)
	require.Equal(t, "b1d2-33/4242/123456", inc.String())
	back, err := ParseIncarnation(inc.String())
	require.NoError(t, err)
	require.Equal(t, inc, back)

	_, err = ReadIncarnation(root, 99)
	require.ErrorIs(t, err, ErrNoPeerPID, "a pid this /proc does not have: another pid namespace")

	require.NoError(t, os.MkdirAll(filepath.Join(root, "5"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "5/stat"), []byte(testfix.StatLine("6", "x")), 0o644))
	_, err = ReadIncarnation(root, 5)
	require.ErrorIs(t, err, ErrIncarnation)

	require.NoError(t, os.WriteFile(filepath.Join(root, "sys/kernel/random/boot_id"), []byte("\n"), 0o644))
	_, err = ReadIncarnation(root, 4242)
	require.ErrorIs(t, err, ErrIncarnation)
}

func TestParseIncarnationRejects(t *testing.T) {
	for _, s := range []string{"", "/1/2", "a/b", "a/1/x", "a/0/1", "a/-1/1", "a/1/2/3", "a/1/-2"} {
		_, err := ParseIncarnation(s)
		require.Error(t, err, s)
	}
}

func TestReadIncarnationSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	inc, err := ReadIncarnation("/proc", os.Getpid())
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), inc.PID)
	require.Positive(t, inc.StartTime)
	require.Len(t, inc.BootID, 36)
}

func FuzzParseIncarnation(f *testing.F) {
	f.Add("b1d2/42/7")
	f.Add("//")
	f.Fuzz(func(t *testing.T, s string) {
		inc, err := ParseIncarnation(s)
		if err != nil {
			return
		}
		back, err := ParseIncarnation(inc.String())
		if err != nil || back != inc {
			t.Fatalf("%q → %+v does not round trip: %v", s, inc, err)
		}
	})
}
