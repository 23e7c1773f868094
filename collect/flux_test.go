package collect

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/reconcile"
)

func TestInFlux(t *testing.T) {
	a := reconcile.LiveLvol{UUID: "a", Alias: "lvs/a", Name: "a"}
	b := reconcile.LiveLvol{UUID: "b", Alias: "lvs/b", Name: "b"}
	bClone := b
	bClone.Clone, bClone.BaseSnapshot = true, "s"
	c := reconcile.LiveLvol{UUID: "c", Alias: "lvs/c", Name: "c"}
	ring := func(evs ...reconcile.Notify) ([]reconcile.Notify, bool) { return evs, true }
	for _, tc := range []struct {
		name          string
		before, after reconcile.Live
		uuids         []string
		names         []string
	}{
		{"quiet", reconcile.Live{Lvols: []reconcile.LiveLvol{a, b}}, reconcile.Live{Lvols: []reconcile.LiveLvol{a, b}}, nil, nil},
		{"appeared", reconcile.Live{Lvols: []reconcile.LiveLvol{a}}, reconcile.Live{Lvols: []reconcile.LiveLvol{a, c}}, []string{"c"}, []string{"lvs/c"}},
		{"left", reconcile.Live{Lvols: []reconcile.LiveLvol{a, c}}, reconcile.Live{Lvols: []reconcile.LiveLvol{a}}, []string{"c"}, []string{"lvs/c"}},
		{"snapshotted", reconcile.Live{Lvols: []reconcile.LiveLvol{a, b}}, reconcile.Live{Lvols: []reconcile.LiveLvol{a, bClone}}, []string{"b"}, []string{"lvs/b"}},
		{"created and deleted in between: the ring only", func() reconcile.Live {
			l := reconcile.Live{Lvols: []reconcile.LiveLvol{a}}
			l.Notifications, l.NotifyAvailable = ring(reconcile.Notify{ID: 0, Type: "bdev_register", Ctx: "a"})
			return l
		}(), func() reconcile.Live {
			l := reconcile.Live{Lvols: []reconcile.LiveLvol{a}}
			l.Notifications, l.NotifyAvailable = ring(reconcile.Notify{ID: 0, Type: "bdev_register", Ctx: "a"},
				reconcile.Notify{ID: 1, Type: "bdev_register", Ctx: "x"}, reconcile.Notify{ID: 2, Type: "bdev_unregister", Ctx: "x"})
			return l
		}(), []string{"x"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := InFlux(tc.before, tc.after)
			var uuids, names []string
			for u := range f.UUIDs {
				uuids = append(uuids, u)
			}
			for n := range f.Names {
				names = append(names, n)
			}
			require.ElementsMatch(t, tc.uuids, uuids)
			require.ElementsMatch(t, tc.names, names)
			require.Equal(t, len(tc.uuids) == 0, f.Empty())
			for _, u := range tc.uuids {
				_, ok := f.Has(u, "")
				require.True(t, ok)
			}
			_, ok := f.Has("a", "lvs/a")
			require.False(t, ok, "a never changed")
		})
	}
}
