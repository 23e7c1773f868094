package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// ErrHealthy is Reset's refusal of a journal that verifies whole: moving
// it aside would throw away the history resurrection detection needs.
var ErrHealthy = errors.New("journal verifies whole")

// Reset moves the journal in dir aside, to dir.damaged-<UTC time>, and
// leaves an empty dir, so that the next Open starts a new journal while the
// old one stays for forensics. It
// takes the journal's lock first (waiting up to o.WaitLock), so no run is
// writing it. A journal that verifies whole is refused (ErrHealthy)
// unless force. It returns where the journal went.
func Reset(ctx context.Context, dir string, o Options, force bool) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("reset journal: %w", err)
	}
	o.ReadOnly = false
	lock, err := lockDir(ctx, dir, o)
	if err != nil {
		return "", err
	}
	defer func() { clearHolder(lock); _ = lock.Close() }()
	if !force {
		_, dmg, err := verifyFiles(dir, zerolog.Nop())
		if err != nil {
			return "", err
		}
		if len(dmg) == 0 {
			return "", fmt.Errorf("reset journal %s: %w", dir, ErrHealthy)
		}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	aside := dir + ".damaged-" + now().UTC().Format("20060102T150405Z")
	if err := os.Rename(dir, aside); err != nil {
		return "", fmt.Errorf("reset journal: move %s aside: %w", dir, err)
	}
	// The new journal's directory, as the old one was: a reader finds an
	// empty history rather than none.
	if err := os.Mkdir(dir, fi.Mode().Perm()); err != nil {
		return aside, fmt.Errorf("reset journal: moved to %s, but %w", aside, err)
	}
	return aside, nil
}
