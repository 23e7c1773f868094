package collect

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/spdk"
)

func fakeProc(t *testing.T, boot, stat string) string {
	root := t.TempDir()
	if boot != "" {
		require.NoError(t, os.MkdirAll(filepath.Join(root, "sys/kernel/random"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, "sys/kernel/random/boot_id"), []byte(boot+"\n"), 0o644))
	}
	if stat != "" {
		require.NoError(t, os.WriteFile(filepath.Join(root, "stat"), []byte(stat), 0o644))
	}
	return root
}

func TestTargetStart(t *testing.T) {
	const stat = "cpu  1 2 3\nintr 5\nbtime 1764150000\nprocesses 9\n"
	inc := spdk.Incarnation{PID: 7, StartTime: 12345, BootID: "b1"}
	cases := []struct {
		name       string
		boot, stat string
		want       time.Time
	}{
		{"same boot", "b1", stat, time.Unix(1764150000+123, 0).Add(450 * time.Millisecond)},
		{"other boot", "b2", stat, time.Time{}},
		{"no btime", "b1", "cpu 1\n", time.Time{}},
		{"bad btime", "b1", "btime x\n", time.Time{}},
		{"no boot id", "", stat, time.Time{}},
		{"no stat", "b1", "", time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TargetStart(fakeProc(t, tc.boot, tc.stat), inc)
			if tc.want.IsZero() {
				require.ErrorIs(t, err, ErrStartUnknown)
				return
			}
			require.NoError(t, err)
			require.True(t, tc.want.Equal(got), "got %s want %s", got, tc.want)
		})
	}
}

// On this machine: the test process itself started a moment ago.
func TestTargetStartSelf(t *testing.T) {
	inc, err := spdk.ReadIncarnation("/proc", os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	got, err := TargetStart("/proc", inc)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), got, 10*time.Minute)
	require.False(t, got.After(time.Now().Add(2*time.Second)))
}

// A forced-removal line from before the target started is about an earlier
// run: it is kept, but marked so that reconcile does not take it as
// evidence of a drop in this one.
func TestHistoryLogsBeforeTargetStart(t *testing.T) {
	j, _ := historyJournal(t) // the log line is at 11:30 on Nov 1
	_, err := j.RecordEvidence(journal.Evidence{At: time.Date(2026, 11, 1, 20, 0, 0, 0, time.UTC), Source: "spdk.log", Line: 9, Kind: journal.EvidenceForcedRemoval, LvolName: "lvs-r/x", Text: "later line"})
	require.NoError(t, err)
	h, err := LoadHistory(j, HistoryOptions{Incarnation: incB, TargetStart: time.Date(2026, 11, 1, 15, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	ev := h.LogEvidence(uX, "lvs-r/x")
	require.Len(t, ev, 2)
	require.Equal(t, earlierRun, ev[0].Incarnation)
	require.Empty(t, ev[1].Incarnation, "after the start: may be about this run")

	h, err = LoadHistory(j, HistoryOptions{Incarnation: incB})
	require.NoError(t, err)
	for _, e := range h.LogEvidence(uX, "lvs-r/x") {
		require.Empty(t, e.Incarnation, "start unknown: nothing is excluded")
	}
}

func TestThroughProc(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/host/dev/sdb", "/proc/42/root/host/dev/sdb"},
		{"disk.img", "/proc/42/cwd/disk.img"},
		{"", ""},
		{"/proc/42/root/dev/sdb", "/proc/42/root/dev/sdb"}, // already through it
	}
	for _, tc := range tests {
		live := reconcile.Live{Lvstores: []reconcile.LiveLvstore{{Device: tc.in}}}
		ThroughProc(&live, "/proc", 42)
		require.Equal(t, tc.want, live.Lvstores[0].Device, tc.in)
	}
}

func TestDiscoverDevices(t *testing.T) {
	proc := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "42"), 0o755))
	require.NoError(t, os.Symlink("/srv/spdk", filepath.Join(proc, "42", "cwd")))
	live := func() *reconcile.Live {
		return &reconcile.Live{Lvstores: []reconcile.LiveLvstore{
			{Name: "rel", Device: "disk.img"}, {Name: "abs", Device: "/dev/nvme0n1"}, {Name: "nvme", BaseBdev: "Nvme0n1"}}}
	}
	devs, und := DiscoverDevices(live(), 42, proc)
	require.Equal(t, []string{"/dev/nvme0n1", "/srv/spdk/disk.img"}, devs)
	require.Equal(t, []string{"nvme"}, und)
	devs, _ = DiscoverDevices(live(), 0, proc)
	require.Equal(t, []string{"/dev/nvme0n1", "disk.img"}, devs, "no pid: as the target named it")
	devs, _ = DiscoverDevices(live(), 7, proc)
	require.Equal(t, []string{"/dev/nvme0n1", "disk.img"}, devs, "no such process")
}
