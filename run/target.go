package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/internal/procfs"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk"
)

// DefaultSocket is spdk_tgt's JSON-RPC socket unless told otherwise.
const DefaultSocket = spdk.DefaultSocket

// TargetConfig is how a command reaches spdk_tgt.
type TargetConfig struct {
	Socket      string
	Incarnation string        // "": asked from the socket peer
	Timeout     time.Duration // of each RPC call
	ProcRoot    string        // "" means /proc; tests point it elsewhere
	Log         zerolog.Logger
}

// Target is a target reached by Connect: the connection, who it is, and
// what it held when asked.
type Target struct {
	Client *spdk.Client
	Socket string
	// Incarnation identifies the target run ("" when unknown); PID is its
	// process, when the socket peer told it.
	Incarnation string
	PID         int
	// Start is when the target started, zero when that cannot be told
	// (another boot, or no incarnation).
	Start time.Time
	Live  reconcile.Live
	// Notes are what the operator should be told (an unknown incarnation,
	// evidence the target could not give).
	Notes []string
}

// Close closes the connection.
func (t *Target) Close() {
	if t.Client != nil {
		t.Client.Close()
	}
}

// Connect is every command's way to a live target: dial, ask who it is,
// and read its live view. Failures are *report.Failure (32 when ctx was
// cancelled, else 8); on a failure after the dial, the Target returned
// holds the connection and the notes so far, and the caller closes it.
func Connect(ctx context.Context, cfg TargetConfig) (*Target, error) {
	t := &Target{Socket: cfg.Socket}
	c, err := Dial(ctx, cfg.Socket, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	t.Client = c
	t.Incarnation = cfg.Incarnation
	var inc spdk.Incarnation
	if t.Incarnation == "" {
		inc, err = c.Incarnation(ctx)
		if err != nil {
			t.note(cfg.Log, "target incarnation unknown (%v): restarts cannot be told apart and \"listed earlier in this target run\" is not used as evidence; pass --incarnation", err)
		} else {
			t.Incarnation = inc.String()
			if inc.Visible(procRoot(cfg.ProcRoot)) {
				// a guard may name a target of another pid namespace
				t.PID = inc.PID
			}
		}
	} else {
		inc, err = spdk.ParseIncarnation(t.Incarnation)
	}
	if err == nil {
		// Log lines imported from before the target started are about
		// an earlier run of it; failing that, none is excluded.
		if t.Start, err = collect.TargetStart(procRoot(cfg.ProcRoot), inc); err != nil {
			cfg.Log.Debug().Err(err).Msg("target start time")
		}
	}
	live, notes, err := collect.Live(ctx, c)
	for _, n := range notes {
		t.note(cfg.Log, "%s", n)
	}
	if err != nil {
		if ctx.Err() != nil {
			return t, report.Fail(report.ExitCancelled, fmt.Errorf("cancelled while reading the live view: %w", err))
		}
		return t, report.Fail(report.ExitOperational, fmt.Errorf("live view from %s: %w", cfg.Socket, err))
	}
	t.Live = live
	return t, nil
}

// Dial connects to the target at socket, with the one message that says
// what to look at when it is not there.
func Dial(ctx context.Context, socket string, timeout time.Duration) (*spdk.Client, error) {
	c, err := spdk.Dial(ctx, socket, spdk.WithTimeout(timeout))
	if err != nil {
		if ctx.Err() != nil {
			return nil, report.Fail(report.ExitCancelled, fmt.Errorf("cancelled while connecting to %s", socket))
		}
		return nil, report.Fail(report.ExitOperational, fmt.Errorf("cannot reach spdk_tgt at %s: %w (is it running? is --socket right?)", socket, err))
	}
	return c, nil
}

// Relive reads the target's live view again.
func (t *Target) Relive(ctx context.Context) (reconcile.Live, error) {
	live, _, err := collect.Live(ctx, t.Client)
	return live, err
}

// Devices finds the lvstores' base devices in the live view (see
// collect.DiscoverDevices), after moving the paths under /proc/<pid>/root
// when the target runs in another mount namespace (throughPID > 0).
func (t *Target) Devices(procRoot string, throughPID int) (devices, undiscovered []string) {
	if throughPID > 0 {
		collect.ThroughProc(&t.Live, procRoot, throughPID)
	}
	return collect.DiscoverDevices(&t.Live, t.PID, procRoot)
}

// The notes go in the report; a warn log would repeat them on stderr (as a
// JSON line when stderr is not a terminal) beside the human report.
func (t *Target) note(log zerolog.Logger, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	t.Notes = append(t.Notes, msg)
	log.Info().Msg(msg)
}

func procRoot(p string) string {
	if p == "" {
		return procfs.Default
	}
	return p
}

// TargetProcess is the pid of the one process named name (its comm or
// argv[0] basename, see procfs.FS.FindProcess). Failures are
// *report.Failure: 8 when there is none, 16 (usage) when several.
func TargetProcess(name string) (int, error) {
	pid, err := procfs.FS(procfs.Default).FindProcess(name)
	var amb *procfs.AmbiguousProcessError
	switch {
	case errors.Is(err, procfs.ErrNoProcess):
		return 0, report.Fail(report.ExitOperational, errors.New("no process named "+name+" (is spdk_tgt running? hostPID: true in the pod?)"))
	case errors.As(err, &amb):
		return 0, report.Fail(report.ExitUsage, fmt.Errorf("%v: choose one with --target-pid", amb))
	case err != nil:
		return 0, report.Fail(report.ExitOperational, err)
	}
	return pid, nil
}

// SocketThroughProc is the target's socket path, as pid sees it, reached
// through /proc/<pid>/root.
func SocketThroughProc(pid int, socket string) string {
	return procfs.FS(procfs.Default).Through(pid, socket)
}

// CancelWhenGone is ctx, cancelled once the target process pid ends; the
// func returned stops watching and says whether it ended.
func CancelWhenGone(ctx context.Context, pid int) (context.Context, func() bool) {
	return procfs.FS(procfs.Default).CancelWhenGone(ctx, pid, time.Second)
}
