package collect

import (
	"errors"
	"fmt"
	"time"

	"github.com/lvfsck/lvfsck/internal/procfs"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/spdk"
)

// ErrStartUnknown: the target's start time cannot be had (another boot,
// no btime in /proc/stat).
var ErrStartUnknown = errors.New("target start time unknown")

// TargetStart converts an incarnation's start (clock ticks since boot) to
// wall time, using the boot time of the proc file system at procRoot. It
// refuses an incarnation of another boot.
func TargetStart(procRoot string, inc spdk.Incarnation) (time.Time, error) {
	t, err := procfs.FS(procRoot).Started(inc.BootID, inc.StartTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrStartUnknown, err)
	}
	return t, nil
}

// DiscoverDevices finds the lvstores' base devices in the live view (the
// files of their AIO bdevs; a relative one is resolved against the working
// directory of the target's process pid, when known) and the lvstores whose
// base bdev names no file.
func DiscoverDevices(live *reconcile.Live, pid int, procRoot string) (devices, undiscovered []string) {
	if pid > 0 {
		if cwd, err := procfs.FS(procRoot).Cwd(pid); err == nil {
			ResolveDevices(live, cwd)
		}
	}
	return Devices(*live), Undiscovered(*live)
}

// ThroughProc rewrites the lvstores' device paths as the target process
// pid sees them into paths this process can open: an absolute one under
// /proc/<pid>/root, a relative one under /proc/<pid>/cwd. So a target in
// another container's mount namespace (its socket and AIO files not on the
// host) is checked without entering that container (hostPID suffices).
func ThroughProc(live *reconcile.Live, procRoot string, pid int) {
	fs := procfs.FS(procRoot)
	for i := range live.Lvstores {
		live.Lvstores[i].Device = fs.Through(pid, live.Lvstores[i].Device)
	}
}
