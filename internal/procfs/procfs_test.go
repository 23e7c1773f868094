package procfs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/testfix"
)

func TestParseStat(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		pid     int
		start   uint64
		wantErr bool
	}{
		{"plain", testfix.StatLine("4242", "spdk_tgt"), 4242, 123456, false},
		{"reactor thread name", testfix.StatLine("17", "reactor_0"), 17, 123456, false},
		{"spaces in comm", testfix.StatLine("9", "a b c"), 9, 123456, false},
		{"parens in comm", testfix.StatLine("9", "x) 1 2 3 (y"), 9, 123456, false},
		{"close paren last char of comm", testfix.StatLine("9", "weird)"), 9, 123456, false},
		{"no comm", "4242 S 1 2 3", 0, 0, true},
		{"no pid", testfix.StatLine("", "x"), 0, 0, true},
		{"bad pid", testfix.StatLine("4x", "x"), 0, 0, true},
		{"short", "1 (x) S 1 2 3\n", 0, 0, true},
		{"bad start", strings.Replace(testfix.StatLine("1", "x"), "123456", "-5", 1), 0, 0, true},
		{"empty", "", 0, 0, true},
		{"reversed parens", "1 )x( S", 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseStat([]byte(tc.in))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, Stat{PID: tc.pid, StartTime: tc.start}, st)
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(testfix.StatLine("1", "spdk_tgt")))
	f.Add([]byte(testfix.StatLine("1", "a) b (c")))
	f.Add([]byte("1 (x"))
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err == nil && len(b) == 0 {
			t.Fatalf("parsed empty input as pid %d", st.PID)
		}
	})
}

// fakeProc writes a /proc-like tree: pid → {comm, cmdline[, stat]}.
func fakeProc(t *testing.T, procs map[int][]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "comm"), []byte(p[0]+"\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte(p[1]), 0o644))
		if len(p) > 2 {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(p[2]+"\n"), 0o644))
		}
	}
	// Entries that are not processes are skipped.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "self"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "uptime"), []byte("1 1\n"), 0o644))
	return root
}

func TestFindProcess(t *testing.T) {
	tests := []struct {
		name    string
		procs   map[int][]string
		want    int
		none    bool
		several []int
	}{
		{name: "none", procs: map[int][]string{1: {"systemd", "/sbin/init\x00"}, 2: {"kthreadd", ""}}, none: true},
		{name: "empty proc", procs: nil, none: true},
		{name: "one by comm", procs: map[int][]string{1: {"systemd", "/sbin/init\x00"}, 77: {"spdk_tgt", "/usr/bin/spdk_tgt\x00-m\x000x1\x00"}}, want: 77},
		{name: "one by argv0, comm renamed", procs: map[int][]string{77: {"reactor_0", "/usr/local/bin/spdk_tgt\x00--json\x00c.json\x00"}}, want: 77},
		{name: "argv0 relative", procs: map[int][]string{9: {"x", "./spdk_tgt\x00"}}, want: 9},
		{name: "argument is not argv0", procs: map[int][]string{9: {"sh", "/bin/sh\x00spdk_tgt\x00"}}, none: true},
		{name: "prefix is not a match", procs: map[int][]string{9: {"spdk_tgt2", "/bin/spdk_tgt2\x00"}}, none: true},
		{name: "zombie skipped", procs: map[int][]string{8: {"spdk_tgt", "", "8 (spdk_tgt) Z 1 8 8"}, 9: {"spdk_tgt", "/bin/spdk_tgt\x00", "9 (spdk_tgt) S 1 9 9"}}, want: 9},
		{name: "several", procs: map[int][]string{300: {"spdk_tgt", "spdk_tgt\x00"}, 12: {"reactor_0", "/opt/spdk_tgt\x00"}, 5: {"bash", "bash\x00"}}, several: []int{12, 300}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid, err := FS(fakeProc(t, tc.procs)).FindProcess("spdk_tgt")
			switch {
			case tc.none:
				require.ErrorIs(t, err, ErrNoProcess)
			case tc.several != nil:
				var amb *AmbiguousProcessError
				require.ErrorAs(t, err, &amb)
				require.Equal(t, tc.several, amb.PIDs)
			default:
				require.NoError(t, err)
				require.Equal(t, tc.want, pid)
			}
		})
	}
	root := fakeProc(t, map[int][]string{8: {"spdk_tgt", "", "8 (spdk (tgt) Z 1"}, 9: {"spdk_tgt", "x\x00", "9 (a) b) S 1"}})
	require.False(t, FS(root).Alive(8), "zombie")
	require.True(t, FS(root).Alive(9))
	require.False(t, FS(root).Alive(10), "absent")
	_, err := FS(filepath.Join(t.TempDir(), "missing")).FindProcess("spdk_tgt")
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNoProcess)
}

// TestFindProcessReal finds a process of this machine by its name: a
// child sleep started here is the only one carrying a unique argv[0].
func TestFindProcessReal(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "lvfsck-probe-tgt")
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	require.NoError(t, os.Symlink(sleep, bin))
	cmd := exec.Command(bin, "30")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	pid, err := FS("/proc").FindProcess("lvfsck-probe-tgt")
	require.NoError(t, err)
	require.Equal(t, cmd.Process.Pid, pid)
	require.True(t, FS("/proc").Alive(pid))

	// Killed and not yet waited for: a zombie, which still has its comm.
	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return !FS("/proc").Alive(pid) }, 5*time.Second, 10*time.Millisecond)
	_, err = os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	require.NoError(t, err, "still a zombie")
	_, err = FS("/proc").FindProcess("lvfsck-probe-tgt")
	require.ErrorIs(t, err, ErrNoProcess)
	_ = cmd.Wait()
	require.False(t, FS("/proc").Alive(pid))
}

func TestCancelWhenGone(t *testing.T) {
	root := fakeProc(t, map[int][]string{5: {"spdk_tgt", "spdk_tgt\x00"}})
	ctx, ended := FS(root).CancelWhenGone(context.Background(), 5, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, ctx.Err(), "the process runs")
	require.NoError(t, os.RemoveAll(filepath.Join(root, "5")))
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not cancelled after the process ended")
	}
	require.True(t, ended())

	ctx, ended = FS(fakeProc(t, map[int][]string{6: {"x", ""}})).CancelWhenGone(context.Background(), 6, time.Millisecond)
	require.False(t, ended(), "stopped while it runs")
	require.Error(t, ctx.Err(), "stopping releases the context")
}

func TestThrough(t *testing.T) {
	require.Equal(t, "/proc/7/root/var/tmp/spdk.sock", FS("/proc").Through(7, "/var/tmp/spdk.sock"))
	require.Equal(t, "/proc/7/cwd/spdk.sock", FS("").Through(7, "spdk.sock"))
}
