package collect

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/spdk"
)

// LiveSource is the part of the spdk client the live view needs.
type LiveSource interface {
	GetLvstores(ctx context.Context, q spdk.LvstoreQuery) ([]spdk.Lvstore, error)
	GetLvols(ctx context.Context, q spdk.LvolQuery) ([]spdk.Lvol, error)
	GetBdevs(ctx context.Context, name string) ([]spdk.Bdev, error)
	NotifyGetNotifications(ctx context.Context, fromID, max uint64) ([]spdk.Notification, error)
}

var _ LiveSource = (*spdk.Client)(nil)

// Answers are the raw RPC answers one live view is built from: what a
// support bundle holds, and what Live asks a target for.
type Answers struct {
	Lvstores []spdk.Lvstore
	Lvols    []spdk.Lvol
	// Bdevs is nil when bdev_get_bdevs was not available; then clones'
	// base snapshots, sizes and device files are unknown.
	Bdevs []spdk.Bdev
	// Notifications is the notify ring from id 0; NotifyAvailable is false
	// when the target does not offer it or it was not captured.
	Notifications   []spdk.Notification
	NotifyAvailable bool
}

// maxNotifications bounds the ring kept: SPDK's holds 1024 events; a
// target that answers more is not SPDK's notify library.
const maxNotifications = 1 << 16

// Fetch asks the target for the answers a live view needs. The lvstore and
// lvol lists are required; bdev_get_bdevs and the notify ring are evidence
// that may be missing: a target without notify_get_notifications (-32601)
// gives NotifyAvailable false, and so does any other notify error, which is
// returned in notes rather than failing the check.
func Fetch(ctx context.Context, src LiveSource) (a Answers, notes []string, err error) {
	if a.Lvstores, err = src.GetLvstores(ctx, spdk.LvstoreQuery{}); err != nil {
		return Answers{}, nil, err
	}
	if a.Lvols, err = src.GetLvols(ctx, spdk.LvolQuery{}); err != nil {
		return Answers{}, nil, err
	}
	if a.Bdevs, err = src.GetBdevs(ctx, ""); err != nil {
		// Without bdevs the RPC-only checks lose the clone's base snapshot
		// name; the comparison with the disk still stands.
		if ctx.Err() != nil {
			return Answers{}, nil, err
		}
		notes = append(notes, fmt.Sprintf("%v: clones' base snapshots and device files are unknown", err))
		a.Bdevs = nil
	} else if a.Bdevs == nil {
		a.Bdevs = []spdk.Bdev{}
	}
	evs, err := src.NotifyGetNotifications(ctx, 0, 0)
	switch {
	case err == nil:
		a.Notifications, a.NotifyAvailable = evs, true
		if len(evs) > maxNotifications {
			a.Notifications = evs[len(evs)-maxNotifications:]
		}
	case errors.Is(err, spdk.ErrMethodNotFound):
		notes = append(notes, "the target has no notify_get_notifications: no notify evidence")
	case ctx.Err() != nil:
		return Answers{}, nil, err
	default:
		notes = append(notes, fmt.Sprintf("%v: no notify evidence", err))
	}
	return a, notes, nil
}

// Live fetches the answers and builds the live view.
func Live(ctx context.Context, src LiveSource) (reconcile.Live, []string, error) {
	a, notes, err := Fetch(ctx, src)
	if err != nil {
		return reconcile.Live{}, notes, err
	}
	return BuildLive(a), notes, nil
}

// BuildLive merges the answers into reconcile's live view: each lvol is
// completed from its bdev (an lvol bdev is named by the lvol's uuid) with
// driver_specific.lvol (base snapshot, clones) and num_blocks*block_size;
// each lvstore gets its base bdev's file when that bdev is an AIO bdev.
func BuildLive(a Answers) reconcile.Live {
	bdevs := spdk.IndexBdevs(a.Bdevs)
	var live reconcile.Live
	live.Lvstores = make([]reconcile.LiveLvstore, 0, len(a.Lvstores))
	for _, s := range a.Lvstores {
		ls := reconcile.LiveLvstore{UUID: s.UUID, Name: s.Name, BaseBdev: s.BaseBdev, ClusterSize: s.ClusterSize}
		ls.Device = bdevs[s.BaseBdev].AioFilename()
		live.Lvstores = append(live.Lvstores, ls)
	}
	live.Lvols = make([]reconcile.LiveLvol, 0, len(a.Lvols))
	for _, l := range a.Lvols {
		ll := reconcile.LiveLvol{
			UUID: l.UUID, Name: l.Name, Alias: l.Alias,
			LvstoreUUID: l.Lvs.UUID, LvstoreName: l.Lvs.Name,
			Thin: l.IsThinProvisioned, Snapshot: l.IsSnapshot, Clone: l.IsClone,
			EsnapClone: l.IsEsnapClone, Degraded: l.IsDegraded,
		}
		if b := bdevs.LvolBdev(l); b.LvolDriver() != nil {
			d := b.LvolDriver()
			ll.ParentReported = true
			ll.BaseSnapshot = d.BaseSnapshot
			ll.Clones = d.Clones
			ll.SizeBytes = b.SizeBytes()
		}
		live.Lvols = append(live.Lvols, ll)
	}
	if a.NotifyAvailable {
		live.NotifyAvailable = true
		live.Notifications = make([]reconcile.Notify, 0, len(a.Notifications))
		for _, n := range a.Notifications {
			live.Notifications = append(live.Notifications, reconcile.Notify{ID: n.ID, Type: n.Type, Ctx: n.Ctx})
		}
	}
	return live
}

// Devices returns the device files of the live lvstores (their AIO base
// bdevs' filenames), sorted and without duplicates. Lvstores on other bdev
// types have no file lvfsck can find; Undiscovered names them.
func Devices(live reconcile.Live) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range live.Lvstores {
		if s.Device != "" && !seen[s.Device] {
			seen[s.Device] = true
			out = append(out, s.Device)
		}
	}
	sort.Strings(out)
	return out
}

// Undiscovered returns the names of live lvstores whose base bdev names no
// file (not an AIO bdev, or bdev_get_bdevs not available).
func Undiscovered(live reconcile.Live) []string {
	var out []string
	for _, s := range live.Lvstores {
		if s.Device == "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// ResolveDevices makes relative device files absolute against dir, the
// target's working directory (an AIO bdev's filename is as the caller of
// bdev_aio_create gave it, relative to spdk_tgt's cwd, not to ours).
func ResolveDevices(live *reconcile.Live, dir string) {
	if dir == "" {
		return
	}
	for i := range live.Lvstores {
		d := live.Lvstores[i].Device
		if d != "" && !filepath.IsAbs(d) {
			live.Lvstores[i].Device = filepath.Join(dir, d)
		}
	}
}
