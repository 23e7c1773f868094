package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockedError is the ErrLocked Open returns: which directory, and who holds
// it, as the holder wrote it into the lock file.
type LockedError struct {
	Dir    string
	Holder Holder        // zero when unknown (a reader, or a lock file from an older lvfsck)
	Waited time.Duration // how long Open waited for it
}

// Holder is what a writer records in the lock file while it holds it.
type Holder struct {
	PID     int
	Command string
	Since   time.Time
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "another lvfsck (a reader, or one that did not say who it is)"
	}
	s := "pid " + strconv.Itoa(h.PID)
	if h.Command != "" {
		s += " (lvfsck " + h.Command + ")"
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

func (e *LockedError) Error() string {
	msg := fmt.Sprintf("journal in %s is locked by %s", e.Dir, e.Holder)
	if e.Waited > 0 {
		msg += fmt.Sprintf(", still after waiting %s", e.Waited.Round(time.Millisecond))
	}
	return msg
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// lockPoll is how often a waiting Open tries the lock again.
const lockPoll = 50 * time.Millisecond

// BriefHoldWait is how long an Open waits, whatever its WaitLock, for a
// holder that keeps the journal only while it writes a batch: `lvfsck
// guard` and `lvfsck watch` run for ever beside the target and open the
// journal for a moment at each event. A cron check that meets one of
// them mid-write waits that moment out instead of failing (exit 8).
const BriefHoldWait = 10 * time.Second

// briefHolders are the commands that hold the journal only briefly.
var briefHolders = map[string]bool{"guard": true, "watch": true}

// WaitFor is how long an Open asked to wait up to wait waits for h: at
// least BriefHoldWait for a brief holder.
func (h Holder) WaitFor(wait time.Duration) time.Duration {
	if briefHolders[h.Command] {
		return max(wait, BriefHoldWait)
	}
	return wait
}

// lockDir takes a flock on dir/lvfsck.lock: exclusive for a writer, shared
// for a reader, waiting up to wait for a holder to let go. flock locks
// belong to the open file description, so a second Open in the same
// process conflicts too. A writer records its pid, command and start in
// the file (cleared at Close) so that the process it keeps out can say who
// holds it. A reader of a journal without a lock file (a copy from a
// support bundle, in a directory it cannot write) proceeds without one:
// badger's own shared directory lock still keeps writers out.
func lockDir(ctx context.Context, dir string, o Options) (*os.File, error) {
	p := filepath.Join(dir, lockFileName)
	flag, how := os.O_RDWR|os.O_CREATE, syscall.LOCK_EX
	if o.ReadOnly {
		flag, how = os.O_RDONLY, syscall.LOCK_SH
	}
	f, err := os.OpenFile(p, flag, 0o600)
	if o.ReadOnly && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open journal lock %s: %w", p, err)
	}
	start, told := time.Now(), false
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock journal %s: %w", dir, err)
		}
		waited, h := time.Since(start), readHolder(p)
		limit := h.WaitFor(o.WaitLock)
		if waited >= limit {
			_ = f.Close()
			return nil, &LockedError{Dir: dir, Holder: h, Waited: min(waited, limit)}
		}
		if !told && o.Waiting != nil {
			o.Waiting(h)
		}
		told = true
		select {
		case <-ctx.Done():
			h := readHolder(p)
			_ = f.Close()
			return nil, fmt.Errorf("%w (%w)", &LockedError{Dir: dir, Holder: h, Waited: waited}, ctx.Err())
		case <-time.After(min(lockPoll, limit-waited)):
		}
	}
	if !o.ReadOnly {
		writeHolder(f, o.Command)
	}
	return f, nil
}

// writeHolder records who holds the lock. Best effort: the lock is what
// matters; a journal whose lock file cannot be written still works.
func writeHolder(f *os.File, command string) {
	s := fmt.Sprintf("pid %d\ncommand %s\nsince %s\n", os.Getpid(), oneLine(command), time.Now().UTC().Format(time.RFC3339))
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(s), 0)
	}
}

// clearHolder empties the lock file before the lock is let go, so that a
// stale holder is never named.
func clearHolder(f *os.File) { _ = f.Truncate(0) }

// readHolder reads what writeHolder wrote; anything unreadable is unknown.
func readHolder(p string) Holder {
	b, err := os.ReadFile(p)
	if err != nil || len(b) > 4096 {
		return Holder{}
	}
	var h Holder
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "command":
			h.Command = v
		case "since":
			h.Since, _ = time.Parse(time.RFC3339, v)
		}
	}
	// A writer killed with SIGKILL leaves its record; while a reader holds
	// the lock, that record would name a dead process.
	if h.PID <= 0 || errors.Is(syscall.Kill(h.PID, 0), syscall.ESRCH) {
		return Holder{}
	}
	return h
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
