package scanner

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/lvfsck/lvfsck/finding"
)

const (
	// maxParentDepth bounds the snapshot recursion (SPDK has no bound; a
	// real store is a few levels deep).
	maxParentDepth = 4096

	resolving = 1
	resolved  = 2
)

// blobModel is the scan's upper half: the blobs SPDK's load would find in
// the pages the reader kept, opened, parsed and judged as the blob and lvol
// layers do. It reads pages only through the reader.
type blobModel struct {
	pr    *pageReader
	log   *findingLog
	geo   *geometry
	clean bool // the scan runs in clean mode

	// replay results (recovery)
	claimed map[uint32]uint64 // md page -> blob id of the chain that claimed it

	blobs      map[uint64]*blobState
	order      []uint64
	orderBlobs []*blobState // the blobs of order, in that order
	// earlyFirsts are the clean mode's blobs (first pages, ascending),
	// known before the md read so that openEarly can make and load them as
	// it goes; early are those made so far, nextEarly the next to make.
	earlyFirsts []uint32
	early       []*blobState
	nextEarly   int
	sorted      []*blobState // by id, see sortedBlobs
	// infoSlab and stateSlab hold the blobs made while they have room (as
	// many as sizeBlobs expects): one allocation each instead of two per
	// blob, and infoSlab is the view's blob list as it stands when the
	// blobs were made in id order, so infos need not copy it.
	infoSlab  []BlobInfo
	stateSlab []blobState
}

func newBlobModel(pr *pageReader, log *findingLog, geo *geometry) *blobModel {
	return &blobModel{pr: pr, log: log, geo: geo, blobs: map[uint64]*blobState{}}
}

// blobState is a blob while the scan works on it.
type blobState struct {
	info   *BlobInfo
	opened bool // the blob layer opens it (SPDK's spdk_bs_open_blob succeeds)
	// buffer holds findings back in pending while blobs load in parallel.
	buffer  bool
	pending []finding.Finding
	// hasSnap: a thin blob with a well-formed SNAP xattr, whose parent is
	// checked once every blob is loaded; resolve tracks that check.
	hasSnap bool
	resolve int
	// deleted is set when SPDK's load deletes the blob (leftover SNAPTMP).
	deleted bool
	seenSet map[uint32]bool // chain pages, for long chains only
	// id is what the lvol layer reads of the xattrs, worked out by load
	// (in parallel, or during the read) rather than by lvsLayer after it.
	id identity
	// loaded is set once load ran (early, during the read, or after it).
	loaded bool
	// cost is the open-completion estimate (openCosts), set when costSet.
	cost    int
	costSet bool
}

func (b *blobState) xattr(name string, internal bool) ([]byte, bool) {
	if x, ok := b.xattrOf(name, internal); ok {
		return x.Raw, true
	}
	return nil, false
}

func (b *blobState) xattrOf(name string, internal bool) (*Xattr, bool) {
	for i := range b.info.Xattrs {
		if x := &b.info.Xattrs[i]; x.Name == name && x.Internal == internal {
			return x, true
		}
	}
	return nil, false
}

// blobFinding records a finding about b and folds its outcome into b.
func (m *blobModel) blobFinding(b *blobState, sev finding.Severity, code finding.Code, out finding.LoadOutcome, page *uint32, ev string, format string, a ...any) {
	f := finding.Finding{Code: code, Severity: sev, SPDK: out, BlobID: b.info.ID, Page: page, Message: fmt.Sprintf(format, a...)}
	if ev != "" {
		f.Evidence = map[string]string{"disk": ev}
	}
	if b.buffer {
		b.pending = append(b.pending, f)
	} else {
		m.log.add(f)
	}
	b.info.Loads = worse(b.info.Loads, out)
	if out == finding.LoadSkip || out == finding.LoadCrash {
		b.opened = false
	}
}

// isFirst says whether pd is a valid first page: sequence 0 and the blob id
// of its own index.
func (pd *pageDesc) isFirst() bool { return pd.Seq == 0 && pd.ID == blobIDOf(pd.Index) }

// expectMaskBlobs takes the clean load's blob list, the used blob id mask,
// before the md read, so that openEarly can open blobs during it.
func (m *blobModel) expectMaskBlobs() {
	mdLen := uint64(m.geo.sb.MDLen)
	m.earlyFirsts = make([]uint32, 0, m.pr.blobIDMask.count(mdLen))
	m.pr.blobIDMask.each(mdLen, func(i uint64) {
		m.earlyFirsts = append(m.earlyFirsts, uint32(i))
	})
	m.sizeBlobs(len(m.earlyFirsts))
	m.early = make([]*blobState, 0, len(m.earlyFirsts))
}

// open opens every blob the load finds, as spdk_bs_open_blob would
// (blob_load, blob_parse, extent pages), checks the snapshot each clone
// needs, then runs bs_load_iter. Recovery finds the blobs by replaying the
// md region; clean mode has them from the blob id mask.
func (m *blobModel) open(mode Mode) {
	if mode == ModeRecovery {
		m.openBlobs(m.newBlobs(m.replay()))
	} else {
		m.openBlobs(m.earlyBlobs())
	}
	m.loadIter()
}

// newBlobs makes the blobs of firsts (first pages, ascending) known, once
// each, and returns those that are new.
func (m *blobModel) newBlobs(firsts []uint32) []*blobState {
	m.sizeBlobs(len(firsts))
	bs := make([]*blobState, 0, len(firsts))
	for _, p := range firsts {
		if b := m.newBlob(p); b != nil {
			bs = append(bs, b)
		}
	}
	return bs
}

// sizeBlobs sizes the blob map once: growing a map of tens of thousands of
// blobs rehashes it again and again.
func (m *blobModel) sizeBlobs(n int) {
	if len(m.blobs) == 0 {
		m.blobs = make(map[uint64]*blobState, n)
	}
	if cap(m.infoSlab) == 0 {
		m.infoSlab = make([]BlobInfo, 0, n)
		m.stateSlab = make([]blobState, 0, n)
	}
}

// newBlob makes the blob whose first page is p known, or returns nil when
// it already is.
func (m *blobModel) newBlob(p uint32) *blobState {
	id := blobIDOf(p)
	if _, dup := m.blobs[id]; dup {
		return nil
	}
	var b *blobState
	if k := len(m.infoSlab); k < cap(m.infoSlab) {
		m.infoSlab = append(m.infoSlab, BlobInfo{ID: id, Loads: finding.LoadOK})
		m.stateSlab = append(m.stateSlab, blobState{info: &m.infoSlab[k]})
		b = &m.stateSlab[k]
	} else {
		b = &blobState{info: &BlobInfo{ID: id, Loads: finding.LoadOK}}
	}
	b.opened, b.buffer = true, true
	m.blobs[id] = b
	m.order = append(m.order, id)
	m.orderBlobs = append(m.orderBlobs, b)
	return b
}

// openBlobs loads bs (those openEarly has not), in parallel since each blob
// only reads the decoded pages, and settles their findings and parents.
func (m *blobModel) openBlobs(bs []*blobState) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := w; i < len(bs); i += workers {
				if !bs[i].loaded {
					m.load(bs[i])
				}
			}
		})
	}
	wg.Wait()
	for _, b := range bs {
		b.buffer = false
		for _, f := range b.pending {
			m.log.add(f)
		}
		b.pending = nil
	}
	for _, b := range bs {
		m.resolveParent(b, 0)
	}
}

// openEarly loads, while the md region streams in (clean mode, where the
// blob id mask names the blobs before it is read), the blobs whose chain
// and extent pages all lie below page h and are all there. Those pages are
// final: rereads only ever fill pages that are missing. So the load is the
// one openBlobs would do, its findings held back in the same way, and it
// overlaps the read instead of following it.
// The blobs are made here too, as their first pages come in, rather than
// all before the read starts.
func (m *blobModel) openEarly(h uint32) {
	for m.nextEarly < len(m.earlyFirsts) {
		p0 := m.earlyFirsts[m.nextEarly]
		if p0 >= h {
			return
		}
		m.nextEarly++
		b := m.newBlob(p0)
		if b == nil {
			continue
		}
		m.early = append(m.early, b)
		if m.pr.pagesBelow(p0, h) {
			m.load(b)
			b.loaded = true
		}
	}
}

// earlyBlobs makes the clean mode's blobs openEarly has not reached (all
// of them when the read stopped short) and returns them all.
func (m *blobModel) earlyBlobs() []*blobState {
	m.early = append(m.early, m.newBlobs(m.earlyFirsts[m.nextEarly:])...)
	m.nextEarly = len(m.earlyFirsts)
	return m.early
}

// blob returns the blob with id, or nil when SPDK knows no such blob id.
func (m *blobModel) blob(id uint64) *blobState { return m.blobs[id] }

// sortedBlobs lists the blobs by id. The list is built once, when every
// blob is open (later opens only find memoised blobs).
func (m *blobModel) sortedBlobs() []*blobState {
	if len(m.sorted) == len(m.order) {
		return m.sorted
	}
	if len(m.sorted) == 0 && slices.IsSorted(m.order) && len(m.orderBlobs) == len(m.order) {
		// blobs are made in ascending first-page order: nothing to sort
		m.sorted = m.orderBlobs[:len(m.orderBlobs):len(m.orderBlobs)]
		return m.sorted
	}
	ids := slices.Clone(m.order)
	slices.Sort(ids)
	out := make([]*blobState, len(ids))
	for i, id := range ids {
		out[i] = m.blobs[id]
	}
	m.sorted = out
	return out
}

// infos is every blob's persisted view, by id.
func (m *blobModel) infos() []BlobInfo {
	if n := len(m.order); n > 0 && len(m.infoSlab) == n && slices.IsSorted(m.order) {
		// every blob is in the slab, made in id order
		return m.infoSlab[:n:n]
	}
	out := make([]BlobInfo, 0, len(m.order))
	for _, b := range m.sortedBlobs() {
		out = append(out, *b.info)
	}
	return out
}

// resolveParent is blob_load_backing_dev for a clone: the snapshot is opened
// first, and a clone whose snapshot does not load does not load either.
func (m *blobModel) resolveParent(b *blobState, depth int) {
	if b.resolve != 0 {
		return
	}
	b.resolve = resolving
	defer func() { b.resolve = resolved }()
	if !b.hasSnap {
		return
	}
	ev := fmt.Sprintf("SNAP=%#x", b.info.Parent)
	if depth > maxParentDepth {
		m.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"the snapshot chain above this blob is more than %d deep", maxParentDepth)
		return
	}
	pb := m.blobs[b.info.Parent]
	if pb != nil {
		m.resolveParent(pb, depth+1)
	}
	switch {
	case pb == nil:
		m.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"parent snapshot %#x is not a blob: SPDK skips this clone", b.info.Parent)
	case pb.resolve == resolving:
		m.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"the snapshot chain through %#x loops back to this blob", b.info.Parent)
	case !pb.opened:
		m.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"parent snapshot %#x does not load: SPDK skips this clone too", b.info.Parent)
	}
}

// load is blob_load: the md chain is read and checked page by page, then
// parsed. Whatever stops it, the blob's identity is kept for the report.
func (m *blobModel) load(b *blobState) {
	descs, ok := m.walkChain(b)
	if ok && m.checkChain(b, descs) {
		m.parse(b, descs)
	}
	m.identify(b, descs)
	b.id = lvolIdentity(b)
}

// walkChain follows b's md chain from its first page and returns its
// pages; false when the chain does not end well (a missing page, a page
// beyond the md region, a loop), which it reports.
func (m *blobModel) walkChain(b *blobState) ([]*pageDesc, bool) {
	p0 := uint32(b.info.ID)
	var descs []*pageDesc
	cur := p0
	for {
		pd, ok := m.pr.page(cur)
		b.info.Pages = append(b.info.Pages, cur)
		if !ok {
			m.chainMissing(b, p0, cur)
			return descs, false
		}
		descs = append(descs, pd)
		if b.seenSet != nil {
			b.seenSet[cur] = true
		}
		if pd.Next == invalidPage {
			return descs, true
		}
		nx := pd.Next
		if nx >= m.geo.sb.MDLen {
			m.chainOutside(b, cur, nx)
			return descs, false
		}
		if b.seen(nx) {
			m.chainLoops(b, cur, nx)
			return descs, false
		}
		cur = nx
	}
}

// seen says whether p is already in b's chain. Chains are short: a linear
// search beats a map until they are not.
func (b *blobState) seen(p uint32) bool {
	if len(b.info.Pages) > 64 {
		if b.seenSet == nil {
			b.seenSet = map[uint32]bool{}
			for _, q := range b.info.Pages {
				b.seenSet[q] = true
			}
		}
		return b.seenSet[p]
	}
	return slices.Contains(b.info.Pages, p)
}

// chainMissing reports a chain that runs into page cur, which holds no
// CRC-valid md page.
func (m *blobModel) chainMissing(b *blobState, p0, cur uint32) {
	isBad := m.pr.isBad(cur)
	ev := m.pr.describePage(cur)
	switch {
	case cur == p0 && m.pr.masksCurrent() && !isBad:
		m.blobFinding(b, finding.Warning, CodeBlobIDMaskLeaked, finding.LoadSkip, finding.PageRef(cur), ev,
			"blob id mask marks page %d, which holds no md page: SPDK logs a CRC error and skips it", cur)
	case isBad:
		m.blobFinding(b, finding.Error, CodeMDCRC, finding.LoadSkip, finding.PageRef(cur), ev,
			"md page %d of the chain fails its CRC (re-read once): SPDK skips the blob", cur)
	default:
		m.blobFinding(b, finding.Error, CodeChainBroken, finding.LoadSkip, finding.PageRef(cur), ev,
			"md chain runs into page %d, which holds no md page: SPDK skips the blob", cur)
	}
}

// chainOutside reports page cur pointing beyond the md region; in recovery
// the replay may have said it already.
func (m *blobModel) chainOutside(b *blobState, cur, nx uint32) {
	mdLen := m.geo.sb.MDLen
	switch {
	case m.clean:
		m.blobFinding(b, finding.Error, CodeChainBroken, finding.LoadSkip, finding.PageRef(cur), "",
			"md page %d points to page %d, beyond the %d-page md region: SPDK reads outside the md region and skips the blob", cur, nx, mdLen)
	case !m.log.reported(CodeChainBroken, b.info.ID):
		m.blobFinding(b, finding.Critical, CodeChainBroken, finding.LoadCrash, finding.PageRef(cur), "",
			"md page %d points to page %d, beyond the %d-page md region: SPDK fails an assertion (or reads outside the md region)", cur, nx, mdLen)
	default: // the replay said it
		b.info.Loads = worse(b.info.Loads, finding.LoadCrash)
		b.opened = false
	}
}

// chainLoops reports page cur pointing back into its own chain; in
// recovery the replay may have said it already.
func (m *blobModel) chainLoops(b *blobState, cur, nx uint32) {
	id := b.info.ID
	switch {
	case m.clean:
		m.blobFinding(b, finding.Error, CodeChainLoop, finding.LoadSkip, finding.PageRef(nx), "",
			"md chain loops back to page %d (from page %d): SPDK reads the loop until it runs out of memory and skips the blob", nx, cur)
	case !m.log.reported(CodeChainLoop, id) && !m.log.reported(CodeChainCrossLink, id):
		m.blobFinding(b, finding.Critical, CodeChainLoop, finding.LoadCrash, finding.PageRef(nx), "",
			"md chain loops back to page %d (from page %d): opening the blob never ends", nx, cur)
	default: // the replay said it
		b.info.Loads = worse(b.info.Loads, finding.LoadCrash)
		b.opened = false
	}
}

// checkChain checks the ids and sequence numbers of a whole chain (and, on
// a clean store, that its continuation pages are marked used); false when
// the blob is not parsed.
func (m *blobModel) checkChain(b *blobState, descs []*pageDesc) bool {
	id, p0 := b.info.ID, uint32(b.info.ID)
	if descs[0].ID != id {
		m.blobFinding(b, finding.Warning, CodeBlobIDMaskLeaked, finding.LoadSkip, finding.PageRef(p0), m.pr.describePage(p0),
			"blob id mask marks page %d, which belongs to blob %#x: SPDK skips it (-ENOENT)", p0, descs[0].ID)
		return false
	}
	for i, pd := range descs {
		if pd.ID != id {
			m.blobFinding(b, finding.Critical, CodeChainForeign, finding.LoadCrash, finding.PageRef(pd.Index), m.pr.describePage(pd.Index),
				"md page %d (chain position %d) carries blob %#x's id: opening the blob fails the assertion page->id == blob->id and takes spdk_tgt down (Longhorn #13944)", pd.Index, i, pd.ID)
			return false
		}
		if pd.Seq != uint32(i) {
			m.blobFinding(b, finding.Critical, CodeChainSequence, finding.LoadCrash, finding.PageRef(pd.Index), m.pr.describePage(pd.Index),
				"md page %d is at chain position %d but has sequence number %d: opening the blob fails an assertion", pd.Index, i, pd.Seq)
			return false
		}
		if i > 0 && m.pr.masksCurrent() && !m.pr.pageMask.get(uint64(pd.Index)) {
			b.info.Loads = worse(b.info.Loads, finding.LoadCrash) // reported by maskChecks
			b.opened = false
		}
	}
	return true
}

// identity is a blob's name and uuid xattrs as load_next_lvol reads them.
type identity struct {
	name      []byte
	nameOK    bool
	nameStr   string // up to the first NUL
	uuidRaw   []byte
	uuid      string
	uuidValid bool
}

func lvolIdentity(b *blobState) identity {
	var id identity
	var x *Xattr
	x, id.nameOK = b.xattrOf("name", false)
	if id.nameOK {
		id.name = x.Raw
		id.nameStr = cstrAs(x.Raw, x.Value)
	}
	if x, ok := b.xattrOf("uuid", false); ok {
		id.uuidRaw = x.Raw
		id.uuid, id.uuidValid = checkUUID(x.Raw, cstrAs(x.Raw, x.Value))
	}
	return id
}

// identify fills the xattrs of a blob whose load stopped before parse, from
// the pages that are certainly its own.
func (m *blobModel) identify(b *blobState, descs []*pageDesc) {
	if b.info.Xattrs != nil {
		return
	}
	for _, pd := range descs {
		if pd.ID != b.info.ID || len(pd.Bad) > 0 {
			continue
		}
		for _, x := range pd.Xattrs {
			b.info.Xattrs = append(b.info.Xattrs, Xattr{Name: x.Name, Value: xattrText(x.Value), Internal: x.Internal, Raw: x.Value})
		}
	}
}

// cstrAs is cstr(b), given text, a string that may already be it (an
// xattr's Value): the lvol name is then not allocated twice.
func cstrAs(b []byte, text string) string {
	if len(text) <= len(b) && string(b[:len(text)]) == text && (len(text) == len(b) || b[len(text)] == 0) &&
		strings.IndexByte(text, 0) < 0 {
		return text
	}
	return cstr(b)
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func xattrText(v []byte) string {
	t := cstr(v)
	printable := len(v) > 0
	for _, c := range []byte(t) {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	if printable && (len(t) > 0 || len(v) == 0) {
		// everything after the first NUL must be NUL padding
		for _, c := range v[len(t):] {
			if c != 0 {
				printable = false
				break
			}
		}
	}
	if printable {
		return t
	}
	return fmt.Sprintf("0x%x", v)
}
