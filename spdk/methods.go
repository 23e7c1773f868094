package spdk

import (
	"context"
	"fmt"
	"time"
)

// Parameter names follow module/bdev/lvol/vbdev_lvol_rpc.c and the other
// RPC handlers of the v24.09 target, and what rpc.py sends.

// GetVersion calls spdk_get_version.
func (c *Client) GetVersion(ctx context.Context) (Version, error) {
	var v Version
	err := c.Call(ctx, "spdk_get_version", nil, &v)
	return v, err
}

// LvstoreQuery selects lvstores; both empty means all. The target rejects
// both set.
type LvstoreQuery struct {
	UUID string `json:"uuid,omitempty"`
	Name string `json:"lvs_name,omitempty"`
}

// GetLvstores calls bdev_lvol_get_lvstores.
func (c *Client) GetLvstores(ctx context.Context, q LvstoreQuery) ([]Lvstore, error) {
	var out []Lvstore
	err := c.Call(ctx, "bdev_lvol_get_lvstores", paramsOrNil(q, q == LvstoreQuery{}), &out)
	return out, err
}

// LvolQuery selects the lvstore whose lvols to list; both empty means all.
type LvolQuery struct {
	LvsUUID string `json:"lvs_uuid,omitempty"`
	LvsName string `json:"lvs_name,omitempty"`
}

// GetLvols calls bdev_lvol_get_lvols. It lists only lvols the target has
// open: a force-removed lvol, or one that failed to open at load, is absent.
func (c *Client) GetLvols(ctx context.Context, q LvolQuery) ([]Lvol, error) {
	var out []Lvol
	err := c.Call(ctx, "bdev_lvol_get_lvols", paramsOrNil(q, q == LvolQuery{}), &out)
	return out, err
}

// GetBdevs calls bdev_get_bdevs; name "" lists all bdevs, otherwise the one
// bdev with that name or alias (ErrNotFound if none).
func (c *Client) GetBdevs(ctx context.Context, name string) ([]Bdev, error) {
	var out []Bdev
	var params any
	if name != "" {
		params = nameParam{Name: name}
	}
	err := c.Call(ctx, "bdev_get_bdevs", params, &out)
	return out, err
}

type nameParam struct {
	Name string `json:"name"`
}

// DeleteLvol calls bdev_lvol_delete (name: alias "lvs/lvol", or uuid).
// On a target without the fix, an ErrBusy answer may mean the lvol was
// force-removed from memory while its blob stays on disk.
func (c *Client) DeleteLvol(ctx context.Context, name string) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_lvol_delete", nameParam{Name: name})
}

// GetXattr calls bdev_lvol_get_xattr; the value is returned as the target
// prints it (a string up to its first NUL).
func (c *Client) GetXattr(ctx context.Context, name, xattr string) (string, error) {
	var v string
	err := c.Call(ctx, "bdev_lvol_get_xattr", struct {
		Name      string `json:"name"`
		XattrName string `json:"xattr_name"`
	}{name, xattr}, &v)
	return v, err
}

// SetXattr calls bdev_lvol_set_xattr.
func (c *Client) SetXattr(ctx context.Context, name, xattr, value string) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_lvol_set_xattr", struct {
		Name       string `json:"name"`
		XattrName  string `json:"xattr_name"`
		XattrValue string `json:"xattr_value"`
	}{name, xattr, value})
}

// GetNvmfSubsystems calls nvmf_get_subsystems.
func (c *Client) GetNvmfSubsystems(ctx context.Context) ([]NvmfSubsystem, error) {
	var out []NvmfSubsystem
	err := c.Call(ctx, "nvmf_get_subsystems", nil, &out)
	return out, err
}

// StartShallowCopy calls bdev_lvol_start_shallow_copy and returns the
// operation id. The copy holds the source open until it ends.
func (c *Client) StartShallowCopy(ctx context.Context, srcLvol, dstBdev string) (uint32, error) {
	var out struct {
		OperationID uint32 `json:"operation_id"`
	}
	err := c.Call(ctx, "bdev_lvol_start_shallow_copy", struct {
		Src string `json:"src_lvol_name"`
		Dst string `json:"dst_bdev_name"`
	}{srcLvol, dstBdev}, &out)
	return out.OperationID, err
}

// CheckShallowCopy calls bdev_lvol_check_shallow_copy.
func (c *Client) CheckShallowCopy(ctx context.Context, opID uint32) (ShallowCopyStatus, error) {
	var out ShallowCopyStatus
	err := c.Call(ctx, "bdev_lvol_check_shallow_copy", struct {
		OperationID uint32 `json:"operation_id"`
	}{opID}, &out)
	return out, err
}

// RpcGetMethods calls rpc_get_methods (every method the target registered).
func (c *Client) RpcGetMethods(ctx context.Context) ([]string, error) {
	var out []string
	err := c.Call(ctx, "rpc_get_methods", nil, &out)
	return out, err
}

// HasMethod tells whether the target offers method, from rpc_get_methods,
// cached until the client dials a new connection (the target may have been
// replaced by another version).
func (c *Client) HasMethod(ctx context.Context, method string) (bool, error) {
	gen := c.Dials()
	c.methodsMu.Lock()
	if c.methods != nil && c.methodsGen == gen {
		_, ok := c.methods[method]
		c.methodsMu.Unlock()
		return ok, nil
	}
	c.methodsMu.Unlock()
	list, err := c.RpcGetMethods(ctx)
	if err != nil {
		return false, err
	}
	set := make(map[string]struct{}, len(list))
	for _, m := range list {
		set[m] = struct{}{}
	}
	c.methodsMu.Lock()
	c.methods, c.methodsGen = set, c.Dials()
	c.methodsMu.Unlock()
	_, ok := set[method]
	return ok, nil
}

// NotifyGetTypes calls notify_get_types.
func (c *Client) NotifyGetTypes(ctx context.Context) ([]string, error) {
	var out []string
	err := c.Call(ctx, "notify_get_types", nil, &out)
	return out, err
}

// NotifyGetNotifications calls notify_get_notifications: events with
// id >= fromID, at most max of them (0: no limit).
func (c *Client) NotifyGetNotifications(ctx context.Context, fromID, max uint64) ([]Notification, error) {
	type params struct {
		ID  uint64 `json:"id"`
		Max uint64 `json:"max,omitempty"`
	}
	var out []Notification
	err := c.Call(ctx, "notify_get_notifications", params{fromID, max}, &out)
	return out, err
}

// GetIostat calls bdev_get_iostat; name "" means every bdev.
func (c *Client) GetIostat(ctx context.Context, name string) (Iostat, error) {
	var out Iostat
	var params any
	if name != "" {
		params = nameParam{Name: name}
	}
	err := c.Call(ctx, "bdev_get_iostat", params, &out)
	return out, err
}

// AioCreate calls bdev_aio_create and returns the bdev name. blockSize 0
// lets the target choose.
func (c *Client) AioCreate(ctx context.Context, name, filename string, blockSize uint32) (string, error) {
	var out string
	err := c.Call(ctx, "bdev_aio_create", struct {
		Name      string `json:"name"`
		Filename  string `json:"filename"`
		BlockSize uint32 `json:"block_size,omitempty"`
	}{name, filename, blockSize}, &out)
	return out, err
}

// AioDelete calls bdev_aio_delete. Deleting the base bdev of an lvstore
// unloads the lvstore (and silently drops its NVMe-oF namespaces); while a
// blob is held open the target never answers, so give ctx a deadline.
func (c *Client) AioDelete(ctx context.Context, name string) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_aio_delete", nameParam{Name: name})
}

// RegisterSnapshotChecksum calls Longhorn's
// bdev_lvol_register_snapshot_checksum, which answers only when the
// checksum is done. With no ctx deadline the client's long timeout applies.
func (c *Client) RegisterSnapshotChecksum(ctx context.Context, name string) error {
	return c.callTrue(ctx, c.opts.longTimeout, "bdev_lvol_register_snapshot_checksum", nameParam{Name: name})
}

// GetSnapshotChecksum calls Longhorn's bdev_lvol_get_snapshot_checksum.
func (c *Client) GetSnapshotChecksum(ctx context.Context, name string) (uint64, error) {
	var out struct {
		Checksum uint64 `json:"checksum"`
	}
	err := c.Call(ctx, "bdev_lvol_get_snapshot_checksum", nameParam{Name: name}, &out)
	return out.Checksum, err
}

// StopSnapshotChecksum calls bdev_lvol_stop_snapshot_checksum, which only
// newer Longhorn targets have (ErrMethodNotFound on v24.09).
func (c *Client) StopSnapshotChecksum(ctx context.Context, name string) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_lvol_stop_snapshot_checksum", nameParam{Name: name})
}

// CreateLvstore calls bdev_lvol_create_lvstore and returns its uuid.
// clusterSize 0 lets the target choose (4 MiB).
func (c *Client) CreateLvstore(ctx context.Context, bdev, lvsName string, clusterSize uint32) (string, error) {
	var out string
	err := c.Call(ctx, "bdev_lvol_create_lvstore", struct {
		BdevName  string `json:"bdev_name"`
		LvsName   string `json:"lvs_name"`
		ClusterSz uint32 `json:"cluster_sz,omitempty"`
	}{bdev, lvsName, clusterSize}, &out)
	return out, err
}

// CreateLvol calls bdev_lvol_create in lvstore lvsName and returns the
// lvol's uuid.
func (c *Client) CreateLvol(ctx context.Context, lvsName, name string, sizeMiB uint64, thin bool) (string, error) {
	var out string
	err := c.Call(ctx, "bdev_lvol_create", struct {
		LvolName      string `json:"lvol_name"`
		SizeInMiB     uint64 `json:"size_in_mib"`
		ThinProvision bool   `json:"thin_provision"`
		LvsName       string `json:"lvs_name"`
	}{name, sizeMiB, thin, lvsName}, &out)
	return out, err
}

// Snapshot calls bdev_lvol_snapshot (lvolName: alias or uuid) and returns
// the snapshot's uuid.
func (c *Client) Snapshot(ctx context.Context, lvolName, snapshotName string) (string, error) {
	var out string
	err := c.Call(ctx, "bdev_lvol_snapshot", struct {
		LvolName     string `json:"lvol_name"`
		SnapshotName string `json:"snapshot_name"`
	}{lvolName, snapshotName}, &out)
	return out, err
}

// Clone calls bdev_lvol_clone and returns the clone's uuid.
func (c *Client) Clone(ctx context.Context, snapshotName, cloneName string) (string, error) {
	var out string
	err := c.Call(ctx, "bdev_lvol_clone", struct {
		SnapshotName string `json:"snapshot_name"`
		CloneName    string `json:"clone_name"`
	}{snapshotName, cloneName}, &out)
	return out, err
}

// RenameLvol calls bdev_lvol_rename (oldName: alias; newName: without lvstore).
func (c *Client) RenameLvol(ctx context.Context, oldName, newName string) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_lvol_rename", struct {
		OldName string `json:"old_name"`
		NewName string `json:"new_name"`
	}{oldName, newName})
}

// ResizeLvol calls bdev_lvol_resize.
func (c *Client) ResizeLvol(ctx context.Context, name string, sizeMiB uint64) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_lvol_resize", struct {
		Name      string `json:"name"`
		SizeInMiB uint64 `json:"size_in_mib"`
	}{name, sizeMiB})
}

// KillInstance calls spdk_kill_instance with a signal name ("SIGINT",
// "SIGTERM", "SIGKILL", ...). SIGINT and SIGTERM shut the target down cleanly.
func (c *Client) KillInstance(ctx context.Context, sigName string) error {
	return c.callTrue(ctx, c.opts.timeout, "spdk_kill_instance", struct {
		SigName string `json:"sig_name"`
	}{sigName})
}

// NvmfCreateSubsystem calls nvmf_create_subsystem.
func (c *Client) NvmfCreateSubsystem(ctx context.Context, nqn string, allowAnyHost bool) error {
	return c.callTrue(ctx, c.opts.timeout, "nvmf_create_subsystem", struct {
		NQN          string `json:"nqn"`
		AllowAnyHost bool   `json:"allow_any_host"`
	}{nqn, allowAnyHost})
}

// NvmfSubsystemAddNs calls nvmf_subsystem_add_ns and returns the nsid.
func (c *Client) NvmfSubsystemAddNs(ctx context.Context, nqn, bdevName string) (uint32, error) {
	type ns struct {
		BdevName string `json:"bdev_name"`
	}
	var out uint32
	err := c.Call(ctx, "nvmf_subsystem_add_ns", struct {
		NQN       string `json:"nqn"`
		Namespace ns     `json:"namespace"`
	}{nqn, ns{bdevName}}, &out)
	return out, err
}

// paramsOrNil leaves "params" out for an empty query, as rpc.py does.
func paramsOrNil(p any, empty bool) any {
	if empty {
		return nil
	}
	return p
}

// callTrue calls a method whose success answer is true.
func (c *Client) callTrue(ctx context.Context, def time.Duration, method string, params any) error {
	var ok bool
	if err := c.call(ctx, def, method, params, &ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("spdk %s: %w: answered false", method, ErrProtocol)
	}
	return nil
}

// DeleteLvstore calls bdev_lvol_delete_lvstore (by uuid or name, not both).
func (c *Client) DeleteLvstore(ctx context.Context, q LvstoreQuery) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_lvol_delete_lvstore", q)
}

// SetReadOnly calls bdev_lvol_set_read_only.
func (c *Client) SetReadOnly(ctx context.Context, name string) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_lvol_set_read_only", nameParam{Name: name})
}

// FrameworkWaitInit calls framework_wait_init: it answers once the target's
// subsystems are initialised.
func (c *Client) FrameworkWaitInit(ctx context.Context) error {
	return c.callTrue(ctx, c.opts.timeout, "framework_wait_init", nil)
}

// WaitForExamine calls bdev_wait_for_examine: it answers once every bdev
// has been examined (lvstores on new base bdevs are loaded).
func (c *Client) WaitForExamine(ctx context.Context) error {
	return c.callTrue(ctx, c.opts.timeout, "bdev_wait_for_examine", nil)
}
