package checkrun

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/reconcile"
)

func TestThroughProc(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/host/dev/sdb", "/proc/42/root/host/dev/sdb"},
		{"disk.img", "/proc/42/cwd/disk.img"},
		{"", ""},
		{"/proc/42/root/dev/sdb", "/proc/42/root/dev/sdb"}, // already through it
	}
	for _, tc := range tests {
		live := reconcile.Live{Lvstores: []reconcile.LLvstore{{Device: tc.in}}}
		ThroughProc(&live, "/proc", 42)
		require.Equal(t, tc.want, live.Lvstores[0].Device, tc.in)
	}
	require.Equal(t, "/proc/7/root/var/tmp/spdk.sock", SocketThroughProc("/proc", 7, "/var/tmp/spdk.sock"))
	require.Equal(t, "/proc/7/cwd/spdk.sock", SocketThroughProc("/proc", 7, "spdk.sock"))
}
