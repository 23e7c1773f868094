package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
)

// HoldKind is what holds a blob, so that SPDK's blob layer would answer a
// delete busy.
type HoldKind string

const (
	HoldChecksum HoldKind = "checksum"     // bdev_lvol_register_snapshot_checksum until its answer
	HoldCopy     HoldKind = "shallow-copy" // bdev_lvol_start_shallow_copy until complete/error
	HoldLocked   HoldKind = "locked-op"    // snapshot, clone, inflate, decouple/set parent, resize until the answer
)

// Resolver maps a name as a client gives it (alias "lvs/name" or uuid) to
// the lvol's uuid, from the target's own answer, so that a rename between
// the hold and the delete cannot hide the match; it also names the lvol's
// clones (aliases): deleting a snapshot merges it into its clone, which SPDK
// refuses busy while the clone has an operation in flight.
type Resolver interface {
	Resolve(ctx context.Context, name string) (Resolved, error)
}

// Resolved is what the target says about one lvol name.
type Resolved struct {
	UUID   string
	Clones []string // aliases "lvs/clone"
}

// ClientResolver resolves with bdev_get_bdevs {"name"}: the target looks up
// names and aliases itself.
type ClientResolver struct{ C *spdk.Client }

// Resolve implements Resolver.
func (r ClientResolver) Resolve(ctx context.Context, name string) (Resolved, error) {
	bs, err := r.C.GetBdevs(ctx, name)
	if err != nil {
		return Resolved{}, err
	}
	for _, b := range bs {
		if b.DriverSpecific == nil || b.DriverSpecific.Lvol == nil {
			continue
		}
		out := Resolved{UUID: strings.ToLower(b.UUID)}
		lvs := ""
		if len(b.Aliases) > 0 {
			lvs, _, _ = strings.Cut(b.Aliases[0], "/")
		}
		for _, c := range b.DriverSpecific.Lvol.Clones {
			out.Clones = append(out.Clones, lvs+"/"+c)
		}
		return out, nil
	}
	return Resolved{}, fmt.Errorf("%s: %w: not an lvol", name, spdk.ErrNotFound)
}

// Hold is one thing in flight that holds lvols.
type Hold struct {
	Kind   HoldKind
	Method string
	Names  []string // as the client named them
	Since  time.Time
	// OpID is a shallow copy's operation id once the target answered it.
	OpID  uint64
	hasOp bool

	uuids     []string      // set before resolved is closed
	resolved  chan struct{} // closed once uuids is final
	ended     chan struct{}
	lastCheck time.Time // of a copy: last status seen
}

// String describes h; callers hold the tracker's lock (see Describe).
func (h *Hold) String() string {
	s := fmt.Sprintf("%s %s of %s since %s", h.Kind, h.Method, strings.Join(h.Names, ","), h.Since.UTC().Format(time.RFC3339Nano))
	if h.hasOp {
		s += fmt.Sprintf(" (operation %d)", h.OpID)
	}
	return s
}

// Describe renders holds for logs and the journal.
func (t *Tracker) Describe(hs []*Hold) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// started reports whether h is a copy the target has given an operation id.
func (t *Tracker) started(h *Hold) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return h.hasOp
}

// Ended is closed when the hold ends.
func (h *Hold) Ended() <-chan struct{} { return h.ended }

// maxFinals bounds the copy statuses the guard read on a client's behalf.
const maxFinals = 1024

// Tracker is what holds each lvol, shared by every connection.
type Tracker struct {
	res Resolver
	now func() time.Time
	// settle keeps a hold for a moment after its end was seen: the real
	// target answers a checksum before it closes the snapshot, and a
	// delete sent on that answer found it still open (busy).
	settle time.Duration

	// changed gets a token whenever the holds change (for the saver).
	changed chan struct{}

	mu         sync.Mutex
	holds      map[*Hold]struct{}
	copies     map[uint64]*Hold
	finals     map[uint64]json.RawMessage
	finalOrder []uint64
	deletes    map[*Delete]struct{}
}

// NewTracker makes a tracker resolving names with res.
func NewTracker(res Resolver) *Tracker {
	return &Tracker{res: res, now: time.Now, holds: map[*Hold]struct{}{}, copies: map[uint64]*Hold{}, finals: map[uint64]json.RawMessage{},
		changed: make(chan struct{}, 1)}
}

func (t *Tracker) touch() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// Len is the number of holds.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.holds)
}

// Begin records a hold of names and resolves them in the background.
func (t *Tracker) Begin(kind HoldKind, method string, names []string) *Hold {
	return t.beginAt(kind, method, names, t.now())
}

func (t *Tracker) beginAt(kind HoldKind, method string, names []string, since time.Time) *Hold {
	h := &Hold{Kind: kind, Method: method, Names: names, Since: since, resolved: make(chan struct{}), ended: make(chan struct{})}
	t.mu.Lock()
	t.holds[h] = struct{}{}
	t.mu.Unlock()
	t.touch()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var us []string
		for _, n := range names {
			if r, err := t.res.Resolve(ctx, n); err == nil {
				us = append(us, r.UUID)
			}
		}
		h.uuids = us
		close(h.resolved)
	}()
	return h
}

// End ends h once it has settled; ending twice is harmless.
func (t *Tracker) End(h *Hold) {
	if t.settle > 0 {
		time.AfterFunc(t.settle, func() { t.end(h) })
		return
	}
	t.end(h)
}

func (t *Tracker) end(h *Hold) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.holds[h]; !ok {
		return
	}
	delete(t.holds, h)
	if h.hasOp && t.copies[h.OpID] == h {
		delete(t.copies, h.OpID)
	}
	close(h.ended)
	t.touch()
}

// SetOp gives a copy hold the operation id the target answered.
func (t *Tracker) SetOp(h *Hold, op uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.holds[h]; !ok {
		return
	}
	h.OpID, h.hasOp, h.lastCheck = op, true, t.now()
	t.copies[op] = h
	t.touch()
}

// CopyStatus takes a bdev_lvol_check_shallow_copy result seen for op (by a
// client or by the guard's own poll): complete or error ends the copy.
// mine marks a status the guard read itself: a final one is kept for the
// client, since the target forgets the operation once its end was read.
func (t *Tracker) CopyStatus(op uint64, result json.RawMessage, mine bool) {
	var st spdk.ShallowCopyStatus
	if json.Unmarshal(result, &st) != nil {
		return
	}
	t.mu.Lock()
	h := t.copies[op]
	if h != nil {
		h.lastCheck = t.now()
	}
	final := st.State == spdk.ShallowCopyComplete || st.State == spdk.ShallowCopyError
	if final && mine {
		if len(t.finalOrder) >= maxFinals {
			delete(t.finals, t.finalOrder[0])
			t.finalOrder = t.finalOrder[1:]
		}
		t.finals[op] = append(json.RawMessage(nil), result...)
		t.finalOrder = append(t.finalOrder, op)
	}
	t.mu.Unlock()
	if final && h != nil {
		t.End(h)
	}
}

// CopyGone: the target no longer knows op (its end was read elsewhere).
func (t *Tracker) CopyGone(op uint64) {
	t.mu.Lock()
	h := t.copies[op]
	t.mu.Unlock()
	if h != nil {
		t.End(h)
	}
}

// TakeFinal returns, once, a final status the guard read on a client's
// behalf.
func (t *Tracker) TakeFinal(op uint64) (json.RawMessage, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.finals[op]
	if ok {
		delete(t.finals, op)
		for i, o := range t.finalOrder {
			if o == op {
				t.finalOrder = append(t.finalOrder[:i], t.finalOrder[i+1:]...)
				break
			}
		}
	}
	return r, ok
}

// Copies lists copy holds whose status is older than age.
func (t *Tracker) Copies(age time.Duration) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []uint64
	for op, h := range t.copies {
		if t.now().Sub(h.lastCheck) >= age {
			out = append(out, op)
		}
	}
	return out
}

// Holders returns the holds on the lvol a client names (or on its clone,
// which a snapshot's delete touches too), and its uuid ("" if the target
// does not know the name). Holds still resolving are waited for (bounded by
// ctx); a hold whose names did not resolve matches by name.
func (t *Tracker) Holders(ctx context.Context, name string) ([]*Hold, string) {
	t.mu.Lock()
	hs := make([]*Hold, 0, len(t.holds))
	for h := range t.holds {
		hs = append(hs, h)
	}
	t.mu.Unlock()
	if len(hs) == 0 {
		return nil, ""
	}
	r, _ := t.res.Resolve(ctx, name)
	names, uuids := []string{name}, []string{}
	if r.UUID != "" {
		uuids = append(uuids, r.UUID)
	}
	for _, c := range r.Clones {
		names = append(names, c)
		if cr, err := t.res.Resolve(ctx, c); err == nil {
			uuids = append(uuids, cr.UUID)
		}
	}
	var out []*Hold
	for _, h := range hs {
		select {
		case <-h.resolved:
		case <-ctx.Done():
		}
		if holds(h, names, uuids) {
			out = append(out, h)
		}
	}
	return out, r.UUID
}

func holds(h *Hold, names, uuids []string) bool {
	for _, n := range h.Names {
		for _, m := range names {
			if n == m {
				return true
			}
		}
		for _, u := range uuids {
			if strings.EqualFold(n, u) {
				return true
			}
		}
	}
	select {
	case <-h.resolved:
	default:
		return false
	}
	for _, hu := range h.uuids {
		for _, u := range uuids {
			if hu == u {
				return true
			}
		}
	}
	return false
}

// Delete is a bdev_lvol_delete the guard let through, until its answer. A
// request that would take a hold on the same lvol waits for it: the target
// may run requests of two connections in either order, and a checksum it
// started just before the delete would make that delete busy.
type Delete struct {
	name string
	uuid string
	done chan struct{}
}

// BeginDelete registers a delete before its holds are looked at (and a
// hold is registered before deletes are looked at), so that of two racing
// requests at least one sees the other.
func (t *Tracker) BeginDelete(name, uuid string) *Delete {
	d := &Delete{name: name, uuid: uuid, done: make(chan struct{})}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deletes == nil {
		t.deletes = map[*Delete]struct{}{}
	}
	t.deletes[d] = struct{}{}
	return d
}

// EndDelete ends d; ending twice is harmless.
func (t *Tracker) EndDelete(d *Delete) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.deletes[d]; ok {
		delete(t.deletes, d)
		close(d.done)
	}
}

// WaitDeletes waits (bounded by ctx) until no delete in flight names an
// lvol that h holds.
func (t *Tracker) WaitDeletes(ctx context.Context, h *Hold) {
	t.mu.Lock()
	ds := make([]*Delete, 0, len(t.deletes))
	for d := range t.deletes {
		ds = append(ds, d)
	}
	t.mu.Unlock()
	if len(ds) == 0 {
		return
	}
	select {
	case <-h.resolved:
	case <-ctx.Done():
	}
	for _, d := range ds {
		uuid := d.uuid
		if uuid == "" {
			if r, err := t.res.Resolve(ctx, d.name); err == nil {
				uuid = r.UUID
			}
		}
		var us []string
		if uuid != "" {
			us = []string{uuid}
		}
		if !holds(h, []string{d.name}, us) {
			continue
		}
		select {
		case <-d.done:
		case <-ctx.Done():
			return
		}
	}
}
