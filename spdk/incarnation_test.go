package spdk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// statLine builds a stat line of 52 fields whose field 22 (starttime) is 123456.
func statLine(pid, comm string) string {
	f := []string{"S"} // field 3
	for i := 4; i <= 21; i++ {
		f = append(f, "7")
	}
	f = append(f, "123456") // field 22
	for i := 23; i <= 52; i++ {
		f = append(f, "0")
	}
	return pid + " (" + comm + ") " + strings.Join(f, " ") + "\n"
}

func TestParseProcStat(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		pid     int
		start   uint64
		wantErr bool
	}{
		{"plain", statLine("4242", "spdk_tgt"), 4242, 123456, false},
		{"reactor thread name", statLine("17", "reactor_0"), 17, 123456, false},
		{"spaces in comm", statLine("9", "a b c"), 9, 123456, false},
		{"parens in comm", statLine("9", "x) 1 2 3 (y"), 9, 123456, false},
		{"close paren last char of comm", statLine("9", "weird)"), 9, 123456, false},
		{"no comm", "4242 S 1 2 3", 0, 0, true},
		{"no pid", statLine("", "x"), 0, 0, true},
		{"bad pid", statLine("4x", "x"), 0, 0, true},
		{"short", "1 (x) S 1 2 3\n", 0, 0, true},
		{"bad start", strings.Replace(statLine("1", "x"), "123456", "-5", 1), 0, 0, true},
		{"empty", "", 0, 0, true},
		{"reversed parens", "1 )x( S", 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pid, st, err := ParseProcStat([]byte(tc.in))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.pid, pid)
			require.Equal(t, tc.start, st)
		})
	}
}

func TestReadIncarnationFakeProc(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "4242"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys/kernel/random"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "4242/stat"), []byte(statLine("4242", "spdk_tgt (main)")), 0o644))
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
	require.NoError(t, os.WriteFile(filepath.Join(root, "5/stat"), []byte(statLine("6", "x")), 0o644))
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

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte(statLine("1", "spdk_tgt")))
	f.Add([]byte(statLine("1", "a) b (c")))
	f.Add([]byte("1 (x"))
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, _, err := ParseProcStat(b)
		if err == nil && len(b) == 0 {
			t.Fatalf("parsed empty input as pid %d", pid)
		}
	})
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
