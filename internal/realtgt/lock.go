package realtgt

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// acquire takes the machine-wide one-real-target lock, waiting up to wait.
// Test binaries of several packages run at once under `go test ./...`; the
// lock keeps their targets from competing for the two cores.
func acquire(wait time.Duration) (*os.File, error) {
	path := filepath.Join(os.TempDir(), "lvfsck-realtgt.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another real spdk_tgt held %s for over %s", path, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockFile takes an exclusive flock on path, waiting as long as it takes
// (an install holds it for seconds), and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
