package spdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/lvfsck/lvfsck/internal/procfs"
)

// Incarnation identifies one run of a target process: a restart changes
// StartTime (and usually PID), a reboot changes BootID.
type Incarnation struct {
	PID int
	// StartTime is the process start in clock ticks since boot
	// (/proc/<pid>/stat field 22).
	StartTime uint64
	// BootID is /proc/sys/kernel/random/boot_id.
	BootID string
}

// String is a stable key: "<boot_id>/<pid>/<start_time>".
func (i Incarnation) String() string {
	return fmt.Sprintf("%s/%d/%d", i.BootID, i.PID, i.StartTime)
}

// ParseIncarnation is the inverse of String (for --incarnation).
func ParseIncarnation(s string) (Incarnation, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return Incarnation{}, fmt.Errorf("incarnation %q: want <boot_id>/<pid>/<start_time>", s)
	}
	if parts[0] == "" {
		return Incarnation{}, fmt.Errorf("incarnation %q: empty boot id", s)
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return Incarnation{}, fmt.Errorf("incarnation %q: bad pid %q", s, parts[1])
	}
	st, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return Incarnation{}, fmt.Errorf("incarnation %q: bad start time %q", s, parts[2])
	}
	return Incarnation{PID: pid, StartTime: st, BootID: parts[0]}, nil
}

var (
	// ErrNoPeerPID: the kernel gave no pid for the socket's peer — it lives
	// in a pid namespace this process cannot see (a container). The caller
	// must be told the incarnation (--incarnation).
	ErrNoPeerPID = errors.New("spdk: target pid not visible from this pid namespace")
	// ErrIncarnation: the peer's identity could not be read.
	ErrIncarnation = errors.New("spdk: cannot determine target incarnation")
)

// MethodGuardTarget is the one method `lvfsck guard` answers itself and
// never forwards: which target its upstream connection for this client
// reaches (GuardTarget). Through a guard, SO_PEERCRED names the guard, and
// a target restarted behind a guard that kept running would otherwise look
// like the same target run.
const MethodGuardTarget = "lvfsck_guard_get_target"

// GuardTarget is MethodGuardTarget's answer: the target's pid and
// incarnation as the guard sees them (its own pid namespace).
type GuardTarget struct {
	PID         int    `json:"pid"`
	Incarnation string `json:"incarnation"`
}

// guardName is the process name a guard runs under: lvfsck's own.
const guardName = "lvfsck"

// Incarnation identifies the target process behind the client's current
// connection (dialling if needed), via SO_PEERCRED and /proc. When the
// socket's peer is lvfsck (a guard in front of the target) or this very
// process, it is asked which target it reaches; one that does not know
// the method is the target.
func (c *Client) Incarnation(ctx context.Context) (Incarnation, error) {
	cn, _, err := c.conn(ctx)
	if err != nil {
		return Incarnation{}, fmt.Errorf("incarnation: %w", err)
	}
	pid, err := PeerPID(cn.nc)
	if err != nil {
		return Incarnation{}, err
	}
	proc := procfs.FS(procfs.Default)
	if pid != os.Getpid() && !proc.Named(pid, guardName) {
		return ReadIncarnation(procfs.Default, pid)
	}
	var gt GuardTarget
	err = c.Call(ctx, MethodGuardTarget, nil, &gt)
	if errors.Is(err, ErrMethodNotFound) {
		// not a guard: a server in this very process (tests) or one that
		// calls itself lvfsck
		return ReadIncarnation(procfs.Default, pid)
	}
	if err != nil {
		return Incarnation{}, fmt.Errorf("%w: the socket's peer (pid %d) is lvfsck guard, which did not name its target: %w", ErrIncarnation, pid, err)
	}
	t, err := ParseIncarnation(gt.Incarnation)
	if err != nil {
		return Incarnation{}, fmt.Errorf("%w: lvfsck guard (pid %d): %w", ErrIncarnation, pid, err)
	}
	return t, nil
}

// PeerPID is the pid of a unix socket's peer (SO_PEERCRED) in this pid
// namespace; ErrNoPeerPID when it lives in one this process cannot see.
func PeerPID(nc net.Conn) (int, error) {
	pid, err := peerPID(nc)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrIncarnation, err)
	}
	if pid <= 0 {
		return 0, ErrNoPeerPID
	}
	return pid, nil
}

// Visible reports whether i is a process this process's /proc shows (the
// same pid namespace): a guard's answer may name a pid of its own
// namespace, which must not be read here as another process.
func (i Incarnation) Visible(procRoot string) bool {
	st, err := procfs.FS(procRoot).ReadStat(i.PID)
	return err == nil && st.PID == i.PID && st.StartTime == i.StartTime
}

// ReadIncarnation reads the incarnation of pid from a proc file system
// mounted at procRoot.
func ReadIncarnation(procRoot string, pid int) (Incarnation, error) {
	fs := procfs.FS(procRoot)
	st, err := fs.ReadStat(pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// SO_PEERCRED gave a pid, yet this /proc does not have it: /proc
			// belongs to another pid namespace.
			return Incarnation{}, fmt.Errorf("%w: pid %d: %w", ErrNoPeerPID, pid, err)
		}
		return Incarnation{}, fmt.Errorf("%w: %w", ErrIncarnation, err)
	}
	if st.PID != pid {
		return Incarnation{}, fmt.Errorf("%w: /proc/%d/stat is of pid %d", ErrIncarnation, pid, st.PID)
	}
	id, err := fs.BootID()
	if err != nil {
		return Incarnation{}, fmt.Errorf("%w: %w", ErrIncarnation, err)
	}
	if id == "" || strings.ContainsAny(id, "/ ") {
		return Incarnation{}, fmt.Errorf("%w: bad boot_id %q", ErrIncarnation, id)
	}
	return Incarnation{PID: pid, StartTime: st.StartTime, BootID: id}, nil
}
