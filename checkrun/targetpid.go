package checkrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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

// ErrNoProcess: no process carries the name FindProcess looked for.
var ErrNoProcess = errors.New("no such process")

// AmbiguousProcessError: several processes carry the name; the caller must
// pick one by pid.
type AmbiguousProcessError struct {
	Name string
	PIDs []int
}

func (e *AmbiguousProcessError) Error() string {
	return fmt.Sprintf("%d processes named %s (pids %v)", len(e.PIDs), e.Name, e.PIDs)
}

// FindProcess is the pid of the one process under procRoot (normally
// /proc) whose comm, or the basename of argv[0], is name. Both are looked
// at because comm is cut to 15 bytes and a process may rename itself
// (SPDK's reactor threads do; the main thread keeps the binary's name).
// Processes that vanish or cannot be read while scanning are skipped.
func FindProcess(procRoot, name string) (int, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("find process %s: %w", name, err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if processNamed(filepath.Join(procRoot, e.Name()), name) {
			pids = append(pids, pid)
		}
	}
	switch len(pids) {
	case 0:
		return 0, fmt.Errorf("find process %s: %w", name, ErrNoProcess)
	case 1:
		return pids[0], nil
	}
	sort.Ints(pids)
	return 0, &AmbiguousProcessError{Name: name, PIDs: pids}
}

func processNamed(dir, name string) bool {
	if zombie(dir) {
		return false // keeps its comm, but no socket behind it
	}
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil && strings.TrimSuffix(string(comm), "\n") == name {
		return true
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(cmdline) == 0 {
		return false // a kernel thread, or gone
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 != "" && filepath.Base(argv0) == name
}

// ProcessAlive reports whether pid still runs under procRoot: present and
// not a zombie waiting for its parent.
func ProcessAlive(procRoot string, pid int) bool {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	return !zombie(dir)
}

// zombie: the state field of dir/stat (after the comm, which may hold
// spaces and parentheses) says the process has exited. An unreadable stat
// is not a zombie.
func zombie(dir string) bool {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// CancelWhenGone is ctx, cancelled once pid no longer runs (polled every
// period). The returned func stops the polling and reports whether the
// process ended.
func CancelWhenGone(ctx context.Context, procRoot string, pid int, period time.Duration) (context.Context, func() (ended bool)) {
	ctx, cancel := context.WithCancel(ctx)
	var gone atomic.Bool
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
				if !ProcessAlive(procRoot, pid) {
					gone.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	return ctx, func() bool {
		close(done)
		cancel()
		return gone.Load()
	}
}
