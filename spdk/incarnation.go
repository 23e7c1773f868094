package spdk

import (
	"context"
	"errors"
	"fmt"
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

// Incarnation identifies the process behind the client's current
// connection (dialling if needed), via SO_PEERCRED and /proc.
func (c *Client) Incarnation(ctx context.Context) (Incarnation, error) {
	cn, _, err := c.conn(ctx)
	if err != nil {
		return Incarnation{}, fmt.Errorf("incarnation: %w", err)
	}
	pid, err := peerPID(cn.nc)
	if err != nil {
		return Incarnation{}, fmt.Errorf("%w: %w", ErrIncarnation, err)
	}
	if pid <= 0 {
		return Incarnation{}, ErrNoPeerPID
	}
	return ReadIncarnation(procfs.Default, pid)
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
