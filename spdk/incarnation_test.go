package spdk

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
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

// TestIncarnationBehindGuard: a peer that is lvfsck (here, this very
// process) is asked which target it reaches; one that does not know the
// method is the target itself; a guard's broken answer is an error, never
// the guard's own run taken for the target's.
func TestIncarnationBehindGuard(t *testing.T) {
	self, err := ReadIncarnation("/proc", os.Getpid())
	require.NoError(t, err)
	other := Incarnation{PID: 4242, StartTime: 77, BootID: self.BootID}
	for _, tc := range []struct {
		name   string
		handle func(s *rpctest.Server)
		want   Incarnation
		err    error
	}{
		{"guard", func(s *rpctest.Server) {
			s.HandleResult(MethodGuardTarget, GuardTarget{PID: other.PID, Incarnation: other.String()})
		}, other, nil},
		{"not a guard", func(s *rpctest.Server) {}, self, nil},
		{"guard without an answer", func(s *rpctest.Server) {
			s.HandleError(MethodGuardTarget, CodeInternalError, "lvfsck guard: target incarnation: gone")
		}, Incarnation{}, ErrIncarnation},
		{"guard with garbage", func(s *rpctest.Server) {
			s.HandleResult(MethodGuardTarget, GuardTarget{Incarnation: "x"})
		}, Incarnation{}, ErrIncarnation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := rpctest.Start(t)
			tc.handle(s)
			c, err := Dial(context.Background(), s.Path)
			require.NoError(t, err)
			defer c.Close()
			got, err := c.Incarnation(context.Background())
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	require.True(t, self.Visible("/proc"))
	require.False(t, Incarnation{PID: self.PID, StartTime: self.StartTime + 1, BootID: self.BootID}.Visible("/proc"), "a pid reused by another process")
}
