package adapt

import (
	"context"
	"strings"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/spdk"
)

// Client is the part of *spdk.Client the Target needs (an interface so that
// tests can count or stall calls).
type Client interface {
	collect.LiveSource // the lvstore, lvol and bdev queries
	GetNvmfSubsystems(ctx context.Context) ([]spdk.NvmfSubsystem, error)
	HasMethod(ctx context.Context, method string) (bool, error)
	StopSnapshotChecksum(ctx context.Context, name string) error
	DeleteLvol(ctx context.Context, name string) error
	GetIostat(ctx context.Context, name string) (spdk.Iostat, error)
	AioDelete(ctx context.Context, name string) error
	AioCreate(ctx context.Context, name, filename string, blockSize uint32) (string, error)
}

var _ Client = (*spdk.Client)(nil)

// Target is repair.Target over a JSON-RPC client. Every error is passed
// through repair.Classify, so the executor's errors.Is checks work.
type Target struct {
	C Client
}

var _ repair.Target = (*Target)(nil)

// NewTarget wraps c.
func NewTarget(c Client) *Target { return &Target{C: c} }

// classify maps err onto repair's sentinels. The method is not named
// again: spdk's errors name it ("spdk rpc bdev_lvol_delete: ...").
func classify(err error) error {
	if err == nil {
		return nil
	}
	return repair.Classify(err, spdk.ErrBusy, spdk.ErrNotFound, spdk.ErrMethodNotFound, spdk.ErrInvalidParams)
}

// Lvstores is bdev_lvol_get_lvstores.
func (t *Target) Lvstores(ctx context.Context) ([]repair.Lvstore, error) {
	ls, err := t.C.GetLvstores(ctx, spdk.LvstoreQuery{})
	if err != nil {
		return nil, classify(err)
	}
	out := make([]repair.Lvstore, 0, len(ls))
	for _, s := range ls {
		out = append(out, repair.Lvstore{UUID: s.UUID, Name: s.Name, BaseBdev: s.BaseBdev})
	}
	return out, nil
}

// Lvols is bdev_lvol_get_lvols merged with bdev_get_bdevs: v24.09's
// get_lvols has no base snapshot and no clone list, the lvol bdev's
// driver_specific.lvol has both. Without the bdevs the guard on clones
// could not be evaluated, so their failure is the call's failure.
func (t *Target) Lvols(ctx context.Context) ([]repair.Lvol, error) {
	ls, err := t.C.GetLvols(ctx, spdk.LvolQuery{})
	if err != nil {
		return nil, classify(err)
	}
	bdevs, err := t.C.GetBdevs(ctx, "")
	if err != nil {
		return nil, classify(err)
	}
	ix := spdk.IndexBdevs(bdevs)
	out := make([]repair.Lvol, 0, len(ls))
	for _, l := range ls {
		lv := repair.Lvol{
			UUID: strings.ToLower(l.UUID), Name: l.Name, Alias: l.Alias,
			LvstoreUUID: l.Lvs.UUID, LvstoreName: l.Lvs.Name,
			Snapshot: l.IsSnapshot, Clone: l.IsClone,
		}
		if lv.Alias == "" && lv.LvstoreName != "" {
			lv.Alias = lv.LvstoreName + "/" + lv.Name
		}
		if d := ix.LvolBdev(l).LvolDriver(); d != nil {
			lv.BaseSnapshot = d.BaseSnapshot
			lv.Clones = append([]string(nil), d.Clones...)
			lv.Snapshot = lv.Snapshot || d.Snapshot
			lv.Clone = lv.Clone || d.Clone
		}
		out = append(out, lv)
	}
	return out, nil
}

// Bdevs is bdev_get_bdevs.
func (t *Target) Bdevs(ctx context.Context) ([]repair.Bdev, error) {
	bs, err := t.C.GetBdevs(ctx, "")
	if err != nil {
		return nil, classify(err)
	}
	out := make([]repair.Bdev, 0, len(bs))
	for i := range bs {
		b := &bs[i]
		rb := repair.Bdev{Name: b.Name, Aliases: append([]string(nil), b.Aliases...), Product: b.ProductName,
			Claimed: b.Claimed, ClaimType: b.ClaimType, AioFilename: b.AioFilename()}
		// A block size that does not fit 32 bits is no block size.
		if b.BlockSize <= 1<<31 {
			rb.BlockSize = uint32(b.BlockSize)
		}
		out = append(out, rb)
	}
	return out, nil
}

// Namespaces is nvmf_get_subsystems, one entry per namespace. A target
// without the nvmf module answers "Method not found" (ErrMethodNotFound).
func (t *Target) Namespaces(ctx context.Context) ([]repair.Namespace, error) {
	subs, err := t.C.GetNvmfSubsystems(ctx)
	if err != nil {
		return nil, classify(err)
	}
	var out []repair.Namespace
	for _, s := range subs {
		for _, ns := range s.Namespaces {
			out = append(out, repair.Namespace{NQN: s.NQN, NSID: ns.NSID, BdevName: ns.BdevName})
		}
	}
	return out, nil
}

// HasMethod asks rpc_get_methods (cached by the client per connection).
func (t *Target) HasMethod(ctx context.Context, name string) (bool, error) {
	ok, err := t.C.HasMethod(ctx, name)
	return ok, classify(err)
}

// StopSnapshotChecksum is Longhorn's bdev_lvol_stop_snapshot_checksum.
func (t *Target) StopSnapshotChecksum(ctx context.Context, name string) error {
	return classify(t.C.StopSnapshotChecksum(ctx, name))
}

// DeleteLvol is bdev_lvol_delete.
func (t *Target) DeleteLvol(ctx context.Context, name string) error {
	return classify(t.C.DeleteLvol(ctx, name))
}

// IOStats is bdev_get_iostat for every bdev.
func (t *Target) IOStats(ctx context.Context) ([]repair.IOStat, error) {
	st, err := t.C.GetIostat(ctx, "")
	if err != nil {
		return nil, classify(err)
	}
	out := make([]repair.IOStat, 0, len(st.Bdevs))
	for _, b := range st.Bdevs {
		out = append(out, repair.IOStat{Name: b.Name, BytesRead: b.BytesRead, BytesWritten: b.BytesWritten,
			BytesUnmapped: b.BytesUnmapped, NumReadOps: b.NumReadOps, NumWriteOps: b.NumWriteOps})
	}
	return out, nil
}

// AioDelete is bdev_aio_delete. The client gives up when ctx is done, even
// if the target never answers (a wedged unload).
func (t *Target) AioDelete(ctx context.Context, name string) error {
	return classify(t.C.AioDelete(ctx, name))
}

// AioCreate is bdev_aio_create with the same file, name and block size.
func (t *Target) AioCreate(ctx context.Context, filename, name string, blockSize uint32) error {
	_, err := t.C.AioCreate(ctx, name, filename, blockSize)
	return classify(err)
}
