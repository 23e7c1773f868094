package sim

import (
	"fmt"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
)

const versionString = "v24.09.1-pre git sha1 1975133e9"

// Longhorn-only methods (absent from flavor upstream).
var longhornOnly = map[string]bool{
	"bdev_lvol_register_snapshot_checksum": true,
	"bdev_lvol_get_snapshot_checksum":      true,
	"bdev_lvol_stop_snapshot_checksum":     true,
	"bdev_lvol_set_xattr":                  true,
	"bdev_lvol_get_xattr":                  true,
}

// listedOrder is the order of the real target's rpc_get_methods answer
// (fixtures/notify.rpc_get_methods.json) restricted to what the sim
// implements; bdev_lvol_stop_snapshot_checksum (flavor longhorn) goes
// where a newer Longhorn target registers it, beside its siblings.
var listedOrder = []string{
	"bdev_lvol_stop_snapshot_checksum",
	"bdev_lvol_get_snapshot_checksum", "bdev_lvol_register_snapshot_checksum",
	"bdev_lvol_check_shallow_copy", "bdev_lvol_start_shallow_copy",
	"bdev_lvol_get_lvols", "bdev_lvol_get_lvstores", "bdev_lvol_delete",
	"bdev_lvol_set_read_only", "bdev_lvol_resize", "bdev_lvol_get_xattr",
	"bdev_lvol_set_xattr", "bdev_lvol_rename", "bdev_lvol_clone",
	"bdev_lvol_snapshot", "bdev_lvol_create", "bdev_lvol_create_lvstore",
	"bdev_aio_delete", "bdev_aio_create",
	"nvmf_create_transport", "nvmf_subsystem_remove_ns", "nvmf_subsystem_add_ns",
	"nvmf_subsystem_add_listener", "nvmf_delete_subsystem", "nvmf_create_subsystem",
	"nvmf_get_subsystems",
	"spdk_kill_instance", "framework_wait_init",
	"bdev_get_bdevs", "bdev_get_iostat", "bdev_wait_for_examine", "notify_get_notifications",
	"notify_get_types", "spdk_get_version", "rpc_get_methods",
}

var allHandlers = map[string]handler{
	"spdk_get_version":                     (*Target).rpcVersion,
	"rpc_get_methods":                      (*Target).rpcGetMethods,
	"framework_wait_init":                  func(*Target, *request) (any, *RPCError) { return true, nil },
	"bdev_wait_for_examine":                func(*Target, *request) (any, *RPCError) { return true, nil },
	"bdev_get_bdevs":                       locked((*Target).rpcGetBdevs),
	"bdev_aio_create":                      locked((*Target).rpcAioCreate, "name", "filename"),
	"bdev_aio_delete":                      locked((*Target).rpcAioDelete, "name"),
	"bdev_lvol_get_lvstores":               locked((*Target).rpcGetLvstores),
	"bdev_lvol_get_lvols":                  locked((*Target).rpcGetLvols),
	"bdev_lvol_create_lvstore":             locked((*Target).rpcCreateLvstore, "bdev_name", "lvs_name"),
	"bdev_lvol_create":                     locked((*Target).rpcCreate, "lvol_name", "size_in_mib"),
	"bdev_lvol_snapshot":                   locked((*Target).rpcSnapshot, "lvol_name", "snapshot_name"),
	"bdev_lvol_clone":                      locked((*Target).rpcClone, "snapshot_name", "clone_name"),
	"bdev_lvol_rename":                     locked((*Target).rpcRename, "old_name", "new_name"),
	"bdev_lvol_resize":                     locked((*Target).rpcResize, "name", "size_in_mib"),
	"bdev_lvol_set_read_only":              locked((*Target).rpcSetReadOnly, "name"),
	"bdev_lvol_set_xattr":                  locked((*Target).rpcSetXattr, "name", "xattr_name", "xattr_value"),
	"bdev_lvol_get_xattr":                  locked((*Target).rpcGetXattr, "name", "xattr_name"),
	"bdev_lvol_delete":                     locked((*Target).rpcDelete, "name"),
	"bdev_lvol_register_snapshot_checksum": locked((*Target).rpcRegisterChecksum, "name"),
	"bdev_lvol_get_snapshot_checksum":      locked((*Target).rpcGetChecksum, "name"),
	"bdev_lvol_stop_snapshot_checksum":     locked((*Target).rpcStopChecksum, "name"),
	"bdev_lvol_start_shallow_copy":         locked((*Target).rpcStartCopy, "src_lvol_name", "dst_bdev_name"),
	"bdev_lvol_check_shallow_copy":         locked((*Target).rpcCheckCopy, "operation_id"),
	"notify_get_types":                     (*Target).rpcNotifyTypes,
	"notify_get_notifications":             (*Target).rpcNotifications,
	"spdk_kill_instance":                   (*Target).rpcKill,
	"bdev_get_iostat":                      locked((*Target).rpcGetIostat),
	"nvmf_create_transport":                (*Target).rpcNvmfCreateTransport,
	"nvmf_create_subsystem":                locked((*Target).rpcNvmfCreateSubsystem, "nqn"),
	"nvmf_delete_subsystem":                locked((*Target).rpcNvmfDeleteSubsystem, "nqn"),
	"nvmf_subsystem_add_listener":          locked((*Target).rpcNvmfAddListener, "nqn", "listen_address"),
	"nvmf_subsystem_add_ns":                (*Target).rpcNvmfAddNS,
	"nvmf_subsystem_remove_ns":             locked((*Target).rpcNvmfRemoveNS, "nqn", "nsid"),
	"nvmf_get_subsystems":                  locked((*Target).rpcNvmfGetSubsystems),
}

// SimOnlyMethods are answered but never listed (real targets lack them).
var SimOnlyMethods = []string{"sim_lvol_write"}

// methodsFor returns the handlers and the rpc_get_methods list of a flavor.
func methodsFor(flavor string) (map[string]handler, []string, error) {
	switch flavor {
	case FlavorLonghornV2409, FlavorLonghorn, FlavorUpstream:
	default:
		return nil, nil, fmt.Errorf("flavor %q: want %s, %s or %s", flavor, FlavorLonghornV2409, FlavorLonghorn, FlavorUpstream)
	}
	m := map[string]handler{"sim_lvol_write": locked((*Target).rpcSimWrite, "name", "offset", "length")}
	var listed []string
	for _, name := range listedOrder {
		if name == "bdev_lvol_stop_snapshot_checksum" && flavor != FlavorLonghorn {
			continue
		}
		if flavor == FlavorUpstream && longhornOnly[name] {
			continue
		}
		m[name] = allHandlers[name]
		listed = append(listed, name)
	}
	return m, listed, nil
}

// Methods lists what rpc_get_methods answers for this target's flavor.
func (t *Target) Methods() []string { return append([]string(nil), t.listed...) }

func (t *Target) rpcVersion(*request) (any, *RPCError) {
	return spdk.Version{Version: "SPDK " + versionString, Fields: spdk.VersionFields{
		Major: 24, Minor: 9, Patch: 1, Suffix: "-pre", Commit: "1975133e9"}}, nil
}

func (t *Target) rpcGetMethods(r *request) (any, *RPCError) {
	var p struct {
		Current        bool `json:"current"`
		IncludeAliases bool `json:"include_aliases"`
	}
	if e := decode(r, &p); e != nil {
		return nil, &RPCError{Code: codeInvalidParams, Message: "Invalid parameters"}
	}
	return t.Methods(), nil
}

// getBdevsParams are the params of bdev_get_bdevs.
type getBdevsParams struct {
	Name    string `json:"name"`
	Timeout uint64 `json:"timeout"`
}

func (t *Target) rpcGetBdevs(r *request, p *getBdevsParams) (any, *RPCError) {
	out := []bdevJSON{}
	if p.Name != "" {
		b := t.bdevByName(p.Name)
		if b == nil {
			t.log.logf(srcGetBdevs, lvlError, "spdk_bdev_open_async failed for '%s': rc=%d", p.Name, -eNODEV)
			return nil, errNoDev
		}
		return append(out, t.bdevView(b, t.relations())), nil
	}
	rel := t.relations()
	for _, b := range t.bdevs {
		if b.wedged {
			continue // its unregistration started and never ends
		}
		out = append(out, t.bdevView(b, rel))
	}
	return out, nil
}

// aioCreateParams are the params of bdev_aio_create.
type aioCreateParams struct {
	Name      string `json:"name"`
	Filename  string `json:"filename"`
	BlockSize uint32 `json:"block_size"`
	Readonly  bool   `json:"readonly"`
	Fallocate bool   `json:"fallocate"`
}

func (p *aioCreateParams) defaults() {
	if p.BlockSize == 0 {
		p.BlockSize = DefaultBlockSize
	}
}

func (t *Target) rpcAioCreate(r *request, p *aioCreateParams) (any, *RPCError) {
	if t.nameTaken(p.Name) {
		t.log.logf(srcBdevNameAdd, lvlError, "Bdev name %s already exists", p.Name)
		return nil, errnoErr(eEXIST)
	}
	dev, err := OpenImage(p.Filename, 0)
	if err != nil {
		return nil, errnoErr(eNOENT)
	}
	if _, e := t.addAio(p.Name, p.Filename, p.BlockSize, dev); e != nil {
		dev.Close()
		if re, ok := e.(*RPCError); ok {
			return nil, re
		}
		return nil, internalErr(eINVAL)
	}
	return p.Name, nil
}

// storeXor is vbdev_get_lvol_store_by_uuid_xor_name.
func (t *Target) storeXor(uuid, name string) (*lvstore, *RPCError) {
	if (uuid == "") == (name == "") {
		return nil, errnoErr(eINVAL)
	}
	var s *lvstore
	if uuid != "" {
		s = t.storeByUUID(uuid)
	} else {
		s = t.storeByName(name)
	}
	if s == nil {
		return nil, errNoDev
	}
	return s, nil
}

// getLvstoresParams are the params of bdev_lvol_get_lvstores.
type getLvstoresParams struct {
	UUID    string `json:"uuid"`
	LvsName string `json:"lvs_name"`
}

func (t *Target) rpcGetLvstores(r *request, p *getLvstoresParams) (any, *RPCError) {
	out := []spdk.Lvstore{}
	if r.Params != nil {
		s, e := t.storeXor(p.UUID, p.LvsName)
		if e != nil {
			return nil, e
		}
		return append(out, t.lvstoreView(s)), nil
	}
	for _, s := range t.stores {
		out = append(out, t.lvstoreView(s))
	}
	return out, nil
}

// getLvolsParams are the params of bdev_lvol_get_lvols.
type getLvolsParams struct {
	LvsUUID string `json:"lvs_uuid"`
	LvsName string `json:"lvs_name"`
}

func (t *Target) rpcGetLvols(r *request, p *getLvolsParams) (any, *RPCError) {
	stores := t.stores
	if r.Params != nil {
		s, e := t.storeXor(p.LvsUUID, p.LvsName)
		if e != nil {
			return nil, e
		}
		stores = []*lvstore{s}
	}
	out := []lvolJSON{}
	rel := t.relations()
	for _, s := range stores {
		for _, l := range s.lvols {
			if !l.hidden {
				out = append(out, t.lvolView(l, rel))
			}
		}
	}
	return out, nil
}

// createLvstoreParams are the params of bdev_lvol_create_lvstore.
type createLvstoreParams struct {
	BdevName   string `json:"bdev_name"`
	LvsName    string `json:"lvs_name"`
	ClusterSz  uint64 `json:"cluster_sz"`
	ClearMeth  string `json:"clear_method"`
	MDRatio    uint32 `json:"num_md_pages_per_cluster_ratio"`
	MDPageSize uint32 `json:"md_page_size"`
}

func (p *createLvstoreParams) defaults() {
	if p.ClusterSz == 0 {
		p.ClusterSz = DefaultClusterSize
	}
}

func (t *Target) rpcCreateLvstore(r *request, p *createLvstoreParams) (any, *RPCError) {
	base := t.bdevByName(p.BdevName)
	if base == nil || base.lvol != nil {
		return nil, errNoDev
	}
	if base.claim != "" {
		// The real target: bdev_open fails ("already claimed") and the RPC
		// answers -1 "Operation not permitted" (realdiff_test).
		return nil, errnoErr(ePERM)
	}
	if len(p.LvsName) == 0 || len(p.LvsName) >= 256 {
		return nil, errnoErr(eINVAL)
	}
	if t.storeByName(p.LvsName) != nil {
		return nil, invalidParamsErr(eEXIST)
	}
	g, err := t.backend.Layout(uint64(base.dev.Size()), p.ClusterSz)
	if err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	t.log.logf(srcLvsInit, lvlInfo, "Initializing lvol store")
	s := newLvstore(g, t.backend.Writer(base.dev, g, blobIDOf(0)))
	s.base = base
	s.name = p.LvsName
	s.uuid = newUUID()
	s.dirty = true
	if err := s.w.Format(g, blobIDOf(0)); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	sb, err := s.newBlob(0)
	if err != nil {
		return nil, invalidParamsErr(eNOSPC)
	}
	sb.super = true
	s.superID = sb.ID
	sb.setXattr("uuid", cbytes(s.uuid))
	sb.setXattr("name", cbytes(s.name))
	if err := s.sync(sb); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	base.claim = ClaimReadManyWriteOne
	base.store = s
	t.stores = append(t.stores, s)
	t.log.logf(srcLvsInitCb, lvlInfo, "Lvol store initialized")
	return s.uuid, nil
}

func (t *Target) nameFree(s *lvstore, name string) *RPCError {
	if len(name) == 0 || len(name) >= 256 {
		return errnoErr(eINVAL)
	}
	if s.lvolByName(name) != nil {
		return errnoErr(eEXIST)
	}
	return nil
}

func creationTime() string { return time.Now().UTC().Format("2006-01-02T15:04:05Z") }

// newLvolBlob creates a blob with an lvol's xattrs, as spdk_lvol_create.
func (t *Target) newLvol(s *lvstore, name string, clusters uint64, thin bool, parent *blob) (*lvol, error) {
	b, err := s.newBlob(clusters)
	if err != nil {
		return nil, err
	}
	l := &lvol{uuid: newUUID(), name: name, creationTime: creationTime(), store: s, blob: b}
	b.Thin = thin
	b.setXattr("name", fixed(name, 256))
	b.setXattr("uuid", cbytes(l.uuid))
	b.setXattr("creation_time", cbytes(l.creationTime))
	if parent != nil {
		b.Parent = parent.ID
	}
	return l, nil
}

// undoBlob forgets a blob that was never written (creation failed).
func (s *lvstore) undoBlob(b *blob) {
	for _, c := range b.Clusters {
		if c != 0 {
			s.usedClusters.clear(c)
		}
	}
	for _, p := range b.ExtentPages {
		if p != NoPage {
			s.releasePage(p)
		}
	}
	for _, p := range b.Chain {
		s.releasePage(p)
	}
	s.usedIDs.clear(uint64(pageOf(b.ID)))
	delete(s.blobs, b.ID)
}

// createParams are the params of bdev_lvol_create.
type createParams struct {
	UUID      string `json:"uuid"`
	LvsName   string `json:"lvs_name"`
	LvolName  string `json:"lvol_name"`
	SizeInMiB uint64 `json:"size_in_mib"`
	Thin      bool   `json:"thin_provision"`
	ClearMeth string `json:"clear_method"`
}

func (t *Target) rpcCreate(r *request, p *createParams) (any, *RPCError) {
	s, e := t.storeXor(p.UUID, p.LvsName)
	if e != nil {
		return nil, e
	}
	if e := t.nameFree(s, p.LvolName); e != nil {
		return nil, e
	}
	n, e := clustersFor(p.SizeInMiB, s.geo.ClusterSize)
	if e != nil {
		return nil, e
	}
	if !p.Thin && n > s.freeClusters() {
		return nil, invalidParamsErr(eNOSPC)
	}
	l, err := t.newLvol(s, p.LvolName, n, p.Thin, nil)
	if err != nil {
		return nil, invalidParamsErr(eNOSPC)
	}
	if !p.Thin {
		if err := s.allocateRange(l.blob, 0, n); err != nil {
			s.undoBlob(l.blob)
			return nil, invalidParamsErr(eNOSPC)
		}
	}
	if err := s.sync(l.blob); err != nil {
		s.undoBlob(l.blob)
		return nil, invalidParamsErr(eNOSPC)
	}
	s.lvols = append(s.lvols, l)
	t.registerLvol(l)
	s.base.io.read(mdReadBytes, 1)
	return l.uuid, nil
}

// snapshotParams are the params of bdev_lvol_snapshot.
type snapshotParams struct {
	LvolName     string `json:"lvol_name"`
	SnapshotName string `json:"snapshot_name"`
}

func (t *Target) rpcSnapshot(r *request, p *snapshotParams) (any, *RPCError) {
	o := t.lvolByBdev(p.LvolName)
	if o == nil {
		return nil, errNoDev
	}
	s := o.store
	if e := t.nameFree(s, p.SnapshotName); e != nil {
		return nil, invalidParamsErr(-e.Code)
	}
	if o.op != nil {
		return nil, invalidParamsErr(eBUSY)
	}
	if o.blob.DataRO {
		// The blob layer refuses to snapshot a read-only blob (a snapshot
		// among them): -32602 "Invalid argument" on the real target.
		return nil, invalidParamsErr(eINVAL)
	}
	snap, err := t.newLvol(s, p.SnapshotName, 0, o.blob.Thin, nil)
	if err != nil {
		return nil, invalidParamsErr(eNOSPC)
	}
	// The snapshot takes the original's clusters and extent pages (which
	// keep the original's blob id on disk); the original starts empty,
	// thin, as a clone of the snapshot.
	sb, ob := snap.blob, o.blob
	sb.Clusters, ob.Clusters = ob.Clusters, make([]uint64, len(ob.Clusters))
	sb.ExtentPages, ob.ExtentPages = ob.ExtentPages, emptyExtentPages(uint64(len(ob.Clusters)))
	ob.fitOwners()
	sb.ExtentOwners = make([]uint64, len(sb.ExtentPages))
	for i := range sb.ExtentOwners {
		sb.ExtentOwners[i] = ob.Owner(i)
	}
	ob.ExtentOwners = make([]uint64, len(ob.ExtentPages))
	sb.Parent = ob.Parent
	sb.DataRO = true
	ob.Parent = sb.ID
	ob.Thin = true
	if err := s.sync(sb); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	if err := s.sync(ob); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	s.lvols = append(s.lvols, snap)
	t.registerLvol(snap)
	s.base.io.read(mdReadBytes, 1)
	return snap.uuid, nil
}

// cloneParams are the params of bdev_lvol_clone.
type cloneParams struct {
	SnapshotName string `json:"snapshot_name"`
	CloneName    string `json:"clone_name"`
}

func (t *Target) rpcClone(r *request, p *cloneParams) (any, *RPCError) {
	sn := t.lvolByBdev(p.SnapshotName)
	if sn == nil {
		return nil, errNoDev
	}
	s := sn.store
	if e := t.nameFree(s, p.CloneName); e != nil {
		return nil, invalidParamsErr(-e.Code)
	}
	if !sn.blob.DataRO {
		return nil, invalidParamsErr(eINVAL)
	}
	c, err := t.newLvol(s, p.CloneName, uint64(len(sn.blob.Clusters)), true, sn.blob)
	if err != nil {
		return nil, invalidParamsErr(eNOSPC)
	}
	if err := s.sync(c.blob); err != nil {
		s.undoBlob(c.blob)
		return nil, invalidParamsErr(eINVAL)
	}
	s.lvols = append(s.lvols, c)
	t.registerLvol(c)
	return c.uuid, nil
}

// syncXattr sets b's xattr name to v and persists b. On a failed write b
// keeps its old xattrs, as SPDK's md sync leaves the blob unchanged.
func (s *lvstore) syncXattr(b *blob, name string, v []byte) error {
	old := b.Xattrs
	b.Xattrs = append([]Xattr(nil), old...) // setXattr must not touch old's array
	b.setXattr(name, v)
	if err := s.sync(b); err != nil {
		b.Xattrs = old
		return err
	}
	return nil
}

// renameParams are the params of bdev_lvol_rename.
type renameParams struct {
	OldName string `json:"old_name"`
	NewName string `json:"new_name"`
}

func (t *Target) rpcRename(r *request, p *renameParams) (any, *RPCError) {
	l := t.lvolByBdev(p.OldName)
	if l == nil {
		return nil, errNoDev
	}
	// The current name counts as taken: the real target answers -32602
	// "File exists" (its bdev alias already exists).
	if e := t.nameFree(l.store, p.NewName); e != nil {
		return nil, invalidParamsErr(-e.Code)
	}
	if l.blob.DataRO {
		// md_ro: the new name is in memory until a clean unload (a real
		// target killed before it loads the old name again).
		b := l.blob
		b.Xattrs = append([]Xattr(nil), b.Xattrs...)
		b.setXattr("name", cbytes(p.NewName))
		if l.store.unsynced == nil {
			l.store.unsynced = map[uint64]bool{}
		}
		l.store.unsynced[b.ID] = true
		l.name = p.NewName
		return true, nil
	}
	if err := l.store.syncXattr(l.blob, "name", cbytes(p.NewName)); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	l.name = p.NewName
	return true, nil
}

// resizeParams are the params of bdev_lvol_resize.
type resizeParams struct {
	Name      string `json:"name"`
	SizeInMiB uint64 `json:"size_in_mib"`
}

func (t *Target) rpcResize(r *request, p *resizeParams) (any, *RPCError) {
	l := t.lvolByBdev(p.Name)
	if l == nil {
		return nil, errNoDev
	}
	s := l.store
	if l.blob.DataRO {
		return nil, invalidParamsErr(ePERM)
	}
	n, e := clustersFor(p.SizeInMiB, s.geo.ClusterSize)
	if e != nil {
		return nil, e
	}
	if old := uint64(len(l.blob.Clusters)); !l.blob.Thin && n > old && n-old > s.freeClusters() {
		return nil, invalidParamsErr(eNOSPC)
	}
	if err := s.resize(l.blob, n); err != nil {
		return nil, invalidParamsErr(eNOSPC)
	}
	if err := s.sync(l.blob); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	return true, nil
}

func (t *Target) rpcSetReadOnly(_ *request, p *nameParams) (any, *RPCError) {
	name := p.Name
	l := t.lvolByBdev(name)
	if l == nil {
		return nil, errNoDev
	}
	l.blob.DataRO = true
	if err := l.store.sync(l.blob); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	return true, nil
}

// setXattrParams are the params of bdev_lvol_set_xattr.
type setXattrParams struct {
	Name       string `json:"name"`
	XattrName  string `json:"xattr_name"`
	XattrValue string `json:"xattr_value"`
}

func (t *Target) rpcSetXattr(r *request, p *setXattrParams) (any, *RPCError) {
	l := t.lvolByBdev(p.Name)
	if l == nil {
		return nil, errNoDev
	}
	if l.blob.DataRO {
		return nil, invalidParamsErr(ePERM)
	}
	if len(p.XattrName) == 0 || len(p.XattrName) > 0xffff || len(p.XattrValue) >= 0xffff {
		return nil, invalidParamsErr(eINVAL)
	}
	if err := l.store.syncXattr(l.blob, p.XattrName, cbytes(p.XattrValue)); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	return true, nil
}

// getXattrParams are the params of bdev_lvol_get_xattr.
type getXattrParams struct {
	Name      string `json:"name"`
	XattrName string `json:"xattr_name"`
}

func (t *Target) rpcGetXattr(r *request, p *getXattrParams) (any, *RPCError) {
	l := t.lvolByBdev(p.Name)
	if l == nil {
		return nil, errNoDev
	}
	v, ok := l.blob.xattr(p.XattrName)
	if !ok {
		return nil, internalErr(eNOENT)
	}
	return cstring(v), nil
}

func (t *Target) rpcDelete(_ *request, p *nameParams) (any, *RPCError) {
	name := p.Name
	l := t.lvolForDelete(name)
	if l == nil {
		return nil, errNoDev
	}
	return t.deleteLvol(l)
}

// deleteLvol runs vbdev_lvol_destroy. Caller holds mu.
func (t *Target) deleteLvol(l *lvol) (any, *RPCError) {
	s := l.store
	if l.hidden {
		// Found by uuid or alias in the lvstore's list, but closed and
		// without a bdev: the real fixed target answers EINVAL, no log line
		// (fixtures/fixed-busy: retries by alias and by uuid).
		return nil, internalErr(eINVAL)
	}
	clones := s.clones(l.blob.ID)
	if len(clones) > 1 {
		t.log.logf(srcDestroyLvol, lvlError, "Cannot delete lvol")
		return nil, internalErr(ePERM)
	}
	// Every delete that gets past the clone check reads one md page
	// (fixtures README, iostat).
	s.base.io.read(mdReadBytes, 1)
	if l.blob.openRef > 0 {
		switch t.cfg.DeleteSemantics {
		case DeleteKeepListed:
			t.log.logf(srcNotDeletable, lvlError, "Cannot remove snapshot because it is open")
			return nil, internalErr(eBUSY)
		case DeleteFixed:
			// The fix answers the error instead of force-removing, but the
			// bdev is unregistered and the lvol closed before the blob
			// delete is tried: it stays in the list, hidden.
			t.unregisterLvol(l)
			t.log.logf(srcLvolClosed, lvlInfo, "Lvol %s closed", l.uuid)
			t.log.logf(srcNotDeletable, lvlError, "Cannot remove snapshot because it is open")
			t.log.logf(srcDeleteFinish, lvlError, "Failed to remove blob")
			t.log.logf(srcDeleteBusyErr, lvlError, "Error -16 deleting lvol %s", l.name)
			l.hidden = true
			return nil, internalErr(eBUSY)
		}
		// Forced removal: the bdev goes, the lvol is closed and dropped from
		// the lvstore's list, the blob stays on disk untouched.
		t.unregisterLvol(l)
		t.log.logf(srcLvolClosed, lvlInfo, "Lvol %s closed", l.uuid)
		t.log.logf(srcNotDeletable, lvlError, "Cannot remove snapshot because it is open")
		t.log.logf(srcDeleteFinish, lvlError, "Failed to remove blob")
		t.log.logf(srcDeleteBlobCb, lvlError, "Could not remove blob on lvol gracefully - forced removal")
		s.removeLvol(l)
		if l.op != nil {
			l.op.lvol = nil
			l.op = nil
		}
		return nil, internalErr(eBUSY)
	}
	t.unregisterLvol(l)
	t.log.logf(srcLvolClosed, lvlInfo, "Lvol %s closed", l.uuid)
	s.removeLvol(l)
	b := l.blob
	if len(clones) == 1 {
		// Deleting a snapshot with one clone hands its clusters to the clone.
		c := clones[0]
		for i := range c.Clusters {
			if i < len(b.Clusters) && c.Clusters[i] == 0 && b.Clusters[i] != 0 {
				c.Clusters[i] = b.Clusters[i]
				b.Clusters[i] = 0
				slot := i / ClustersPerExtentPage
				if c.ExtentPages[slot] == NoPage && slot < len(b.ExtentPages) && b.ExtentPages[slot] != NoPage {
					c.fitOwners()
					c.ExtentPages[slot] = b.ExtentPages[slot]
					c.ExtentOwners[slot] = b.Owner(slot)
					b.ExtentPages[slot] = NoPage
				}
			}
		}
		c.Parent = b.Parent
		if len(s.clones(c.ID)) > 0 {
			c.removeXattr("checksum")
		}
		if err := s.sync(c); err != nil {
			return nil, internalErr(eINVAL)
		}
	}
	if err := s.deleteBlob(b); err != nil {
		return nil, internalErr(eINVAL)
	}
	t.log.logf(srcLvolDeleted, lvlInfo, "Lvol %s deleted", l.uuid)
	return true, nil
}

func (t *Target) rpcRegisterChecksum(_ *request, p *nameParams) (any, *RPCError) {
	name := p.Name
	l := t.lvolByBdev(name)
	if l == nil {
		t.log.logf(srcRegChecksum, lvlError, "bdev '%s' does not exist", name)
		return nil, errNoDev
	}
	if l.op != nil {
		return nil, internalErr(eBUSY)
	}
	if len(l.store.clones(l.blob.ID)) == 0 {
		// "snapshot checksum, blob must be a snapshot" (one with a clone,
		// as is_snapshot; a read-only lvol is not): -32603 "Operation not
		// permitted" on the real target.
		t.log.logf(srcChecksumNotSnap, lvlError, "blob %#x snapshot checksum, blob must be a snapshot", l.blob.ID)
		t.log.logf(srcChecksumCb, lvlError, "could not exec snapshot checksum of lvol %s, error -1", l.name)
		return nil, internalErr(ePERM)
	}
	op := t.startOp(opChecksum, l, 0)
	return deferred(func() (any, *RPCError) {
		defer t.opsWG.Done()
		select {
		case <-op.timer.C:
		case <-op.cancelCh:
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		t.release(op, !op.stopped && !t.stopped)
		if t.stopped {
			return noAnswer{}, nil
		}
		if op.stopped {
			return nil, internalErr(eCANCELED)
		}
		// The checksum lands in the snapshot's "checksum" xattr, written even
		// when the lvol was force-removed meanwhile (the blob is still open).
		op.blob.setXattr("checksum", u64le(checksumOf(op.blob)))
		if err := op.store.sync(op.blob); err != nil {
			return nil, internalErr(eINVAL)
		}
		return true, nil
	}), nil
}

// startOp opens l's blob for an operation. Caller holds mu.
func (t *Target) startOp(kind string, l *lvol, id uint32) *operation {
	op := &operation{
		kind: kind, id: id, store: l.store, blob: l.blob, lvol: l,
		total: l.blob.allocated(), start: time.Now(), dur: t.opDuration(l),
		cancelCh: make(chan struct{}),
		base:     l.store.base, clusterSize: l.store.geo.ClusterSize,
		stall: kind == opCopy && t.cfg.StallCopy,
	}
	t.running[op] = true
	l.blob.openRef++
	l.op = op
	if kind == opChecksum {
		op.timer = time.NewTimer(op.dur)
		t.opsWG.Add(1)
	}
	return op
}

// opDuration is how long a checksum or copy of l holds its blob: the
// configured minimum plus its allocated clusters read at OpBytesPerSec.
func (t *Target) opDuration(l *lvol) time.Duration {
	d := t.cfg.OpDuration
	if rate := t.cfg.OpBytesPerSec; rate > 0 {
		bytes := float64(l.blob.allocated()) * float64(l.store.geo.ClusterSize)
		d += time.Duration(bytes / float64(rate) * float64(time.Second))
	}
	return d
}

func (t *Target) rpcGetChecksum(_ *request, p *nameParams) (any, *RPCError) {
	name := p.Name
	l := t.lvolByBdev(name)
	if l == nil {
		t.log.logf(srcGetChecksum, lvlError, "bdev '%s' does not exist", name)
		return nil, errNoDev
	}
	v, ok := l.blob.xattr("checksum")
	if !ok || len(v) != 8 {
		return nil, errNoDev
	}
	return struct {
		Checksum uint64 `json:"checksum"`
	}{leU64(v)}, nil
}

// rpcStopChecksum ends a running checksum registration (newer Longhorn).
// With none running it answers -19, like the other checksum methods when
// there is nothing to act on (no real answer was captured).
func (t *Target) rpcStopChecksum(_ *request, p *nameParams) (any, *RPCError) {
	name := p.Name
	l := t.lvolByBdev(name)
	if l == nil || l.op == nil || l.op.kind != opChecksum {
		return nil, errNoDev
	}
	l.op.stopped = true
	l.op.cancel()
	// Release now, so a delete right after the answer is not refused.
	t.release(l.op, false)
	return true, nil
}

// startCopyParams are the params of bdev_lvol_start_shallow_copy.
type startCopyParams struct {
	Src string `json:"src_lvol_name"`
	Dst string `json:"dst_bdev_name"`
}

func (t *Target) rpcStartCopy(r *request, p *startCopyParams) (any, *RPCError) {
	l := t.lvolByBdev(p.Src)
	if l == nil {
		t.log.logf(srcStartCopy, lvlError, "lvol bdev '%s' does not exist", p.Src)
		return nil, errNoDev
	}
	if !l.blob.DataRO {
		t.log.logf(srcShallowCopyRO, lvlError, "lvol %s shallow copy, lvol must be read only", l.uuid)
		return nil, invalidParamsErr(ePERM)
	}
	dst := t.bdevByName(p.Dst)
	if dst == nil {
		return nil, invalidParamsErr(eNODEV)
	}
	if l.op != nil {
		return nil, invalidParamsErr(eBUSY)
	}
	t.copySeq++
	op := t.startOp(opCopy, l, t.copySeq)
	op.dst = dst
	t.copies[op.id] = op
	dstBytes := dst.numBlocks * uint64(dst.blockSize)
	if dst.lvol != nil {
		dstBytes = dst.lvol.sizeBytes()
	}
	if dstBytes < l.sizeBytes() {
		// The copy fails at once; the failure shows at the next check.
		op.result = eINVAL
		t.release(op, false)
		return copyIDJSON{op.id}, nil
	}
	op.timer = time.AfterFunc(op.dur, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.release(op, true)
	})
	return copyIDJSON{op.id}, nil
}

type copyIDJSON struct {
	OperationID uint32 `json:"operation_id"`
}

// checkCopyParams are the params of bdev_lvol_check_shallow_copy.
type checkCopyParams struct {
	OperationID uint32 `json:"operation_id"`
}

func (t *Target) rpcCheckCopy(r *request, p *checkCopyParams) (any, *RPCError) {
	op, ok := t.copies[p.OperationID]
	if !ok {
		t.log.logf(srcCheckCopy, lvlError, "operation id '%d' does not exist", p.OperationID)
		return nil, errNoDev
	}
	st := spdk.ShallowCopyStatus{CopiedClusters: op.copied(time.Now()), TotalClusters: op.total}
	switch {
	case op.result != 0:
		st.State, st.Error = spdk.ShallowCopyError, strerror[op.result]
		delete(t.copies, op.id)
	case op.finished:
		st.State = spdk.ShallowCopyComplete
		delete(t.copies, op.id)
	default:
		st.State = spdk.ShallowCopyInProgress
	}
	return st, nil
}

func (t *Target) rpcNotifyTypes(r *request) (any, *RPCError) {
	if r.Params != nil {
		return nil, &RPCError{Code: codeInvalidParams, Message: "No parameters required"}
	}
	return notifyTypes, nil
}

func (t *Target) rpcNotifications(r *request) (any, *RPCError) {
	var p struct {
		ID  uint64 `json:"id"`
		Max uint64 `json:"max"`
	}
	if e := decode(r, &p); e != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.notify.since(p.ID, p.Max), nil
}

func (t *Target) rpcKill(r *request) (any, *RPCError) {
	var p struct {
		SigName string `json:"sig_name"`
	}
	if e := decode(r, &p, "sig_name"); e != nil {
		return nil, e
	}
	switch p.SigName {
	case "SIGINT", "SIGTERM", "SIGQUIT", "SIGHUP":
		// Answer first, then stop: spdk_tgt answers before its reactor ends.
		return thenRun{res: true, fn: func() { go func() { _ = t.Shutdown() }() }}, nil
	case "SIGKILL":
		t.Crash()
		if t.cfg.OnKill != nil {
			t.cfg.OnKill()
		}
		return noAnswer{}, nil
	}
	return nil, &RPCError{Code: codeInvalidParams, Message: "Invalid parameters"}
}

// rpcSimWrite is sim_lvol_write {name, offset, length}: allocates the
// clusters a write of that byte range would allocate in a thin lvol (the
// sim holds no data) and persists the extent pages and md, as SPDK does on
// a cluster allocation. Sim-only; never listed.
// simWriteParams are the params of sim_lvol_write.
type simWriteParams struct {
	Name   string `json:"name"`
	Offset uint64 `json:"offset"`
	Length uint64 `json:"length"`
}

func (t *Target) rpcSimWrite(r *request, p *simWriteParams) (any, *RPCError) {
	l := t.lvolByBdev(p.Name)
	if l == nil {
		return nil, errNoDev
	}
	if l.blob.DataRO {
		return nil, invalidParamsErr(ePERM)
	}
	cs := l.store.geo.ClusterSize
	if p.Length == 0 || p.Offset+p.Length < p.Offset || p.Offset+p.Length > l.sizeBytes() {
		return nil, invalidParamsErr(eINVAL)
	}
	from, to := p.Offset/cs, (p.Offset+p.Length+cs-1)/cs
	need := uint64(0)
	for i := from; i < to; i++ {
		if l.blob.Clusters[i] == 0 {
			need++
		}
	}
	if need > l.store.freeClusters() {
		return nil, invalidParamsErr(eNOSPC)
	}
	if err := l.store.allocateRange(l.blob, from, to); err != nil {
		return nil, invalidParamsErr(eNOSPC)
	}
	if err := l.store.sync(l.blob); err != nil {
		return nil, invalidParamsErr(eINVAL)
	}
	// The data goes through the lvol bdev to its base bdev.
	if b := t.bdevByName(l.uuid); b != nil {
		b.io.write(p.Length, splitOps(p.Length))
	}
	l.store.base.io.write(p.Length, splitOps(p.Length))
	return true, nil
}

func leU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// rpcAioDelete removes an AIO bdev. An lvstore on it is unloaded first, as
// spdk_tgt's hot-remove does: lvol bdevs unregistered (every NVMe-oF
// namespace on them removed silently), masks and clean = 1 written
// (fixtures/reload). While a checksum or copy holds one of its blobs the
// unload cannot finish (fixtures/reload-unsafe): the lvstore and the AIO
// bdev vanish from the views, nothing is written, the AIO bdev's name stays
// taken (re-creating it answers -17), the call never answers, and the
// target can no longer shut down until it is killed (see Shutdown).
func (t *Target) rpcAioDelete(_ *request, p *nameParams) (any, *RPCError) {
	name := p.Name
	b := t.bdevByName(name)
	if b == nil || b.lvol != nil || b.dev == nil {
		return nil, errNoDev
	}
	t.hotRemoveNS(b)
	if s := b.store; s != nil {
		t.log.logf(srcHotRemove, lvlNotice, "bdev %s being removed: closing lvstore %s", b.name, s.name)
		if s.hasHidden() {
			// Fixed semantics after a busy delete: the unload is refused
			// and the RPC never answers (fixed-busy.reload-wedge).
			t.wedgeOnHidden(s)
			return deferred(func() (any, *RPCError) {
				<-t.stopCh
				return noAnswer{}, nil
			}), nil
		}
		held := false
		for _, bl := range s.blobs {
			if bl.openRef > 0 {
				held = true
			}
		}
		for _, l := range append([]*lvol(nil), s.lvols...) {
			t.unregisterLvol(l)
			t.log.logf(srcLvolClosed, lvlInfo, "Lvol %s closed", l.uuid)
		}
		s.lvols = nil
		t.log.logf(srcLvsUnload, lvlInfo, "Unloading lvol store")
		t.dropStore(s)
		if held {
			t.log.logf(srcBsUnload, lvlError, "Blobstore still has open blobs")
			t.log.logf(srcLvsUnloaded, lvlInfo, "Lvol store unloaded")
			b.store = nil
			b.wedged = true
			return deferred(func() (any, *RPCError) {
				<-t.stopCh
				return noAnswer{}, nil
			}), nil
		}
		if err := s.unload(); err != nil {
			return nil, internalErr(eINVAL)
		}
		t.log.logf(srcLvsUnloaded, lvlInfo, "Lvol store unloaded")
	}
	for i, x := range t.bdevs {
		if x == b {
			t.bdevs = append(t.bdevs[:i], t.bdevs[i+1:]...)
			break
		}
	}
	t.notify.add(EventBdevUnregister, b.name)
	b.claim = ""
	if err := b.dev.Close(); err != nil {
		return nil, internalErr(eINVAL)
	}
	b.dev = nil
	return true, nil
}

// dropStore forgets an lvstore. Its shallow copies stay checkable: a copy
// that held a blob through a wedged unload ran on and answered "complete"
// once (fixtures/reload-unsafe). Caller holds mu.
func (t *Target) dropStore(s *lvstore) {
	for i, x := range t.stores {
		if x == s {
			t.stores = append(t.stores[:i], t.stores[i+1:]...)
			break
		}
	}
}

// MaxLvolClusters bounds an lvol's size in clusters: the model keeps one
// entry per cluster (64 Mi clusters: 64 TiB at 1 MiB, 512 MiB of memory).
const MaxLvolClusters = 1 << 26

// clustersFor is the cluster count of a size in MiB, within the bound.
func clustersFor(mib, clusterSize uint64) (uint64, *RPCError) {
	if mib > MaxLvolClusters*(clusterSize>>20+1) {
		return 0, invalidParamsErr(eINVAL)
	}
	n := (mib<<20 + clusterSize - 1) / clusterSize
	if n > MaxLvolClusters {
		return 0, invalidParamsErr(eINVAL)
	}
	return n, nil
}
