package repair

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels the Target adapter must map the target's answers onto (wrap them,
// so errors.Is works): the executor branches on them and nothing else.
var (
	// ErrBusy: bdev_lvol_delete answered -EBUSY ("Device or resource busy",
	// JSON-RPC code -32603 on v24.09, or -16). On an unfixed target the lvol
	// may already be dropped from memory; the executor looks at once.
	ErrBusy = errors.New("target answered busy")
	// ErrNotFound: the target answered -19 "No such device" (or -ENOENT).
	// Never a success on its own: the disk decides.
	ErrNotFound = errors.New("target answered no such device")
	// ErrMethodNotFound: JSON-RPC -32601 "Method not found".
	ErrMethodNotFound = errors.New("target has no such method")
	// ErrInvalid: the target answered "Invalid argument" (-32603 with that
	// strerror, or -22). A delete retried on an lvol that a fixed target
	// hid after a busy answer gets it (fixtures/fixed-busy).
	ErrInvalid = errors.New("target answered invalid argument")
)

// Errors of this package.
var (
	// ErrRefused: a guard refused the operation; nothing was changed. The
	// concrete error is a *RefusedError.
	ErrRefused = errors.New("refused")
	// ErrNotConfirmed: Apply was called without Yes (and not as a dry run).
	ErrNotConfirmed = errors.New("repair not confirmed: pass --yes or confirm at the prompt")
	// ErrReloadWedged: bdev_aio_delete did not answer within its deadline.
	ErrReloadWedged = errors.New("lvstore unload did not finish")
	// ErrUnverified: the disk could not be read, so a deletion cannot be
	// verified; the journal intent stays open for the next run.
	ErrUnverified = errors.New("cannot verify on disk")
)

// Reason says which guard refused.
type Reason string

const (
	ReasonClones    Reason = "more-than-one-clone"
	ReasonClaimed   Reason = "bdev-claimed"
	ReasonExported  Reason = "exported-nvmf"
	ReasonBusy      Reason = "busy"           // fixed semantics, --wait ran out
	ReasonNotAIO    Reason = "base-not-aio"   // reload: base bdev is not an AIO bdev
	ReasonBaseIO    Reason = "base-io"        // reload: base bdev I/O the lvols do not explain
	ReasonLvolIO    Reason = "lvol-io"        // reload: an lvol of the lvstore is doing I/O
	ReasonNoLvstore Reason = "lvstore-absent" // reload: lvstore not in the live view
	ReasonZombie    Reason = "hidden-zombie"  // reload: an lvol of the lvstore may be a fixed target's hidden zombie
)

// RefusedError is a guard's refusal. Nothing was changed on the target.
type RefusedError struct {
	Reason Reason
	// Lvol is the alias (or uuid) the refusal is about; Names lists every
	// object that tripped the guard (lvols, claims, NQNs).
	Lvol   string
	Names  []string
	Detail string
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refused (%s)", e.Reason)
	if e.Lvol != "" {
		fmt.Fprintf(&b, " %s", e.Lvol)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if len(e.Names) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(e.Names, ", "))
	}
	b.WriteString("; nothing was changed")
	return b.String()
}

// Is makes errors.Is(err, ErrRefused) true for every refusal.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// NotFoundError: the lvol is in neither the live view nor on disk.
type NotFoundError struct{ Ref string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("lvol %s: not in the live view and no blob on disk carries it", e.Ref)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Classify is for Target adapters: it wraps err with this package's
// sentinel when errors.Is(err, busy / notFound / methodNotFound / invalid)
// (the client's own sentinels), keeping err in the chain. Nil stays nil; a
// nil sentinel matches nothing.
func Classify(err, busy, notFound, methodNotFound, invalid error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ theirs, ours error }{{busy, ErrBusy}, {notFound, ErrNotFound}, {methodNotFound, ErrMethodNotFound}, {invalid, ErrInvalid}} {
		if m.theirs != nil && errors.Is(err, m.theirs) {
			return fmt.Errorf("%w: %w", m.ours, err)
		}
	}
	return err
}
