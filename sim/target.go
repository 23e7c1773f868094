package sim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Delete semantics of bdev_lvol_delete while a blob is held open.
const (
	// DeleteForced is SPDK upstream and Longhorn's fork up to v24.09: the
	// lvol leaves the live view, the blob stays on disk, the RPC says busy.
	DeleteForced = "forced"
	// DeleteFixed is Longhorn's fix (longhorn/spdk PR #48) as the captured
	// real target shows it (fixtures/fixed-busy, fixed-shallow): busy, the
	// bdev unregistered and the lvol closed before the blob delete fails, so
	// the lvol is hidden from every view yet stays in the lvstore's list (a
	// "zombie"): retries answer "Invalid argument", a clone still names it
	// as base snapshot, a clean shutdown or a reload hangs until a kill,
	// and it is back after the restart.
	DeleteFixed = "fixed"
	// DeleteKeepListed is hypothetical: busy, and the lvol stays listed and
	// intact. No captured target behaves so; it exists to test lvfsck's
	// retry-with-backoff path for such a target.
	DeleteKeepListed = "keep-listed"
)

// Flavors: which methods the target offers.
const (
	FlavorLonghornV2409 = "longhorn-v24.09"
	FlavorLonghorn      = "longhorn"
	FlavorUpstream      = "upstream"
)

// Defaults.
const (
	DefaultBdevName   = "aio0"
	DefaultOpDuration = 2 * time.Second
	// DefaultOpBytesPerSec: a real v24.09 target's checksum read a 3 GiB
	// thick snapshot on a sparse file in 0.46 s (realdiff_test logs it;
	// over real data it reads slower: 96 MiB in ~80 ms).
	DefaultOpBytesPerSec = 6 << 30
	DefaultBlockSize     = 4096
	// DefaultClusterSize is SPDK's lvstore default (4 MiB).
	DefaultClusterSize = 4 << 20
)

// Device is a base bdev's backing storage.
type Device interface {
	io.ReaderAt
	io.WriterAt
	Size() int64
	Sync() error
	Close() error
}

// LoadedStore is an lvstore found on a device at examine time, as the
// stand-in's own load (load.go) decided it.
type LoadedStore struct {
	Geo       Geometry
	Clean     bool
	SuperBlob uint64
	UUID      string // the lvstore's
	// Blobs holds every blob that opens, the super blob included.
	Blobs []BlobState
	// Lvols are the lvols the lvstore lists, by blob id.
	Lvols []LoadedLvol
	// Held is what the load holds used: also the pages, clusters and ids of
	// blobs that do not open, which stay on disk.
	Held Masks
	// Rewrite and Delete are the load's own md writes (bs_load_iter): blobs
	// whose leftover snapshot xattr is cleared, and blobs deleted.
	Rewrite, Delete []uint64
}

// Backend reads and writes blobstore metadata; the default is the
// project's blobstore codec, with the stand-in's own load (load.go).
type Backend interface {
	// Layout is the geometry spdk_bs_init gives a new lvstore.
	Layout(devSize uint64, clusterSize uint64) (Geometry, error)
	// Writer persists metadata of the blobstore with geometry g on dev.
	Writer(dev Device, g Geometry, superBlob uint64) MDWriter
	// Load finds an lvstore on dev; (nil, nil) when there is none.
	Load(dev Device) (*LoadedStore, error)
}

// Config configures a Target.
type Config struct {
	// Image is the base bdev's file; created with Size bytes when absent.
	Image    string
	Size     int64
	BdevName string // default aio0
	// DeleteSemantics is DeleteForced (default), DeleteFixed or
	// DeleteKeepListed.
	DeleteSemantics string
	// OpDuration is how long a checksum or shallow copy holds its blob,
	// at the least; OpBytesPerSec adds the time to read its allocated
	// clusters, as a real target's checksum and copy take longer on a
	// bigger snapshot.
	OpDuration time.Duration
	// OpBytesPerSec is the read rate of a checksum or copy (default
	// DefaultOpBytesPerSec; negative: the duration is OpDuration whatever
	// the size).
	OpBytesPerSec int64
	// Flavor is FlavorLonghornV2409 (default), FlavorLonghorn or FlavorUpstream.
	Flavor string
	// FailOpen lists lvol uuids that fail to open at load (SPDK #2608).
	FailOpen []string
	// Log receives spdk_tgt-format lines; nil discards.
	Log io.Writer
	// Backend persists metadata; nil uses DefaultBackend.
	Backend Backend
	// OnKill is called after spdk_kill_instance SIGKILL crashed the target
	// (the command kills its own process there); nil does nothing more.
	OnKill func()
	// MaxRequest bounds one JSON-RPC request, in bytes (default 32 KiB, the
	// size of spdk_tgt's receive buffer).
	MaxRequest int64
	// StallCopy makes every shallow copy stall on its destination: it holds
	// its snapshot open for OpDuration but reads only its first MiB, so the
	// base bdev's iostat stays flat meanwhile (fixtures README, iostat: a
	// quiet base bdev does not prove that nothing holds a blob).
	StallCopy bool
}

// DefaultBackend is set by the package's codec-backed implementation.
var DefaultBackend Backend

// bdev is one registered bdev: an AIO base bdev or an lvol bdev.
type bdev struct {
	name, uuid string
	blockSize  uint32
	numBlocks  uint64
	filename   string
	dev        Device
	// claim is the claim type bdev_get_bdevs shows ("" when unclaimed):
	// an lvstore claims its base bdev read_many_write_one, an NVMe-oF
	// namespace its bdev exclusive_write.
	claim string
	store *lvstore // lvstore on this base bdev, if any
	lvol  *lvol    // set for lvol bdevs
	// wedged: its lvstore's unload never finished (a blob was held open):
	// gone from every view, its name still taken, never unregistered.
	wedged bool
	// stuck names the lvol bdev whose unregistration waited on an lvstore
	// unload refused for a hidden lvol (fixed semantics); "" otherwise.
	stuck string
	io    ioStats
}

// Target is a running stand-in spdk_tgt.
type Target struct {
	cfg     Config
	log     *Logger
	backend Backend

	mu         sync.Mutex
	bdevs      []*bdev
	subsystems []*subsystem        // NVMe-oF subsystems (discovery aside)
	transports map[string]bool     // NVMe-oF transports created (TCP)
	running    map[*operation]bool // checksums and copies not yet released
	born       time.Time
	tickBase   uint64
	killCh     chan struct{} // closed by Crash
	hanging    bool          // a shutdown waits on a wedged bdev
	stores     []*lvstore
	notify     ring
	copies     map[uint32]*operation
	copySeq    uint32
	stopped    bool
	crashed    bool
	methods    map[string]handler
	listed     []string
	conns      map[net.Conn]struct{}
	lis        net.Listener
	stopCh     chan struct{}
	stopOnce   sync.Once
	opsWG      sync.WaitGroup
	shutdownMu sync.Mutex
	shutDone   bool
	shutErr    error
}

// New opens the image as the base bdev and loads any lvstore on it, as
// spdk_tgt examines a new bdev.
func New(cfg Config) (*Target, error) {
	if cfg.BdevName == "" {
		cfg.BdevName = DefaultBdevName
	}
	if cfg.DeleteSemantics == "" {
		cfg.DeleteSemantics = DeleteForced
	}
	switch cfg.DeleteSemantics {
	case DeleteForced, DeleteFixed, DeleteKeepListed:
	default:
		return nil, fmt.Errorf("delete semantics %q: want %s, %s or %s", cfg.DeleteSemantics, DeleteForced, DeleteFixed, DeleteKeepListed)
	}
	if cfg.OpDuration <= 0 {
		cfg.OpDuration = DefaultOpDuration
	}
	if cfg.OpBytesPerSec == 0 {
		cfg.OpBytesPerSec = DefaultOpBytesPerSec
	}
	if cfg.Flavor == "" {
		cfg.Flavor = FlavorLonghornV2409
	}
	if cfg.MaxRequest <= 0 {
		cfg.MaxRequest = 32 << 10
	}
	t := &Target{
		cfg:        cfg,
		log:        NewLogger(cfg.Log),
		backend:    cfg.Backend,
		copies:     map[uint32]*operation{},
		conns:      map[net.Conn]struct{}{},
		stopCh:     make(chan struct{}),
		transports: map[string]bool{},
		running:    map[*operation]bool{},
		born:       time.Now(),
		killCh:     make(chan struct{}),
	}
	// The real target's ticks count from the host's boot, not from its own
	// start: start from an arbitrary large value.
	t.tickBase = uint64(t.born.UnixNano()%(1<<40)) * 21 / 10
	if t.backend == nil {
		t.backend = DefaultBackend
	}
	if t.backend == nil {
		return nil, errors.New("sim: no metadata backend")
	}
	var err error
	if t.methods, t.listed, err = methodsFor(cfg.Flavor); err != nil {
		return nil, err
	}
	t.log.plain("Starting SPDK %s / DPDK 22.11.11 initialization...", versionString)
	t.log.logf(srcAppStart, lvlNotice, "Total cores available: 1")
	t.log.logf(srcReactor, lvlNotice, "Reactor started on core 0")
	if cfg.Image != "" {
		dev, err := OpenImage(cfg.Image, cfg.Size)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		_, err = t.addAio(cfg.BdevName, cfg.Image, DefaultBlockSize, dev)
		t.mu.Unlock()
		if err != nil {
			dev.Close()
			return nil, err
		}
	}
	return t, nil
}

// OpenImage opens (creating with size bytes when absent) an image file.
func OpenImage(path string, size int64) (Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if size <= 0 {
			return nil, fmt.Errorf("open image %s: absent and no size to create it", path)
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			err = f.Truncate(size)
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("open image %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat image %s: %w", path, err)
	}
	return &fileDev{f: f, size: st.Size()}, nil
}

type fileDev struct {
	f    *os.File
	size int64
}

func (d *fileDev) ReadAt(p []byte, off int64) (int, error)  { return d.f.ReadAt(p, off) }
func (d *fileDev) WriteAt(p []byte, off int64) (int, error) { return d.f.WriteAt(p, off) }
func (d *fileDev) Size() int64                              { return d.size }
func (d *fileDev) Sync() error                              { return d.f.Sync() }
func (d *fileDev) Close() error                             { return d.f.Close() }

// nextData is lseek(SEEK_DATA): the next offset at or after off that holds
// data; the file's size when only a hole follows.
func (d *fileDev) nextData(off int64) (int64, error) {
	n, err := d.f.Seek(off, seekData)
	if errors.Is(err, syscall.ENXIO) {
		return d.size, nil
	}
	return n, err
}

// seekData is SEEK_DATA (Linux).
const seekData = 3

// addAio registers an AIO bdev and examines it for an lvstore. Caller holds mu.
func (t *Target) addAio(name, filename string, blockSize uint32, dev Device) (*bdev, error) {
	if t.nameTaken(name) {
		t.log.logf(srcBdevNameAdd, lvlError, "Bdev name %s already exists", name)
		return nil, errnoErr(eEXIST)
	}
	b := &bdev{
		name:      name,
		uuid:      newUUID(),
		blockSize: blockSize,
		numBlocks: uint64(dev.Size()) / uint64(blockSize),
		filename:  filename,
	}
	b.dev = countDev{Device: dev, st: &b.io}
	t.bdevs = append(t.bdevs, b)
	ld, err := t.backend.Load(dev)
	if err != nil {
		// A device that is not a blobstore is just a bdev, as in SPDK.
		ld = nil
		t.log.logf(srcFoundSuper, lvlInfo, "examine %s: %v", name, err)
	}
	if ld != nil {
		t.loadStore(b, ld)
	}
	// The base bdev's register event comes after its lvols' (examine
	// finishes before the bdev's registration is announced).
	t.notify.add(EventBdevRegister, name)
	return b, nil
}

// loadStore rebuilds the model from a loaded blobstore and examines its
// lvols, as vbdev_lvol does. Caller holds mu.
func (t *Target) loadStore(base *bdev, ld *LoadedStore) {
	s := t.adoptStore(base, ld)
	if s == nil {
		return
	}
	t.examine(s, t.listLvols(s, ld))
}

// adoptStore builds the lvstore's model from the loaded blobs and the
// masks the load holds, and applies the load's own md writes.
func (t *Target) adoptStore(base *bdev, ld *LoadedStore) *lvstore {
	s := newLvstore(ld.Geo, t.backend.Writer(base.dev, ld.Geo, ld.SuperBlob))
	s.base = base
	s.superID = ld.SuperBlob
	s.dirty = !ld.Clean
	if !ld.Clean {
		t.log.logf(srcRecover, lvlNotice, "Performing recovery on blobstore")
	}
	s.usedPages.orBits(ld.Held.UsedPages)
	s.usedClusters.orBits(ld.Held.UsedClusters)
	s.usedIDs.orBits(ld.Held.UsedBlobIDs)
	for i := range ld.Blobs {
		b := s.adopt(ld.Blobs[i])
		if !ld.Clean {
			t.log.logf(srcReplay, lvlNotice, "Recover: blob %#x", pageOf(b.ID))
		}
	}
	sb, ok := s.blobs[s.superID]
	if !ok {
		t.log.logf(srcFoundSuper, lvlError, "super blob %d not found", s.superID)
		return nil
	}
	sb.super = true
	t.log.logf(srcFoundSuper, lvlInfo, "found superblob %d", s.superID)
	s.uuid = ld.UUID
	if v, ok := sb.xattr("name"); ok {
		s.name = cstring(v)
	}
	t.applyLoadWrites(s, ld)
	base.claim = ClaimReadManyWriteOne
	base.store = s
	t.stores = append(t.stores, s)
	return s
}

// adopt adds a loaded blob to the model, marking what it uses.
func (s *lvstore) adopt(bs BlobState) *blob {
	b := &blob{BlobState: bs}
	if len(b.ExtentPages) == 0 {
		b.ExtentPages = emptyExtentPages(uint64(len(b.Clusters)))
	}
	s.blobs[b.ID] = b
	for _, p := range b.Chain {
		s.usedPages.set(uint64(p))
	}
	for _, p := range b.ExtentPages {
		if p != NoPage {
			s.usedPages.set(uint64(p))
		}
	}
	s.usedIDs.set(uint64(pageOf(b.ID)))
	for _, c := range b.Clusters {
		if c != 0 {
			s.usedClusters.set(c)
		}
	}
	return b
}

// applyLoadWrites writes what bs_load_iter changed: leftover snapshots
// kept (xattr cleared) are synced, the others deleted.
func (t *Target) applyLoadWrites(s *lvstore, ld *LoadedStore) {
	for _, id := range ld.Rewrite {
		if b, ok := s.blobs[id]; ok {
			if err := s.sync(b); err != nil {
				t.log.logf(srcFoundSuper, lvlError, "load: %v", err)
			}
		}
	}
	for _, id := range ld.Delete {
		if b, ok := s.blobs[id]; ok {
			if err := s.deleteBlob(b); err != nil {
				t.log.logf(srcFoundSuper, lvlError, "load: %v", err)
			}
		}
	}
}

// listLvols makes the lvols load_next_lvol listed, in blob id order.
func (t *Target) listLvols(s *lvstore, ld *LoadedStore) []*lvol {
	var loaded []*lvol
	for _, lv := range ld.Lvols {
		b, ok := s.blobs[lv.BlobID]
		if !ok {
			continue
		}
		l := &lvol{uuid: lv.UniqueID(s.uuid), name: lv.Name, creationTime: lv.CreationTime, store: s, blob: b}
		for _, x := range b.Internal {
			if x.Name == "EXTSNAP" {
				l.esnap, l.degraded = true, true
			}
		}
		uuidStr := lv.UUID
		if uuidStr == "" {
			uuidStr = nullUUID
		}
		t.log.logf(srcAddedLvol, lvlInfo, "added lvol %s (%s)", l.uuid, uuidStr)
		loaded = append(loaded, l)
	}
	return loaded
}

// nullUUID is how SPDK formats a missing lvol uuid.
const nullUUID = "00000000-0000-0000-0000-000000000000"

// examine opens every listed lvol at once; each registers its bdev when
// its open completes, and the first to register takes the name.
func (t *Target) examine(s *lvstore, loaded []*lvol) {
	fail := map[string]bool{}
	for _, u := range t.cfg.FailOpen {
		fail[u] = true
	}
	dropped := map[*lvol]bool{}
	names := map[string]bool{}
	var registered, aliasLost []*lvol
	for _, l := range openOrder(s, loaded) {
		if fail[l.uuid] {
			t.log.logf(srcOpenLvolFail, lvlError, "Error opening lvol %s", l.uuid)
			dropped[l] = true
			continue
		}
		if l.degraded {
			continue // no bdev until its external snapshot appears
		}
		// The bdev is named by the uuid, aliased by lvstore/name: either
		// taken, the registration fails.
		taken := ""
		if names[l.uuid] {
			taken = l.uuid
		} else if names["/"+l.name] {
			taken = l.alias()
		}
		if taken != "" {
			t.log.logf(srcBdevNameAdd, lvlError, "Bdev name %s already exists", taken)
			t.log.logf(srcCreateDisk, lvlError, "Cannot create bdev for lvol %s", l.uuid)
			dropped[l] = true
			if taken != l.uuid {
				// Its bdev registered under the uuid before the alias
				// failed: the real target notifies bdev_register, then
				// bdev_unregister (realdiff_test).
				aliasLost = append(aliasLost, l)
			}
			continue
		}
		names[l.uuid], names["/"+l.name] = true, true
		registered = append(registered, l)
	}
	for _, l := range loaded {
		if !dropped[l] {
			s.lvols = append(s.lvols, l)
		}
	}
	t.announce(registered, aliasLost)
}

// announce adds the registered lvols' bdevs and their notify events.
func (t *Target) announce(registered, aliasLost []*lvol) {
	for _, l := range registered {
		t.bdevs = append(t.bdevs, &bdev{name: l.uuid, uuid: l.uuid, blockSize: DefaultBlockSize, lvol: l})
		l.hasBdev = true
	}
	// The real target's notify ring has these registrations in the reverse
	// order of its bdev list (fixtures/notify.after-restart and reload).
	for i := len(registered) - 1; i >= 0; i-- {
		t.notify.add(EventBdevRegister, registered[i].uuid)
	}
	for _, l := range aliasLost {
		t.notify.add(EventBdevRegister, l.uuid)
		t.notify.add(EventBdevUnregister, l.uuid)
	}
}

// openOrder is the order in which examine's concurrent lvol opens
// complete: an open reads the md chain, then the extent pages, one page
// after another; a clone's open completes after its parent's. Ties keep
// the order the opens were issued in (blob id). This reproduces the bdev
// order of every captured restart, and the real target's choice in a name
// collision (the lvol with the quicker open keeps the name).
func openOrder(s *lvstore, lvols []*lvol) []*lvol {
	own := func(b *blob) float64 {
		n := len(b.Chain)
		for _, p := range b.ExtentPages {
			if p != NoPage {
				n++
			}
		}
		return float64(n)
	}
	done := map[uint64]float64{}
	var at func(b *blob, depth int) float64
	at = func(b *blob, depth int) float64 {
		if v, ok := done[b.ID]; ok {
			return v
		}
		v := own(b)
		if p, ok := s.blobs[b.Parent]; ok && b.Parent != 0 && depth < 64 {
			v = max(v, at(p, depth+1)+0.5)
		}
		done[b.ID] = v
		return v
	}
	out := append([]*lvol(nil), lvols...)
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := at(out[i].blob, 0), at(out[j].blob, 0)
		if di != dj {
			return di < dj
		}
		// Waiting on the same parent: the one that started waiting first.
		return own(out[i].blob) < own(out[j].blob)
	})
	return out
}

// registerLvol adds the lvol's bdev. Caller holds mu.
func (t *Target) registerLvol(l *lvol) {
	l.hasBdev = true
	t.bdevs = append(t.bdevs, &bdev{name: l.uuid, uuid: l.uuid, blockSize: DefaultBlockSize, lvol: l})
	t.notify.add(EventBdevRegister, l.uuid)
}

// unregisterLvol removes the lvol's bdev. Caller holds mu.
func (t *Target) unregisterLvol(l *lvol) {
	if !l.hasBdev {
		return
	}
	l.hasBdev = false
	for i, b := range t.bdevs {
		if b.lvol == l {
			// An exported lvol's namespace goes first (the bdev layer asks
			// its open descriptors to close before it unregisters).
			t.hotRemoveNS(b)
			t.bdevs = append(t.bdevs[:i], t.bdevs[i+1:]...)
			break
		}
	}
	t.notify.add(EventBdevUnregister, l.uuid)
}

// bdevByName is spdk_bdev_get_by_name: by name or alias; a wedged bdev is
// not found (its unregistration started).
func (t *Target) bdevByName(name string) *bdev {
	for _, b := range t.bdevs {
		if b.name == name && !b.wedged {
			return b
		}
	}
	for _, b := range t.bdevs {
		if b.wedged {
			continue
		}
		if b.lvol != nil && b.lvol.alias() == name {
			return b
		}
		if b.lvol == nil && b.uuid == name {
			return b
		}
	}
	return nil
}

// nameTaken: a bdev (wedged ones included) holds name as name or alias.
func (t *Target) nameTaken(name string) bool {
	for _, b := range t.bdevs {
		if b.name == name || b.uuid == name || (b.lvol != nil && b.lvol.alias() == name) {
			return true
		}
	}
	return false
}

// lvolByBdev is spdk_bdev_get_by_name + vbdev_lvol_get_from_bdev.
func (t *Target) lvolByBdev(name string) *lvol {
	if b := t.bdevByName(name); b != nil {
		return b.lvol
	}
	return nil
}

// lvolForDelete resolves as rpc_bdev_lvol_delete: bdev name or alias, then
// uuid, then lvstore/lvol names.
func (t *Target) lvolForDelete(name string) *lvol {
	if l := t.lvolByBdev(name); l != nil {
		return l
	}
	for _, s := range t.stores {
		for _, l := range s.lvols {
			if l.uuid == name || l.alias() == name {
				return l
			}
		}
	}
	return nil
}

func (t *Target) storeByName(name string) *lvstore {
	for _, s := range t.stores {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (t *Target) storeByUUID(u string) *lvstore {
	for _, s := range t.stores {
		if s.uuid == u {
			return s
		}
	}
	return nil
}

// maxConns is SPDK_JSONRPC_MAX_CONNS.
const maxConns = 64

// Serve answers JSON-RPC on a unix socket at path until ctx ends or the
// target is killed; at ctx's end it shuts down cleanly.
func (t *Target) Serve(ctx context.Context, path string) error {
	// As spdk_tgt: a socket something answers on is in use; a stale one
	// (left by a killed target) is replaced.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("RPC Unix domain socket path %s in use: %w", path, ErrSocketInUse)
	}
	_ = os.Remove(path)
	lis, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	t.mu.Lock()
	t.lis = lis
	t.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			_ = t.Shutdown()
		case <-t.stopCh:
		}
	}()
	// spdk_tgt serves at most 64 connections; more wait in the backlog.
	slots := make(chan struct{}, maxConns)
	for {
		select {
		case slots <- struct{}{}:
		case <-t.stopCh:
			return nil
		}
		c, err := lis.Accept()
		if err != nil {
			t.mu.Lock()
			stopped := t.stopped
			t.mu.Unlock()
			if stopped {
				return nil
			}
			return fmt.Errorf("accept on %s: %w", path, err)
		}
		t.mu.Lock()
		if t.stopped {
			t.mu.Unlock()
			c.Close()
			continue
		}
		t.conns[c] = struct{}{}
		t.mu.Unlock()
		go func() {
			t.serveConn(c)
			<-slots
		}()
	}
}

// Done is closed when the target stopped (shutdown or kill).
func (t *Target) Done() <-chan struct{} { return t.stopCh }

// stop closes the listener and every connection. Caller holds mu.
func (t *Target) stopLocked() {
	t.stopped = true
	if t.lis != nil {
		t.lis.Close()
		if a, ok := t.lis.Addr().(*net.UnixAddr); ok {
			_ = os.Remove(a.Name)
		}
	}
	for c := range t.conns {
		c.Close()
	}
	for _, op := range t.copies {
		op.cancel()
	}
	for _, s := range t.stores {
		for _, l := range s.lvols {
			if l.op != nil {
				l.op.cancel()
			}
		}
	}
	t.stopOnce.Do(func() { close(t.stopCh) })
}

// Shutdown stops serving and unloads every lvstore as spdk_tgt does on
// SIGINT: lvols closed, masks written, super block clean = 1.
func (t *Target) Shutdown() error {
	// A second caller waits for the first one's unload and gets its result.
	t.shutdownMu.Lock()
	defer t.shutdownMu.Unlock()
	if t.shutDone {
		return t.shutErr
	}
	t.shutDone = true
	t.shutErr = t.shutdown()
	return t.shutErr
}

func (t *Target) shutdown() error {
	t.mu.Lock()
	if t.crashed {
		t.mu.Unlock()
		return nil
	}
	for _, s := range append([]*lvstore(nil), t.stores...) {
		if s.hasHidden() {
			t.wedgeOnHidden(s)
		}
	}
	if t.hasWedge() {
		return t.hangUntilKilled()
	}
	t.stopLocked()
	t.mu.Unlock()
	// Operations still holding blobs finish (cancelled) first, as an unload
	// waits for its blobs to close.
	t.opsWG.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, s := range t.stores {
		for _, l := range s.lvols {
			t.log.logf(srcLvolClosed, lvlInfo, "Lvol %s closed", l.uuid)
		}
		t.log.logf(srcLvsUnload, lvlInfo, "Unloading lvol store")
		if err := s.unload(); err != nil {
			errs = append(errs, fmt.Errorf("unload lvstore %s: %w", s.name, err))
			continue
		}
		t.log.logf(srcLvsUnloaded, lvlInfo, "Lvol store unloaded")
	}
	for _, b := range t.bdevs {
		if b.dev != nil {
			if err := b.dev.Sync(); err != nil {
				errs = append(errs, err)
			}
			if err := b.dev.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ErrWedged: the target could not shut down (a base bdev whose lvstore
// unload never finished) and was killed.
var ErrWedged = errors.New("shutdown could not finish: a base bdev is wedged (killed)")

func (t *Target) hasWedge() bool {
	for _, b := range t.bdevs {
		if b.wedged {
			return true
		}
	}
	return false
}

// hangUntilKilled is a shutdown with a wedged base bdev, as the real
// target does it (fixtures/reload-unsafe): the other lvstores unload, the
// bdev layer warns that it cannot unregister the wedged bdev, and the
// subsystem teardown never completes, so the RPC server keeps answering
// and the process runs on until it is killed. Called with mu held;
// returns ErrWedged once Crash ran.
func (t *Target) hangUntilKilled() error {
	t.hanging = true
	for _, s := range append([]*lvstore(nil), t.stores...) {
		for _, l := range append([]*lvol(nil), s.lvols...) {
			t.unregisterLvol(l)
			t.log.logf(srcLvolClosed, lvlInfo, "Lvol %s closed", l.uuid)
		}
		s.lvols = nil
		t.log.logf(srcLvsUnload, lvlInfo, "Unloading lvol store")
		if err := s.unload(); err == nil {
			t.log.logf(srcLvsUnloaded, lvlInfo, "Lvol store unloaded")
		}
		t.dropStore(s)
	}
	var keep []*bdev
	for _, b := range t.bdevs {
		if b.wedged {
			keep = append(keep, b)
			if b.stuck != "" {
				// As fixtures/fixed-busy: the lvol bdev whose unregistration
				// waits on the refused unload, then the base bdev.
				t.log.logf(srcBdevFinish, lvlWarning, "Unable to unregister bdev '%s' during spdk_bdev_finish()", b.stuck)
				t.log.logf(srcBdevFinishCl, lvlWarning, "Unregistering claimed bdev '%s'!", b.name)
				continue
			}
			t.log.logf(srcBdevFinishCl, lvlWarning, "Unregistering claimed bdev '%s'!", b.name)
			t.log.logf(srcBdevFinish, lvlWarning, "Unable to unregister bdev '%s' during spdk_bdev_finish()", b.name)
			continue
		}
		t.hotRemoveNS(b)
		t.notify.add(EventBdevUnregister, b.name)
		if b.dev != nil {
			_ = b.dev.Sync()
			_ = b.dev.Close()
			b.dev = nil
		}
	}
	t.bdevs = keep
	t.mu.Unlock()
	<-t.killCh
	return ErrWedged
}

// wedgeOnHidden unloads an lvstore that holds a hidden lvol (a busy delete
// on a fixed target), as the real target does at shutdown or at
// bdev_aio_delete of its base bdev (fixtures/fixed-busy, its reload-wedge
// log): the listed lvols close (their bdevs go, last registered first), the
// unload is refused ("operations on lvols pending"), nothing is written
// (clean stays 0), and the lvstore and its base bdev vanish from every view
// with the base bdev's name still taken. Caller holds mu.
func (t *Target) wedgeOnHidden(s *lvstore) {
	var last string
	for i := len(s.lvols) - 1; i >= 0; i-- {
		l := s.lvols[i]
		if l.hidden || !l.hasBdev {
			continue
		}
		t.unregisterLvol(l)
		t.log.logf(srcLvolClosed, lvlInfo, "Lvol %s closed", l.uuid)
		last = l.uuid
	}
	t.log.logf(srcLvsUnloadBusy, lvlError, "Cannot unload lvol store - operations on lvols pending")
	s.lvols = nil
	t.dropStore(s)
	s.base.store = nil
	s.base.wedged = true
	s.base.stuck = last
}

// hasHidden: the lvstore holds a hidden lvol (fixed semantics).
func (s *lvstore) hasHidden() bool {
	for _, l := range s.lvols {
		if l.hidden {
			return true
		}
	}
	return false
}

// Crash stops the target as a SIGKILL does: nothing more is written (the
// md pages already written stay; masks stay stale, clean stays 0). It also
// ends a shutdown that hangs on a wedged bdev.
func (t *Target) Crash() {
	t.mu.Lock()
	if t.crashed || (t.stopped && !t.hanging) {
		t.mu.Unlock()
		return
	}
	t.crashed = true
	t.stopLocked()
	for _, b := range t.bdevs {
		if b.dev != nil {
			b.dev.Close()
		}
	}
	close(t.killCh)
	t.mu.Unlock()
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
