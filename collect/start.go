package collect

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
)

// userHZ is the unit of /proc/<pid>/stat's start time: the kernel reports
// it in USER_HZ ticks, fixed at 100 for user space on Linux.
const userHZ = 100

// ErrStartUnknown: the target's start time cannot be had (another boot,
// no btime in /proc/stat).
var ErrStartUnknown = errors.New("target start time unknown")

// TargetStart converts an incarnation's start (clock ticks since boot) to
// wall time, using the boot time (btime) of procRoot/stat. It refuses an
// incarnation of another boot: its ticks count from a boot time this /proc
// does not know.
func TargetStart(procRoot string, inc spdk.Incarnation) (time.Time, error) {
	boot, err := readBounded(filepath.Join(procRoot, "sys/kernel/random/boot_id"), 256)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrStartUnknown, err)
	}
	if id := string(bytes.TrimSpace(boot)); id != inc.BootID {
		return time.Time{}, fmt.Errorf("%w: incarnation of boot %q, this is boot %q", ErrStartUnknown, inc.BootID, id)
	}
	stat, err := readBounded(filepath.Join(procRoot, "stat"), 1<<20)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrStartUnknown, err)
	}
	btime, err := parseBtime(stat)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrStartUnknown, err)
	}
	sec := inc.StartTime / userHZ
	frac := time.Duration(inc.StartTime%userHZ) * (time.Second / userHZ)
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

func readBounded(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
