package sim

import "github.com/lvfsck/lvfsck/spdk"

// NotifyRingSize is the number of events SPDK's notify library keeps.
const NotifyRingSize = 1024

// Event is one notify_get_notifications entry, in the client's shape.
type Event = spdk.Notification

// Event types the sim emits (notify_get_types lists the target's types).
const (
	EventBdevRegister   = spdk.NotifyBdevRegister
	EventBdevUnregister = spdk.NotifyBdevUnregister
)

// notifyTypes is the real target's answer to notify_get_types, in its order.
var notifyTypes = []string{"fsdev_register", "fsdev_unregister", "bdev_register", "bdev_unregister"}

// ring keeps the last NotifyRingSize events; ids count from 0 in each run.
type ring struct {
	buf  []Event
	next uint64 // id of the next event
}

func (r *ring) add(typ, ctx string) {
	e := Event{Type: typ, Ctx: ctx, ID: r.next}
	r.next++
	if len(r.buf) < NotifyRingSize {
		r.buf = append(r.buf, e)
		return
	}
	copy(r.buf, r.buf[1:])
	r.buf[len(r.buf)-1] = e
}

// since returns up to max events with id >= id (max 0 = all), oldest first.
func (r *ring) since(id uint64, max uint64) []Event {
	out := []Event{}
	for _, e := range r.buf {
		if e.ID < id {
			continue
		}
		if max != 0 && uint64(len(out)) >= max {
			break
		}
		out = append(out, e)
	}
	return out
}
