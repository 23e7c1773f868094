package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/lvfsck/lvfsck/blobstore"
)

// The stand-in's own load of an lvstore, written from SPDK v24.09's
// spdk_bs_load (lib/blob/blobstore.c), bs_load_iter and lvs_load
// (lib/lvol/lvol.c) over the blobstore codec alone. It decides by itself
// which blobs and lvols come back at a restart: lvfsck's scanner makes the
// same prediction its own way, and an end-to-end test on the stand-in only
// catches a scanner mistake if the two do not share the verdict.

// Why a device does not give an lvstore (errors.Is).
var (
	// ErrLoadRefused: SPDK fails the load; the base bdev stays a plain bdev.
	ErrLoadRefused = errors.New("the lvstore does not load")
	// ErrLoadCrash: SPDK fails an assertion (or never finishes) loading
	// it. The stand-in refuses the lvstore instead of dying.
	ErrLoadCrash = fmt.Errorf("%w: spdk_tgt would fail an assertion", ErrLoadRefused)
)

// LoadedLvol is one lvol lvs_load lists (load_next_lvol), in blob id order.
type LoadedLvol struct {
	BlobID       uint64
	Name         string
	UUID         string // "" when the uuid xattr is missing or invalid (a null uuid)
	CreationTime string
}

// UniqueID is what SPDK names the lvol's bdev by: its uuid, or for a null
// uuid the lvstore's uuid and the blob id.
func (l LoadedLvol) UniqueID(lvsUUID string) string {
	if l.UUID != "" {
		return l.UUID
	}
	return lvsUUID + "_" + strconv.FormatUint(l.BlobID, 10)
}

// loadImage is examine's load of dev: (nil, nil) when dev holds no
// lvstore, an error wrapping ErrLoadRefused when SPDK would not load it.
func loadImage(dev Device) (*LoadedStore, error) {
	sb, err := readSuper(dev)
	if sb == nil || err != nil {
		return nil, err
	}
	l := &loader{dev: dev, sb: sb, clean: sb.Clean == 1 && sb.UsedBlobIDMaskLen != 0,
		opened: map[uint64]*opened{}}
	if l.clean {
		err = l.readMasks()
	} else {
		err = l.replay()
	}
	if err != nil {
		return nil, err
	}
	ld := &LoadedStore{Geo: geometryOf(sb), Clean: sb.Clean == 1, SuperBlob: sb.SuperBlob}
	if err := l.loadIter(ld); err != nil {
		return nil, err
	}
	lvsUUID, err := l.lvstoreIdentity()
	if err != nil {
		return nil, err
	}
	if ld.Lvols, err = l.lvols(lvsUUID); err != nil {
		return nil, err
	}
	ld.UUID = lvsUUID
	ld.Blobs = l.blobStates(ld)
	ld.Held = Masks{UsedPages: l.pages.Bits, UsedClusters: l.clusters.Bits, UsedBlobIDs: l.ids.Bits,
		NumPages: uint64(l.pages.Length), NumClusters: uint64(l.clusters.Length)}
	return ld, nil
}

// readSuper reads the super block as bs_load_super_cpl checks it for an
// lvstore: (nil, nil) when dev is no blobstore of type LVOLSTORE.
func readSuper(dev Device) (*blobstore.SuperBlock, error) {
	head := make([]byte, blobstore.PageSize)
	if _, err := dev.ReadAt(head, 0); err != nil || string(head[:8]) != blobstore.Signature {
		return nil, nil // too small, or no blobstore
	}
	sb, err := blobstore.DecodeSuperBlock(head)
	if err != nil {
		return nil, fmt.Errorf("%w: super block: %v", ErrLoadRefused, err)
	}
	var want [blobstore.BstypeLength]byte
	copy(want[:], blobstore.LvolstoreBstype)
	if sb.Bstype != want {
		return nil, nil // lvs_load asks for LVOLSTORE: -ENXIO, "Lvol store not found"
	}
	if sb.Size == 0 { // old images: the whole device (bs_parse_super)
		sb.Size = uint64(dev.Size())
	}
	if err := sb.CheckDevice(dev.Size()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLoadRefused, err)
	}
	return sb, nil
}

// loader holds one load: the in-memory masks SPDK builds (read when the
// store was unloaded cleanly, replayed from the md pages when not) and the
// blobs opened so far.
type loader struct {
	dev                  Device
	sb                   *blobstore.SuperBlock
	clean                bool
	pages, clusters, ids *blobstore.Mask
	opened               map[uint64]*opened
	deleted              map[uint64]bool // by bs_load_iter
	chunk                []byte          // md pages the replay read last
	chunkStart           uint32
}

// opened is the outcome of one spdk_bs_open_blob.
type opened struct {
	b   *blobstore.Blob
	err error // nil: it opens
}

// readMasks loads the three masks of a clean store. A mask whose header
// does not match the super block fails an assertion in SPDK.
func (l *loader) readMasks() error {
	for _, m := range []struct {
		kind uint8
		dst  **blobstore.Mask
	}{{blobstore.MaskUsedPages, &l.pages}, {blobstore.MaskUsedClusters, &l.clusters}, {blobstore.MaskUsedBlobIDs, &l.ids}} {
		mask, err := blobstore.ReadMask(l.dev, l.sb, m.kind)
		if errors.Is(err, blobstore.ErrMask) {
			return fmt.Errorf("%w: %v", ErrLoadCrash, err)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrLoadRefused, err)
		}
		*m.dst = mask
	}
	return nil
}

// replay rebuilds the masks of a store that was not unloaded cleanly, as
// bs_load_replay_md: md pages in index order; a CRC-valid page of sequence
// 0 that carries its own blob id starts a blob, whose chain is claimed page
// by page while each next page is valid; its extent pages are read when the
// chain ends normally. A page claimed twice, or a link out of the md
// region, fails an assertion; a page the replay cannot parse, or an extent
// page that is not one, fails the whole load (-EILSEQ).
func (l *loader) replay() error {
	md := l.sb.MDLen
	l.pages = blobstore.NewMask(blobstore.MaskUsedPages, md)
	l.ids = blobstore.NewMask(blobstore.MaskUsedBlobIDs, md)
	l.clusters = blobstore.NewMask(blobstore.MaskUsedClusters, uint32(l.sb.TotalClusters()))
	r := &replayState{l: l, free: l.sb.TotalClusters()}
	for idx := l.nextData(0); idx < md; idx = l.nextData(idx) {
		if err := r.chain(idx); err != nil {
			return err
		}
		for idx++; idx < md && l.pages.Test(uint64(idx)); idx++ {
		}
	}
	for c := uint64(0); c < l.sb.MDClusters(); c++ {
		l.clusters.Set(c)
	}
	return nil
}

// replayState is what the replay carries from page to page. Extent pages
// of a chain that broke off are not read, and stay queued for the next
// chain that ends normally, as SPDK's load context keeps them.
type replayState struct {
	l       *loader
	free    uint64
	extents []uint32
}

// chain replays the chain that may start at md page first.
func (r *replayState) chain(first uint32) error {
	l := r.l
	for cur, inChain := first, false; ; inChain = true {
		p, ok := l.replayPage(cur)
		// bs_load_cur_md_page_valid: a first page carries its own id.
		if !ok || (p.Sequence == 0 && p.ID != blobstore.BlobID(cur)) || (p.Sequence != 0 && !inChain) {
			return nil
		}
		if l.pages.Test(uint64(cur)) {
			return fmt.Errorf("%w: recovery claims md page %d twice", ErrLoadCrash, cur)
		}
		l.pages.Set(uint64(cur))
		if p.Sequence == 0 {
			l.ids.Set(uint64(cur))
		}
		if err := r.parse(cur, p); err != nil {
			return err
		}
		if p.Next == blobstore.InvalidPage {
			return r.extentPages()
		}
		if p.Next >= l.sb.MDLen {
			return fmt.Errorf("%w: md page %d links to page %d, past the md region", ErrLoadCrash, cur, p.Next)
		}
		cur = p.Next
	}
}

// replayPage reads md page idx, if its CRC holds. Descriptors that do not
// decode are left to the blob's open to refuse.
func (l *loader) replayPage(idx uint32) (*blobstore.Page, bool) {
	b := l.mdPage(idx)
	if b == nil || bytes.Equal(b, zeroPage[:]) {
		return nil, false // a zero page never holds its CRC
	}
	p, err := blobstore.DecodePage(b)
	if p == nil || errors.Is(err, blobstore.ErrCRC) {
		return nil, false
	}
	return p, true
}

var zeroPage [blobstore.PageSize]byte

// holeSkipper is a device that can say where its next data is (a sparse
// file): pages in a hole are zero, so never valid md pages.
type holeSkipper interface {
	nextData(off int64) (int64, error)
}

// nextData is idx, or the first md page at or after it that is not in a
// hole of the device (md region's end when none is). SPDK reads every md
// page; skipping zeroes changes nothing but the time a sparse image takes.
func (l *loader) nextData(idx uint32) uint32 {
	hs, ok := l.dev.(holeSkipper)
	if !ok || idx >= l.sb.MDLen {
		return idx
	}
	off := l.sb.MDPageOffset(idx)
	data, err := hs.nextData(off)
	if err != nil {
		return idx // no answer: read on
	}
	if data <= off {
		return idx
	}
	skip := (data - off) / blobstore.PageSize
	return uint32(min(int64(idx)+skip, int64(l.sb.MDLen)))
}

// mdChunk is how many md pages the replay reads at once: it reads every
// page of the md region (327,680 of them on a 320 GiB device).
const mdChunk = 256

// mdPage returns the bytes of md page idx (nil if unreadable), read
// mdChunk pages at a time.
func (l *loader) mdPage(idx uint32) []byte {
	if idx >= l.sb.MDLen {
		return nil
	}
	if l.chunk == nil || idx < l.chunkStart || idx >= l.chunkStart+uint32(len(l.chunk)/blobstore.PageSize) {
		start := idx / mdChunk * mdChunk
		n := min(l.sb.MDLen-start, mdChunk)
		buf := l.chunk[:0]
		if cap(buf) < int(n)*blobstore.PageSize {
			buf = make([]byte, 0, mdChunk*blobstore.PageSize)
		}
		buf = buf[:int(n)*blobstore.PageSize]
		if _, err := l.dev.ReadAt(buf, l.sb.MDPageOffset(start)); err != nil {
			l.chunk = nil
			b, err := blobstore.ReadPageBytes(l.dev, l.sb, idx)
			if err != nil {
				return nil
			}
			return b
		}
		l.chunk, l.chunkStart = buf, start
	}
	off := int(idx-l.chunkStart) * blobstore.PageSize
	return l.chunk[off : off+blobstore.PageSize]
}

// parse is bs_load_replay_md_parse_page: clusters are claimed, extent
// table entries queued, and what the replay does not accept fails the load.
func (r *replayState) parse(idx uint32, p *blobstore.Page) error {
	if err := blobstore.CheckReplay(p); err != nil {
		return fmt.Errorf("%w: recovery rejects md page %d: %v", ErrLoadRefused, idx, err)
	}
	for _, d := range p.Descriptors {
		switch d := d.(type) {
		case *blobstore.ExtentRLE:
			for _, e := range d.Extents {
				for j := uint32(0); e.ClusterIdx != 0 && j < e.Length; j++ {
					if err := r.claimCluster(idx, uint64(e.ClusterIdx)+uint64(j)); err != nil {
						return err
					}
				}
			}
		case *blobstore.ExtentPage:
			for _, c := range d.Clusters {
				if c == 0 {
					continue
				}
				if err := r.claimCluster(idx, uint64(c)); err != nil {
					return err
				}
			}
		case *blobstore.ExtentTable:
			for _, e := range d.Entries {
				if e.PageIdx != 0 {
					r.extents = append(r.extents, e.PageIdx)
				}
			}
		}
	}
	return nil
}

// claimCluster marks a cluster used; the replay counts free clusters down
// and fails when a claim finds none left (-ENOSPC).
func (r *replayState) claimCluster(idx uint32, c uint64) error {
	r.l.clusters.Set(c)
	if r.free == 0 {
		return fmt.Errorf("%w: md page %d claims more clusters than the device has", ErrLoadRefused, idx)
	}
	r.free--
	return nil
}

// extentPages replays the queued extent pages: each must be a valid extent
// page (bs_load_cur_extent_page_valid), else the load fails (SPDK #3621).
func (r *replayState) extentPages() error {
	l := r.l
	queued := r.extents
	r.extents = nil
	for _, e := range queued {
		if e >= l.sb.MDLen {
			return fmt.Errorf("%w: extent page %d past the md region", ErrLoadCrash, e)
		}
		p, ok := l.replayPage(e)
		if !ok || !p.IsExtentPage() {
			return fmt.Errorf("%w: recovery finds no valid extent page at md page %d", ErrLoadRefused, e)
		}
		l.pages.Set(uint64(e))
		if err := r.parse(e, p); err != nil {
			return err
		}
	}
	return nil
}

// open is spdk_bs_open_blob during the load: the id must be marked in the
// blob id mask; the chain is read and parsed (clusters must be marked
// used); a thin clone opens its parent snapshot first and fails with it;
// an external-snapshot clone needs its EXTSNAP xattr (the missing external
// bdev only makes it degraded). Outcomes are kept, as SPDK keeps a blob
// open while its clones hold it.
func (l *loader) open(id uint64) (*blobstore.Blob, error) {
	return l.openFrom(id, map[uint64]bool{})
}

func (l *loader) openFrom(id uint64, opening map[uint64]bool) (*blobstore.Blob, error) {
	if o, ok := l.opened[id]; ok {
		return o.b, o.err
	}
	if opening[id] {
		// A snapshot loop: each open opens the next for ever.
		return nil, fmt.Errorf("%w: blob %#x is its own ancestor", ErrLoadCrash, id)
	}
	opening[id] = true
	b, err := l.read(id)
	if err == nil {
		err = l.backing(b, opening)
	}
	if errors.Is(err, ErrLoadCrash) {
		return nil, err
	}
	l.opened[id] = &opened{b: b, err: err}
	return b, err
}

// read reads and parses the blob's chain and extent pages (blob_load).
func (l *loader) read(id uint64) (*blobstore.Blob, error) {
	idx, ok := blobstore.PageIndex(id)
	if !ok || idx >= l.sb.MDLen || !l.ids.Test(uint64(idx)) || l.deleted[id] {
		return nil, fmt.Errorf("blob %#x: no such blob", id)
	}
	b, err := blobstore.ReadBlob(l.dev, l.sb, idx, blobstore.ParseOptions{
		ClusterUsed: func(c uint32) bool { return l.clusters.Test(uint64(c)) }})
	if errors.Is(err, blobstore.ErrForeignPage) || errors.Is(err, blobstore.ErrSequence) {
		// blob_parse only asserts page->id and sequence_num.
		return nil, fmt.Errorf("%w: %v", ErrLoadCrash, err)
	}
	if err != nil {
		return nil, err
	}
	if l.clean {
		// blob_parse asserts every next page is marked used.
		for _, p := range b.Pages[1:] {
			if !l.pages.Test(uint64(p)) {
				return nil, fmt.Errorf("%w: chain page %d of blob %#x is not marked used", ErrLoadCrash, p, id)
			}
		}
	}
	return b, nil
}

// backing is blob_load_backing_dev: what a clone needs to open.
func (l *loader) backing(b *blobstore.Blob, opening map[uint64]bool) error {
	if b.Invalid&blobstore.FlagExternalSnapshot != 0 {
		if _, ok := b.ExternalSnapshot(); !ok {
			return fmt.Errorf("blob %#x: external-snapshot clone without EXTSNAP", b.ID)
		}
		return nil
	}
	v, ok := b.InternalXattr(blobstore.XattrSnapshot)
	if !b.Thin() || !ok {
		return nil
	}
	if len(v) != 8 {
		return fmt.Errorf("blob %#x: SNAP xattr of %d bytes", b.ID, len(v))
	}
	parent := binary.LittleEndian.Uint64(v)
	if _, err := l.openFrom(parent, opening); err != nil {
		return fmt.Errorf("blob %#x: parent snapshot %#x does not open: %w", b.ID, parent, err)
	}
	return nil
}

// eachID calls fn with every id marked in the blob id mask, ascending: the
// order of spdk_bs_iter_first/next.
func (l *loader) eachID(fn func(id uint64) error) error {
	var err error
	l.ids.Each(func(i uint64) {
		if err == nil {
			err = fn(blobstore.BlobID(uint32(i)))
		}
	})
	return err
}

// loadIter is bs_load_iter: a blob left with SNAPRM or SNAPTMP by a power
// cut mid-snapshot is kept when its clone points at it (the xattr cleared,
// the blob set read-only) and deleted when not; a clone that does not open
// leaves it as it is.
func (l *loader) loadIter(ld *LoadedStore) error {
	l.deleted = map[uint64]bool{}
	return l.eachID(func(id uint64) error {
		b, err := l.open(id)
		if errors.Is(err, ErrLoadCrash) {
			return err
		}
		if err != nil {
			return nil // bs_iter skips a blob that does not open
		}
		v, ok := b.InternalXattr(blobstore.XattrSnapshotRemove)
		if !ok {
			if v, ok = b.InternalXattr(blobstore.XattrSnapshotTmp); !ok {
				return nil
			}
		}
		var cloneID uint64
		if len(v) >= 8 {
			cloneID = binary.LittleEndian.Uint64(v)
		}
		clone, err := l.open(cloneID)
		switch {
		case errors.Is(err, ErrLoadCrash):
			return err
		case err != nil:
		case clone.Thin() && hasParent(clone, id):
			ld.Rewrite = append(ld.Rewrite, id)
		default:
			ld.Delete = append(ld.Delete, id)
			l.deleted[id] = true
		}
		return nil
	})
}

func hasParent(b *blobstore.Blob, id uint64) bool {
	p, ok := b.Parent()
	return ok && p == id
}

// lvstoreIdentity is lvs_read_uuid: the super blob opens and carries a
// valid uuid (36 characters and a NUL) and a name of at most 256 bytes.
func (l *loader) lvstoreIdentity() (string, error) {
	sup, err := l.open(l.sb.SuperBlob)
	if err != nil {
		return "", fmt.Errorf("%w: super blob %#x: %v", ErrLoadRefused, l.sb.SuperBlob, err)
	}
	u, ok := uuidXattr(sup)
	if !ok {
		return "", fmt.Errorf("%w: the super blob's uuid is missing or invalid", ErrLoadRefused)
	}
	if v, ok := userXattr(sup, blobstore.XattrName); !ok || len(v) > maxName {
		return "", fmt.Errorf("%w: the super blob's name is missing or too long", ErrLoadRefused)
	}
	return u, nil
}

// maxName is SPDK_LVOL_NAME_MAX and SPDK_LVS_NAME_MAX: a longer name
// xattr fails the load.
const maxName = 256

// lvols is load_next_lvol over every other blob that opens, by blob id: a
// blob without a usable name fails the whole load ("Cannot assign lvol
// name"); one without a valid uuid loads with a null uuid.
func (l *loader) lvols(lvsUUID string) ([]LoadedLvol, error) {
	var out []LoadedLvol
	err := l.eachID(func(id uint64) error {
		b, err := l.open(id)
		if err != nil || id == l.sb.SuperBlob || l.deleted[id] {
			return nil
		}
		name, ok := userXattr(b, blobstore.XattrName)
		if !ok || len(name) > maxName {
			return fmt.Errorf("%w: blob %#x has no usable name xattr (Cannot assign lvol name)", ErrLoadRefused, id)
		}
		lv := LoadedLvol{BlobID: id, Name: cstring(name)}
		lv.UUID, _ = uuidXattr(b)
		if v, ok := userXattr(b, "creation_time"); ok {
			lv.CreationTime = cstring(v)
		}
		out = append(out, lv)
		return nil
	})
	return out, err
}

// uuidXattr is a uuid xattr as lvs_read_uuid and load_next_lvol accept it.
func uuidXattr(b *blobstore.Blob) (string, bool) {
	v, ok := userXattr(b, blobstore.XattrUUID)
	const n = 37 // SPDK_UUID_STRING_LEN
	if !ok || len(v) != n || v[n-1] != 0 {
		return "", false
	}
	u := string(v[:n-1])
	return u, blobstore.ValidUUID(u)
}

func userXattr(b *blobstore.Blob, name string) ([]byte, bool) {
	for _, x := range b.Xattrs {
		if !x.Internal && x.Name == name {
			return x.Value, true
		}
	}
	return nil, false
}

// blobStates is every blob that opens, the super blob included, in the
// model's form, with the fixes bs_load_iter applies: a kept leftover
// snapshot without its xattrs and read-only; a deleted one with its cluster
// map and extent pages cleared first (they are its clone's).
func (l *loader) blobStates(ld *LoadedStore) []BlobState {
	rewrite := map[uint64]bool{}
	for _, id := range ld.Rewrite {
		rewrite[id] = true
	}
	var out []BlobState
	_ = l.eachID(func(id uint64) error {
		b, err := l.open(id)
		if err != nil || b.NumClusters > MaxLvolClusters {
			return nil // beyond what the model holds (see MaxLvolClusters)
		}
		st := blobState(b)
		switch {
		case rewrite[id]:
			st.Internal = withoutXattrs(st.Internal, blobstore.XattrSnapshotRemove, blobstore.XattrSnapshotTmp)
			st.DataRO = true
		case l.deleted[id]:
			clear(st.Clusters)
			st.ExtentPages = emptyExtentPages(uint64(len(st.Clusters)))
			st.ExtentOwners = nil
			st.Thin = true
		}
		out = append(out, st)
		return nil
	})
	return out
}

func withoutXattrs(xs []Xattr, names ...string) []Xattr {
	var out []Xattr
	for _, x := range xs {
		if !slices.Contains(names, x.Name) {
			out = append(out, x)
		}
	}
	return out
}
