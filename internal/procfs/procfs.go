// Package procfs is every read lvfsck makes of a proc file system: a
// process's stat, cwd, comm and cmdline, the boot id and boot time. The
// root is a parameter so that tests use a fake tree and a target in another
// mount namespace is reached through /proc/<pid>/root.
package procfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Default is where the host's proc file system is mounted.
const Default = "/proc"

// FS is a proc file system mounted at a directory ("" means Default).
type FS string

func (f FS) dir(elem ...string) string {
	root := string(f)
	if root == "" {
		root = Default
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// Pid is the directory of process pid.
func (f FS) Pid(pid int) string { return f.dir(strconv.Itoa(pid)) }

// Through is path as process pid sees it, reached from this process: an
// absolute one under <pid>/root, a relative one under <pid>/cwd. A path
// already under <pid>/ is returned unchanged.
func (f FS) Through(pid int, path string) string {
	base := f.Pid(pid)
	switch {
	case path == "" || strings.HasPrefix(path, base+"/"):
		return path
	case filepath.IsAbs(path):
		return filepath.Join(base, "root", path)
	}
	return filepath.Join(base, "cwd", path)
}

// ReadSmall reads at most limit bytes of a proc file (they are small, but
// a hostile mount could serve an endless one).
func ReadSmall(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// Stat is what lvfsck uses of /proc/<pid>/stat.
type Stat struct {
	PID int
	// StartTime is field 22: the start in clock ticks since boot.
	StartTime uint64
}

// ReadStat reads /proc/<pid>/stat. A missing one wraps fs.ErrNotExist.
func (f FS) ReadStat(pid int) (Stat, error) {
	b, err := ReadSmall(filepath.Join(f.Pid(pid), "stat"), 4096)
	if err != nil {
		return Stat{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// ParseStat returns the pid (field 1) and start time (field 22) of a
// /proc/<pid>/stat line. The comm field (2) is in parentheses and may itself
// hold spaces and parentheses, so fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closeIdx := bytes.LastIndexByte(b, ')')
	if open < 1 || closeIdx < open {
		return Stat{}, errors.New("no (comm) field")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return Stat{}, fmt.Errorf("pid field: %w", err)
	}
	rest := bytes.Fields(b[closeIdx+1:])
	// rest[0] is field 3 (state), so field 22 is rest[19].
	const idx = 22 - 3
	if len(rest) <= idx {
		return Stat{}, fmt.Errorf("only %d fields after comm", len(rest))
	}
	st, err := strconv.ParseUint(string(rest[idx]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("starttime field: %w", err)
	}
	return Stat{PID: pid, StartTime: st}, nil
}

// BootID is sys/kernel/random/boot_id, trimmed.
func (f FS) BootID() (string, error) {
	b, err := ReadSmall(f.dir("sys/kernel/random/boot_id"), 256)
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

// userHZ is the unit of /proc/<pid>/stat's start time: the kernel reports
// it in USER_HZ ticks, fixed at 100 for user space on Linux.
const userHZ = 100

// Started converts a start in clock ticks since boot (Stat.StartTime) to
// wall time, using the boot time (btime) of stat. It refuses a start of
// another boot than bootID: its ticks count from a boot time this proc
// file system does not know.
func (f FS) Started(bootID string, ticks uint64) (time.Time, error) {
	id, err := f.BootID()
	if err != nil {
		return time.Time{}, err
	}
	if id != bootID {
		return time.Time{}, fmt.Errorf("incarnation of boot %q, this is boot %q", bootID, id)
	}
	stat, err := ReadSmall(f.dir("stat"), 1<<20)
	if err != nil {
		return time.Time{}, err
	}
	btime, err := parseBtime(stat)
	if err != nil {
		return time.Time{}, err
	}
	sec := ticks / userHZ
	frac := time.Duration(ticks%userHZ) * (time.Second / userHZ)
	return time.Unix(btime+int64(sec), 0).Add(frac), nil
}

// parseBtime finds "btime <seconds>" in /proc/stat.
func parseBtime(stat []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "btime ")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("btime %q", rest)
		}
		return v, nil
	}
	return 0, errors.New("no btime line in /proc/stat")
}

// Cwd is the working directory of process pid.
func (f FS) Cwd(pid int) (string, error) {
	return os.Readlink(filepath.Join(f.Pid(pid), "cwd"))
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

// FindProcess is the pid of the one process whose comm, or the basename of
// argv[0], is name. Both are looked at because comm is cut to 15 bytes and
// a process may rename itself (SPDK's reactor threads do; the main thread
// keeps the binary's name). Processes that vanish or cannot be read while
// scanning are skipped.
func (f FS) FindProcess(name string) (int, error) {
	ents, err := os.ReadDir(f.dir())
	if err != nil {
		return 0, fmt.Errorf("find process %s: %w", name, err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if processNamed(f.dir(e.Name()), name) {
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

// Named reports whether pid's comm or argv[0] basename is name (as
// FindProcess matches).
func (f FS) Named(pid int, name string) bool { return processNamed(f.Pid(pid), name) }

func processNamed(dir, name string) bool {
	if zombie(dir) {
		return false // keeps its comm, but no socket behind it
	}
	if comm, err := ReadSmall(filepath.Join(dir, "comm"), 256); err == nil && strings.TrimSuffix(string(comm), "\n") == name {
		return true
	}
	cmdline, err := ReadSmall(filepath.Join(dir, "cmdline"), 1<<16)
	if err != nil || len(cmdline) == 0 {
		return false // a kernel thread, or gone
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 != "" && filepath.Base(argv0) == name
}

// Alive reports whether pid still runs: present and not a zombie waiting
// for its parent.
func (f FS) Alive(pid int) bool {
	dir := f.Pid(pid)
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	return !zombie(dir)
}

// zombie: the state field of dir/stat (after the comm, which may hold
// spaces and parentheses) says the process has exited. An unreadable stat
// is not a zombie.
func zombie(dir string) bool {
	stat, err := ReadSmall(filepath.Join(dir, "stat"), 4096)
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// CancelWhenGone is ctx, cancelled once pid no longer runs (polled every
// period). The returned func stops the polling and reports whether the
// process ended.
func (f FS) CancelWhenGone(ctx context.Context, pid int, period time.Duration) (context.Context, func() (ended bool)) {
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
				if !f.Alive(pid) {
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
