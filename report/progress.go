package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// progressMinPages is the md region size from which a terminal gets a
// progress bar: below it the scan is over before a bar would be read.
const progressMinPages = 4096

// IsTerminal tells whether w is a terminal (colors, progress bars).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// ProgressBar draws md pages done on a terminal, at most ten times a
// second. Its Update has the signature of scanner.Options.Progress.
type ProgressBar struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
	on   bool
}

// NewProgressBar returns a bar drawing on w, or nil when w is not a
// terminal (a log file gets no carriage returns).
func NewProgressBar(w io.Writer) *ProgressBar {
	if !IsTerminal(w) {
		return nil
	}
	return &ProgressBar{w: w}
}

// Update draws done of total pages.
func (p *ProgressBar) Update(done, total uint64) {
	if total < progressMinPages {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.on = now, true
	const width = 30
	fill := int(done * width / total)
	fmt.Fprintf(p.w, "\rscanning md region [%s%s] %3d%% %d/%d pages", strings.Repeat("#", fill), strings.Repeat(" ", width-fill), done*100/total, done, total)
}

// Done erases the bar, if one was drawn.
func (p *ProgressBar) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
