package collect

import (
	"fmt"
	"slices"

	"github.com/lvfsck/lvfsck/reconcile"
)

// Flux is what changed on a busy target while a check read its devices:
// the lvols whose live view taken before the read differs from the one
// taken after it, or that the notify ring shows an event for in between.
// What the disk says about them may be older or newer than either view, so
// a disagreement about them is no evidence of damage.
type Flux struct {
	// UUIDs maps each lvol in flux to what changed.
	UUIDs map[string]string
	// Names holds the lvstore/name aliases of those lvols (before or after):
	// a lvol created under a name another one just left is in flux too.
	Names map[string]bool
}

// Empty tells whether nothing changed.
func (f Flux) Empty() bool { return len(f.UUIDs) == 0 }

// Has tells whether the lvol of uuid or alias is in flux.
func (f Flux) Has(uuid, alias string) (string, bool) {
	if why, ok := f.UUIDs[uuid]; ok && uuid != "" {
		return why, true
	}
	if alias != "" && f.Names[alias] {
		return "another lvol under this name changed during the check", true
	}
	return "", false
}

// InFlux compares the live views taken before and after the device read.
// An lvol that appeared, vanished, or changed its attributes (name, size,
// thin, snapshot or clone, base snapshot, clones) is in flux, and so is
// every bdev the notify ring saw register or unregister after the first
// view (a lvol created and deleted in between shows only there).
func InFlux(before, after reconcile.Live) Flux {
	f := Flux{UUIDs: map[string]string{}, Names: map[string]bool{}}
	mark := func(l reconcile.LiveLvol, why string) {
		if _, ok := f.UUIDs[l.UUID]; !ok {
			f.UUIDs[l.UUID] = why
		}
		if l.Alias != "" {
			f.Names[l.Alias] = true
		}
	}
	was := make(map[string]reconcile.LiveLvol, len(before.Lvols))
	for _, l := range before.Lvols {
		was[l.UUID] = l
	}
	now := make(map[string]bool, len(after.Lvols))
	for _, l := range after.Lvols {
		now[l.UUID] = true
		b, ok := was[l.UUID]
		switch {
		case !ok:
			mark(l, "appeared in the live view during the check")
		case !sameLvol(b, l):
			mark(b, "changed in the live view during the check")
			mark(l, "changed in the live view during the check")
		}
	}
	for _, l := range before.Lvols {
		if !now[l.UUID] {
			mark(l, "left the live view during the check")
		}
	}
	if before.NotifyAvailable && after.NotifyAvailable {
		var last uint64
		seen := len(before.Notifications) > 0
		for _, n := range before.Notifications {
			last = max(last, n.ID)
		}
		for _, n := range after.Notifications {
			if seen && n.ID <= last {
				continue
			}
			why := fmt.Sprintf("notify %s (id %d) during the check", n.Type, n.ID)
			if _, ok := f.UUIDs[n.Ctx]; !ok {
				f.UUIDs[n.Ctx] = why
			}
		}
	}
	for _, l := range append(slices.Clone(before.Lvols), after.Lvols...) {
		if _, ok := f.UUIDs[l.UUID]; ok && l.Alias != "" {
			f.Names[l.Alias] = true
		}
	}
	return f
}

func sameLvol(a, b reconcile.LiveLvol) bool {
	return a.Name == b.Name && a.Alias == b.Alias && a.LvstoreUUID == b.LvstoreUUID &&
		a.Thin == b.Thin && a.Snapshot == b.Snapshot && a.Clone == b.Clone &&
		a.EsnapClone == b.EsnapClone && a.Degraded == b.Degraded &&
		a.BaseSnapshot == b.BaseSnapshot && a.SizeBytes == b.SizeBytes &&
		slices.Equal(a.Clones, b.Clones) && equalRO(a.ReadOnly, b.ReadOnly)
}

func equalRO(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
