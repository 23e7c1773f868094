package checkrun

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lvfsck/lvfsck/reconcile"
)

// ThroughProc rewrites the lvstores' device paths as the target process
// pid sees them into paths this process can open: an absolute one under
// /proc/<pid>/root, a relative one under /proc/<pid>/cwd. So a target in
// another container's mount namespace (its socket and AIO files not on the
// host) is checked without entering that container (hostPID suffices).
func ThroughProc(live *reconcile.Live, procRoot string, pid int) {
	base := filepath.Join(procRoot, fmt.Sprint(pid))
	for i := range live.Lvstores {
		d := live.Lvstores[i].Device
		switch {
		case d == "" || strings.HasPrefix(d, base+"/"):
		case filepath.IsAbs(d):
			live.Lvstores[i].Device = filepath.Join(base, "root", d)
		default:
			live.Lvstores[i].Device = filepath.Join(base, "cwd", d)
		}
	}
}

// SocketThroughProc is the target's socket path, as pid sees it, reached
// through /proc/<pid>/root.
func SocketThroughProc(procRoot string, pid int, socket string) string {
	if !filepath.IsAbs(socket) {
		return filepath.Join(procRoot, fmt.Sprint(pid), "cwd", socket)
	}
	return filepath.Join(procRoot, fmt.Sprint(pid), "root", socket)
}
