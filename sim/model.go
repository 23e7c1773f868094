package sim

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"sort"
)

// NoPage marks an extent-table slot without an extent page.
const NoPage = ^uint32(0)

// ClustersPerExtentPage is how many clusters one extent page maps (SPDK).
const ClustersPerExtentPage = 512

// Geometry is a blobstore's layout, in pages of PageSize bytes from the
// start of the device and clusters of ClusterSize bytes.
type Geometry struct {
	PageSize      uint32
	ClusterSize   uint64
	Size          uint64 // device bytes covered by the blobstore
	TotalClusters uint64 // Size / ClusterSize
	MDStart       uint32
	MDLen         uint32
	// DataStart is the first cluster not taken by metadata.
	DataStart uint64
	// The mask regions (start and length in pages) and the io unit, as the
	// super block records them.
	PageMask, ClusterMask, BlobIDMask Region
	IOUnitSize                        uint32
}

// Region is a run of pages from the start of the device.
type Region struct{ Start, Len uint32 }

// DataClusters is what bdev_lvol_get_lvstores calls total_data_clusters.
func (g Geometry) DataClusters() uint64 { return g.TotalClusters - g.DataStart }

// Xattr is one extended attribute, value as stored (NUL included).
type Xattr struct {
	Name  string
	Value []byte
}

// BlobState is what the persistence layer needs to write one blob: its
// identity, md pages, clusters, flags and xattrs. Chain[0] is the blob's
// first md page (its id's page).
type BlobState struct {
	ID          uint64
	Chain       []uint32
	ExtentPages []uint32 // per 512-cluster slot, NoPage when none
	// ExtentOwners is, per slot, the blob id an extent page carries in its
	// header: the blob that allocated it (a snapshot keeps the extent pages
	// of the lvol it was taken from). 0 means ID.
	ExtentOwners []uint64
	Clusters     []uint64 // per logical cluster: device cluster index, 0 = unallocated
	Thin         bool
	DataRO       bool
	Parent       uint64 // parent snapshot blob id, 0 = none
	Xattrs       []Xattr
	Internal     []Xattr // internal xattrs other than SNAP (EXTSNAP, SNAPTMP...)
	// InvalidExtra and MDROFlags keep flags read from disk that the model
	// does not derive (external snapshot, clear method), so that a rewrite
	// keeps them.
	InvalidExtra uint64
	MDROFlags    uint64
	// NoExtentTable: an older blob that maps its clusters with EXTENT_RLE
	// descriptors in its chain (lvstores of v24.09 always use a table).
	NoExtentTable bool
}

// blob is the model's blob: persisted state plus what is only in memory.
type blob struct {
	BlobState
	openRef int // holders besides the lvol: checksum, shallow copy
	super   bool
}

func (b *blob) xattr(name string) ([]byte, bool) {
	for _, x := range b.Xattrs {
		if x.Name == name {
			return x.Value, true
		}
	}
	return nil, false
}

func (b *blob) setXattr(name string, v []byte) {
	for i := range b.Xattrs {
		if b.Xattrs[i].Name == name {
			b.Xattrs[i].Value = v
			return
		}
	}
	b.Xattrs = append(b.Xattrs, Xattr{Name: name, Value: v})
}

func (b *blob) removeXattr(name string) bool {
	for i := range b.Xattrs {
		if b.Xattrs[i].Name == name {
			b.Xattrs = append(b.Xattrs[:i], b.Xattrs[i+1:]...)
			return true
		}
	}
	return false
}

// fitOwners sizes ExtentOwners to ExtentPages.
func (b *blob) fitOwners() {
	for len(b.ExtentOwners) < len(b.ExtentPages) {
		b.ExtentOwners = append(b.ExtentOwners, 0)
	}
	b.ExtentOwners = b.ExtentOwners[:len(b.ExtentPages)]
}

// Owner is the id extent page slot i carries.
func (b *BlobState) Owner(i int) uint64 {
	if i < len(b.ExtentOwners) && b.ExtentOwners[i] != 0 {
		return b.ExtentOwners[i]
	}
	return b.ID
}

func (b *blob) allocated() uint64 {
	var n uint64
	for _, c := range b.Clusters {
		if c != 0 {
			n++
		}
	}
	return n
}

// cstring returns v up to its first NUL.
func cstring(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// cbytes is s plus one NUL, as SPDK stores most string xattrs.
func cbytes(s string) []byte { return append([]byte(s), 0) }

// fixed is s NUL-padded to n bytes, as the lvol "name" xattr at creation.
func fixed(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

// bitmap is a fixed-size bit array.
type bitmap struct {
	w []uint64
	n uint64
}

func newBitmap(n uint64) *bitmap { return &bitmap{w: make([]uint64, (n+63)/64), n: n} }

func (m *bitmap) get(i uint64) bool { return i < m.n && m.w[i/64]&(1<<(i%64)) != 0 }
func (m *bitmap) set(i uint64) {
	if i < m.n {
		m.w[i/64] |= 1 << (i % 64)
	}
}
func (m *bitmap) clear(i uint64) {
	if i < m.n {
		m.w[i/64] &^= 1 << (i % 64)
	}
}

// firstClear returns the lowest clear bit at or after from.
func (m *bitmap) firstClear(from uint64) (uint64, bool) {
	for i := from; i < m.n; {
		w := m.w[i/64] >> (i % 64)
		if ^w == 0 && i%64 == 0 {
			i += 64
			continue
		}
		if w&1 == 0 {
			return i, true
		}
		i++
	}
	return 0, false
}

func (m *bitmap) count() uint64 {
	var n int
	for _, w := range m.w {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// orBits sets every bit set in bits (bit i in byte i/8, as SPDK's masks).
func (m *bitmap) orBits(bits []byte) {
	for i, b := range bits {
		for k := uint64(0); b != 0; k, b = k+1, b>>1 {
			if b&1 != 0 {
				m.set(uint64(i)*8 + k)
			}
		}
	}
}

// Bits returns the bit array as bytes, bit i in byte i/8, as SPDK's masks.
func (m *bitmap) Bits() []byte {
	out := make([]byte, (m.n+7)/8)
	for i := range out {
		out[i] = byte(m.w[i/8] >> (uint(i%8) * 8))
	}
	return out
}

// Masks are the three used-masks written at a clean unload.
type Masks struct {
	UsedPages    []byte // bit per md page
	UsedClusters []byte // bit per cluster
	UsedBlobIDs  []byte // bit per md page
	NumPages     uint64
	NumClusters  uint64
}

// MDWriter persists one lvstore's metadata on its base device as SPDK's
// blobstore does. Every method writes only what SPDK writes at that point.
type MDWriter interface {
	// Format writes a new blobstore: the super block (clean = 0) and
	// zeroed mask and md regions (spdk_bs_init).
	Format(g Geometry, superBlob uint64) error
	// MarkDirty rewrites the super block with clean = 0 (the first md write
	// after a clean load).
	MarkDirty() error
	// ChainLen says how many md pages b's descriptors need.
	ChainLen(b *BlobState) (int, error)
	// WriteBlob writes b's extent pages and chain pages (continuation pages
	// first, the first page last, as SPDK).
	WriteBlob(b *BlobState) error
	// ZeroPages writes zeroes over md pages (md region indices).
	ZeroPages(pages []uint32) error
	// Unload writes the masks and the super block with clean = 1.
	Unload(m Masks) error
}

// lvstore is one loaded lvstore: its blobstore and its lvols.
type lvstore struct {
	uuid, name string
	base       *bdev
	geo        Geometry
	superID    uint64
	w          MDWriter
	dirty      bool // super block on disk says clean = 0

	blobs        map[uint64]*blob
	lvols        []*lvol // live lvols, in order
	usedPages    *bitmap
	usedClusters *bitmap
	usedIDs      *bitmap
	// unsynced holds read-only blobs whose md changed in memory only (a
	// rename): SPDK skips the md sync of an md_ro blob and writes it when
	// the blob closes at a clean unload; a SIGKILL loses it.
	unsynced map[uint64]bool
}

// unload closes the lvstore cleanly: the md that waited for the close,
// then the masks and clean = 1.
func (s *lvstore) unload() error {
	for _, id := range slices.Sorted(maps.Keys(s.unsynced)) {
		if b, ok := s.blobs[id]; ok {
			if err := s.sync(b); err != nil {
				return err
			}
		}
	}
	s.unsynced = nil
	return s.w.Unload(s.masks())
}

func blobIDOf(page uint32) uint64 { return 1<<32 | uint64(page) }
func pageOf(id uint64) uint32     { return uint32(id) }

func newLvstore(g Geometry, w MDWriter) *lvstore {
	s := &lvstore{
		geo:          g,
		w:            w,
		blobs:        map[uint64]*blob{},
		usedPages:    newBitmap(uint64(g.MDLen)),
		usedClusters: newBitmap(g.TotalClusters),
		usedIDs:      newBitmap(uint64(g.MDLen)),
	}
	for c := uint64(0); c < g.DataStart; c++ {
		s.usedClusters.set(c)
	}
	return s
}

func (s *lvstore) freeClusters() uint64 { return s.geo.TotalClusters - s.usedClusters.count() }

// allocPage claims the lowest free md page.
func (s *lvstore) allocPage() (uint32, error) {
	p, ok := s.usedPages.firstClear(0)
	if !ok {
		return 0, fmt.Errorf("allocate md page: %w", ErrNoSpace)
	}
	s.usedPages.set(p)
	return uint32(p), nil
}

func (s *lvstore) releasePage(p uint32) { s.usedPages.clear(uint64(p)) }

// allocCluster claims the lowest free cluster.
func (s *lvstore) allocCluster() (uint64, error) {
	c, ok := s.usedClusters.firstClear(s.geo.DataStart)
	if !ok {
		return 0, fmt.Errorf("allocate cluster: %w", ErrNoSpace)
	}
	s.usedClusters.set(c)
	return c, nil
}

// newBlob claims an id (the lowest free md page) for a new blob.
func (s *lvstore) newBlob(numClusters uint64) (*blob, error) {
	p, err := s.allocPage()
	if err != nil {
		return nil, err
	}
	s.usedIDs.set(uint64(p))
	b := &blob{BlobState: BlobState{
		ID:          blobIDOf(p),
		Chain:       []uint32{p},
		Clusters:    make([]uint64, numClusters),
		ExtentPages: emptyExtentPages(numClusters),
	}}
	s.blobs[b.ID] = b
	return b, nil
}

func emptyExtentPages(numClusters uint64) []uint32 {
	n := (numClusters + ClustersPerExtentPage - 1) / ClustersPerExtentPage
	ep := make([]uint32, n)
	for i := range ep {
		ep[i] = NoPage
	}
	return ep
}

// allocateRange allocates clusters [from, to) of b that are not allocated,
// with the extent pages they need, as a write (or a thick resize) does.
func (s *lvstore) allocateRange(b *blob, from, to uint64) error {
	if to > uint64(len(b.Clusters)) {
		to = uint64(len(b.Clusters))
	}
	for i := from; i < to; i++ {
		if b.Clusters[i] != 0 {
			continue
		}
		c, err := s.allocCluster()
		if err != nil {
			return err
		}
		b.Clusters[i] = c
		if b.NoExtentTable {
			continue
		}
		slot := i / ClustersPerExtentPage
		b.fitOwners()
		if b.ExtentPages[slot] == NoPage {
			p, err := s.allocPage()
			if err != nil {
				return err
			}
			b.ExtentPages[slot] = p
		}
		// SPDK rewrites the extent page under the writing blob's id.
		b.ExtentOwners[slot] = 0
	}
	return nil
}

// resize changes b's size in clusters; thick blobs allocate the new ones.
func (s *lvstore) resize(b *blob, n uint64) error {
	old := uint64(len(b.Clusters))
	if n < old {
		for i := n; i < old; i++ {
			if c := b.Clusters[i]; c != 0 {
				s.usedClusters.clear(c)
			}
		}
		b.Clusters = b.Clusters[:n]
		keep := (n + ClustersPerExtentPage - 1) / ClustersPerExtentPage
		var drop []uint32
		for _, p := range b.ExtentPages[keep:] {
			if p != NoPage {
				drop = append(drop, p)
			}
		}
		b.ExtentPages = b.ExtentPages[:keep]
		b.fitOwners()
		if len(drop) > 0 {
			if err := s.w.ZeroPages(drop); err != nil {
				return fmt.Errorf("resize blob %#x: %w", b.ID, err)
			}
			for _, p := range drop {
				s.releasePage(p)
			}
		}
		return nil
	}
	b.Clusters = append(b.Clusters, make([]uint64, n-old)...)
	for uint64(len(b.ExtentPages))*ClustersPerExtentPage < n {
		b.ExtentPages = append(b.ExtentPages, NoPage)
	}
	if !b.Thin {
		return s.allocateRange(b, old, n)
	}
	return nil
}

// sync persists b's md as spdk_blob_sync_md: new continuation pages are
// claimed while the old ones are still held, written, then the old ones are
// zeroed and released; the first page is rewritten in place.
func (s *lvstore) sync(b *blob) error {
	if err := s.markDirty(); err != nil {
		return err
	}
	// Every allocated cluster needs its extent page (a blob loaded from an
	// RLE-only image gets them at its first sync).
	for i, c := range b.Clusters {
		if b.NoExtentTable {
			break
		}
		slot := i / ClustersPerExtentPage
		if c != 0 && b.ExtentPages[slot] == NoPage {
			p, err := s.allocPage()
			if err != nil {
				return fmt.Errorf("sync blob %#x: %w", b.ID, err)
			}
			b.fitOwners()
			b.ExtentPages[slot] = p
		}
	}
	n, err := s.w.ChainLen(&b.BlobState)
	if err != nil {
		return fmt.Errorf("sync blob %#x: %w", b.ID, err)
	}
	old := b.Chain[1:]
	chain := []uint32{b.Chain[0]}
	for len(chain) < n {
		p, err := s.allocPage()
		if err != nil {
			for _, q := range chain[1:] {
				s.releasePage(q)
			}
			return fmt.Errorf("sync blob %#x: %w", b.ID, err)
		}
		chain = append(chain, p)
	}
	b.Chain = chain
	if err := s.w.WriteBlob(&b.BlobState); err != nil {
		return fmt.Errorf("sync blob %#x: %w", b.ID, err)
	}
	if len(old) > 0 {
		if err := s.w.ZeroPages(old); err != nil {
			return fmt.Errorf("sync blob %#x: zero old pages: %w", b.ID, err)
		}
		for _, p := range old {
			s.releasePage(p)
		}
	}
	return nil
}

func (s *lvstore) markDirty() error {
	if s.dirty {
		return nil
	}
	if err := s.w.MarkDirty(); err != nil {
		return fmt.Errorf("mark blobstore dirty: %w", err)
	}
	s.dirty = true
	return nil
}

// deleteBlob removes b for real: md pages (chain and extent pages) zeroed
// on disk and released, clusters and id freed.
func (s *lvstore) deleteBlob(b *blob) error {
	if err := s.markDirty(); err != nil {
		return err
	}
	pages := append([]uint32(nil), b.Chain...)
	for _, p := range b.ExtentPages {
		if p != NoPage {
			pages = append(pages, p)
		}
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i] < pages[j] })
	if err := s.w.ZeroPages(pages); err != nil {
		return fmt.Errorf("delete blob %#x: %w", b.ID, err)
	}
	for _, p := range pages {
		s.releasePage(p)
	}
	for _, c := range b.Clusters {
		if c != 0 {
			s.usedClusters.clear(c)
		}
	}
	s.usedIDs.clear(uint64(pageOf(b.ID)))
	delete(s.blobs, b.ID)
	return nil
}

// clones returns the blobs whose parent is id, live or not, by id.
func (s *lvstore) clones(id uint64) []*blob {
	var out []*blob
	for _, b := range s.blobs {
		if b.Parent == id {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *lvstore) masks() Masks {
	return Masks{
		UsedPages:    s.usedPages.Bits(),
		UsedClusters: s.usedClusters.Bits(),
		UsedBlobIDs:  s.usedIDs.Bits(),
		NumPages:     s.usedPages.n,
		NumClusters:  s.usedClusters.n,
	}
}

func (s *lvstore) lvolByName(name string) *lvol {
	for _, l := range s.lvols {
		if l.name == name {
			return l
		}
	}
	return nil
}

func (s *lvstore) removeLvol(l *lvol) {
	for i, x := range s.lvols {
		if x == l {
			s.lvols = append(s.lvols[:i], s.lvols[i+1:]...)
			return
		}
	}
}

// lvol is a live lvol: an open blob with a bdev.
type lvol struct {
	uuid, name   string
	creationTime string
	store        *lvstore
	blob         *blob
	op           *operation // running checksum or copy holding the blob, if any
	// esnap: an external-snapshot clone (EXTSNAP). Its external bdev never
	// exists in the sim, so it loads degraded, as SPDK loads it when the
	// bdev is missing: listed, with no bdev of its own.
	esnap    bool
	degraded bool
	hasBdev  bool
	// hidden: a busy delete on a fixed target unregistered its bdev and
	// closed it, then the blob delete failed: it stays in the lvstore's
	// list (its name taken) but is listed nowhere, cannot be deleted, and
	// keeps the lvstore from unloading until the target is killed.
	hidden bool
}

func (l *lvol) alias() string { return l.store.name + "/" + l.name }

func (l *lvol) isClone() bool { return l.blob.Parent != 0 }

func (l *lvol) sizeBytes() uint64 { return uint64(len(l.blob.Clusters)) * l.store.geo.ClusterSize }

func u64le(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}
