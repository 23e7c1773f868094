package realtgt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
)

// Options choose how one target runs.
type Options struct {
	// Fixed runs Longhorn's fix (lib-fixed): a busy delete answers the error
	// and hides the lvol as a zombie, instead of a forced removal.
	Fixed bool
	// MemMiB is the DPDK memory without hugepages (-s); 1024 by default.
	MemMiB int
	// LogFlags are extra -L flags ("lvol", "blob").
	LogFlags []string
	// LockWait bounds the wait for the machine-wide one-target lock.
	LockWait time.Duration
}

// Target is one running spdk_tgt.
type Target struct {
	T      testing.TB
	Opts   Options
	Sock   string
	Log    string // the target's stdout+stderr
	Client *spdk.Client
	Mask   string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	lock   *os.File
}

var (
	starts     atomic.Uint64
	lockWaited atomic.Int64 // ns this process waited for other processes' targets
)

// Stats are this process's real targets so far: how many were started and
// how long Start waited for the lock while other processes ran theirs (time
// that is not the caller's own work).
func Stats() (started uint64, lockWait time.Duration) {
	return starts.Load(), time.Duration(lockWaited.Load())
}

// Start runs a real spdk_tgt on its own socket under a temp dir and dials
// it. It fails the test with the reason when the target cannot run. The
// target is killed at test end unless it was stopped before.
func Start(t testing.TB, opts Options) *Target {
	t.Helper()
	in, err := Setup()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if opts.MemMiB == 0 {
		opts.MemMiB = 1024
	}
	if opts.LockWait == 0 {
		opts.LockWait = 10 * time.Minute
	}
	t0 := time.Now()
	lock, err := acquire(opts.LockWait)
	if err != nil {
		t.Fatalf("real spdk_tgt: %v", err)
	}
	if w := time.Since(t0); w > 100*time.Millisecond {
		lockWaited.Add(int64(w))
		t.Logf("real spdk_tgt: waited %s for the machine-wide one-target lock", w.Round(time.Millisecond))
	}
	dir, err := os.MkdirTemp("", "rt") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		lock.Close()
		t.Fatalf("real spdk_tgt: %v", err)
	}
	n := starts.Add(1)
	tg := &Target{T: t, Opts: opts, Sock: filepath.Join(dir, "spdk.sock"), Log: filepath.Join(dir, "spdk_tgt.log"),
		exited: make(chan struct{}), lock: lock,
		// alternate cores so one target's polling reactor never lands on the
		// core a just-killed one still occupies.
		Mask: fmt.Sprintf("0x%x", 1<<(int(n)%runtime.NumCPU())),
	}
	args := []string{"--no-huge", "-s", fmt.Sprint(opts.MemMiB), "-r", tg.Sock, "-m", tg.Mask, "--disable-cpumask-locks"}
	for _, f := range opts.LogFlags {
		args = append(args, "-L", f)
	}
	logf, err := os.Create(tg.Log)
	if err != nil {
		lock.Close()
		t.Fatalf("real spdk_tgt: %v", err)
	}
	tg.cmd = exec.Command(in.Bin(), args...)
	tg.cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+in.LibraryPath(opts.Fixed))
	tg.cmd.Stdout, tg.cmd.Stderr = logf, logf
	// its own process group: a kill reaches nothing of the test's.
	tg.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := tg.cmd.Start(); err != nil {
		logf.Close()
		lock.Close()
		t.Fatalf("real spdk_tgt: start %s: %v", in.Bin(), err)
	}
	logf.Close()
	go func() { tg.err = tg.cmd.Wait(); close(tg.exited) }()
	t.Cleanup(func() {
		tg.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(tg.Log); err == nil {
				t.Logf("spdk_tgt log (%s):\n%s", tg.Log, tail(b, 8<<10))
			}
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := spdk.DialWait(ctx, tg.Sock, 20*time.Millisecond)
	if err != nil {
		b, _ := os.ReadFile(tg.Log)
		t.Fatalf("real spdk_tgt did not come up on %s: %v\n%s", tg.Sock, err, tail(b, 4<<10))
	}
	tg.Client = c
	if err := c.FrameworkWaitInit(ctx); err != nil {
		t.Fatalf("real spdk_tgt: framework_wait_init: %v", err)
	}
	return tg
}

// PID is the target's process id.
func (tg *Target) PID() int { return tg.cmd.Process.Pid }

// Exited is closed once the process has ended.
func (tg *Target) Exited() <-chan struct{} { return tg.exited }

// Stop asks for a clean shutdown (spdk_kill_instance SIGINT) and waits up to
// wait for the exit. It reports whether the target exited; a target that did
// not (a fixed-semantics zombie holds the unload) is left running for Kill.
func (tg *Target) Stop(wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tg.Client.KillInstance(ctx, "SIGINT"); err != nil {
		tg.T.Logf("spdk_kill_instance SIGINT: %v", err)
	}
	select {
	case <-tg.exited:
		tg.release()
		return true
	case <-time.After(wait):
		return false
	}
}

// Kill ends the target with SIGKILL (a dirty blobstore: the next load runs
// recovery) and waits for it. Safe to call more than once.
func (tg *Target) Kill() {
	select {
	case <-tg.exited:
	default:
		_ = syscall.Kill(-tg.cmd.Process.Pid, syscall.SIGKILL)
		<-tg.exited
	}
	tg.release()
}

func (tg *Target) release() {
	if tg.Client != nil {
		tg.Client.Close()
		tg.Client = nil
	}
	if tg.lock != nil {
		tg.lock.Close() // drops the flock
		tg.lock = nil
	}
}

// ExitErr is the process's Wait error once it has exited.
func (tg *Target) ExitErr() error {
	select {
	case <-tg.exited:
		return tg.err
	default:
		return errors.New("still running")
	}
}

// AIO creates an AIO bdev over file with 4 KiB blocks, as the fixtures do;
// on a file that holds an lvstore, examine loads it asynchronously.
func (tg *Target) AIO(ctx context.Context, name, file string) error {
	_, err := tg.Client.AioCreate(ctx, name, file, 4096)
	return err
}

// WaitLvols polls bdev_lvol_get_lvols until it lists n lvols (examine after
// an aio create is asynchronous).
func (tg *Target) WaitLvols(ctx context.Context, n int) ([]spdk.Lvol, error) {
	for {
		lvols, err := tg.Client.GetLvols(ctx, spdk.LvolQuery{})
		if err == nil && len(lvols) >= n {
			return lvols, nil
		}
		select {
		case <-ctx.Done():
			return lvols, fmt.Errorf("wait for %d lvols (have %d): %w", n, len(lvols), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Sparse makes a sparse file of size bytes for an AIO bdev.
func Sparse(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
