package scanner

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sort"
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

// blobState is a blob while the scan works on it.
type blobState struct {
	info   BlobInfo
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
	for _, x := range b.info.Xattrs {
		if x.Name == name && x.Internal == internal {
			return x.Raw, true
		}
	}
	return nil, false
}

// blobFinding records a finding about b and folds its outcome into b.
func (s *scanState) blobFinding(b *blobState, sev finding.Severity, code finding.Code, out finding.LoadOutcome, page *uint32, ev string, format string, a ...any) {
	f := finding.Finding{Code: code, Severity: sev, SPDK: out, BlobID: b.info.ID, Page: page, Message: fmt.Sprintf(format, a...)}
	if ev != "" {
		f.Evidence = map[string]string{"disk": ev}
	}
	if b.buffer {
		b.pending = append(b.pending, f)
	} else {
		s.add(f)
	}
	b.info.Loads = worse(b.info.Loads, out)
	if out == finding.LoadSkip || out == finding.LoadCrash {
		b.opened = false
	}
}

// isFirst says whether pd is a valid first page: sequence 0 and the blob id
// of its own index.
func (pd *pageDesc) isFirst() bool { return pd.Seq == 0 && pd.ID == blobIDOf(pd.Index) }

// replay walks the md region as SPDK's bs_load_replay_md does on a dirty
// load and returns the pages it marks as blob ids, in order. Chain defects
// that crash the replay are reported here.
func (s *scanState) replay() []uint32 {
	s.claimed = make(map[uint32]uint64, len(s.pages))
	var cands []uint32
	for _, pd := range s.sortedPages() {
		if pd.isFirst() {
			cands = append(cands, pd.Index)
		}
	}
	var firsts []uint32
	for _, f := range cands {
		if _, taken := s.claimed[f]; taken {
			continue
		}
		firsts = s.replayChain(f, firsts)
	}
	// A first page whose CRC fails is invisible to recovery: the blob
	// vanishes without a word. Say so.
	var lost []uint32
	for idx, bp := range s.bad {
		if _, taken := s.claimed[idx]; !taken && bp.Seq == 0 && bp.ID == blobIDOf(idx) {
			lost = append(lost, idx)
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i] < lost[j] })
	for _, idx := range lost {
		s.add(finding.Finding{Code: CodeMDCRC, Severity: finding.Error, SPDK: finding.LoadSkip,
			BlobID: blobIDOf(idx), Page: finding.PageRef(idx),
			Message:  fmt.Sprintf("md page %d is the first page of blob %#x but fails its CRC (re-read once): recovery does not see the blob, it vanishes", idx, blobIDOf(idx)),
			Evidence: map[string]string{"disk": s.describePage(idx)}})
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	return firsts
}

func (s *scanState) replayReject(owner uint32, pd *pageDesc) {
	if len(pd.ReplayBad) == 0 {
		return
	}
	s.add(finding.Finding{Code: CodeReplayRejects, Severity: finding.Critical, SPDK: finding.LoadRefuse,
		BlobID: blobIDOf(owner), Page: finding.PageRef(pd.Index),
		Message:  fmt.Sprintf("recovery rejects md page %d (%s): the blobstore fails to load with -EILSEQ", pd.Index, pd.ReplayBad[0]),
		Evidence: map[string]string{"disk": fmt.Sprintf("id=%#x seq=%d", pd.ID, pd.Seq)}})
}

func (s *scanState) replayChain(f uint32, firsts []uint32) []uint32 {
	owner := blobIDOf(f)
	firsts = append(firsts, f)
	s.claimed[f] = owner
	pd := s.pages[f]
	s.replayReject(f, pd)
	var ext []uint32
	collect := func(pd *pageDesc) {
		for _, et := range pd.ET {
			for _, r := range et.Refs {
				if r.Page != 0 {
					ext = append(ext, r.Page)
				}
			}
		}
	}
	collect(pd)
	for pd.Next != invalidPage {
		nx := pd.Next
		if nx >= s.sb.MDLen {
			s.add(finding.Finding{Code: CodeChainBroken, Severity: finding.Critical, SPDK: finding.LoadCrash,
				BlobID: owner, Page: finding.PageRef(pd.Index),
				Message: fmt.Sprintf("md page %d points to page %d, beyond the %d-page md region: recovery fails an assertion (or reads outside the md region)", pd.Index, nx, s.sb.MDLen)})
			break
		}
		npd, ok := s.pages[nx]
		if !ok || (npd.Seq == 0 && npd.ID != blobIDOf(nx)) {
			break // recovery ends the chain without a word; the open reports it
		}
		if c, taken := s.claimed[nx]; taken {
			if c == owner {
				s.add(finding.Finding{Code: CodeChainLoop, Severity: finding.Critical, SPDK: finding.LoadCrash,
					BlobID: owner, Page: finding.PageRef(nx),
					Message: fmt.Sprintf("md chain loops back to page %d (from page %d): recovery claims the page twice and fails an assertion (a release build never finishes loading)", nx, pd.Index)})
			} else {
				s.add(finding.Finding{Code: CodeChainCrossLink, Severity: finding.Critical, SPDK: finding.LoadCrash,
					BlobID: owner, Page: finding.PageRef(nx),
					Message:  fmt.Sprintf("md page %d is claimed by this chain and by blob %#x's: recovery claims it twice and fails an assertion", nx, c),
					Evidence: map[string]string{"disk": fmt.Sprintf("page %d id=%#x seq=%d; reached from page %d", nx, npd.ID, npd.Seq, pd.Index)}})
			}
			break
		}
		s.claimed[nx] = owner
		if npd.Seq == 0 {
			// A continuation that is a valid first page also becomes a blob id.
			firsts = append(firsts, nx)
		}
		s.replayReject(f, npd)
		collect(npd)
		pd = npd
	}
	for _, e := range ext {
		if e >= s.sb.MDLen {
			s.add(finding.Finding{Code: CodeExtentPage, Severity: finding.Critical, SPDK: finding.LoadCrash, BlobID: owner, Page: finding.PageRef(e),
				Message: fmt.Sprintf("extent table points to page %d, beyond the md region: recovery fails an assertion", e)})
			continue
		}
		epd, ok := s.pages[e]
		if !ok || epd.Seq != 0 || !epd.OnlyExtentPage {
			s.add(finding.Finding{Code: CodeExtentPage, Severity: finding.Critical, SPDK: finding.LoadRefuse, BlobID: owner, Page: finding.PageRef(e),
				Message:  fmt.Sprintf("extent page %d is not a valid extent page: recovery fails the whole blobstore with -EILSEQ (SPDK #3621)", e),
				Evidence: map[string]string{"disk": s.describePage(e)}})
			continue
		}
		s.replayReject(f, epd)
		if _, taken := s.claimed[e]; !taken {
			s.claimed[e] = owner
		}
	}
	return firsts
}

// describePage says what is on md page i, for evidence.
func (s *scanState) describePage(i uint32) string {
	if pd, ok := s.pages[i]; ok {
		return fmt.Sprintf("page %d: id=%#x seq=%d next=%s crc ok", i, pd.ID, pd.Seq, nextStr(pd.Next))
	}
	if bp, ok := s.bad[i]; ok {
		return fmt.Sprintf("page %d: id=%#x seq=%d next=%s crc mismatch", i, bp.ID, bp.Seq, nextStr(bp.Next))
	}
	return fmt.Sprintf("page %d: no md page (zero or garbage)", i)
}

func nextStr(n uint32) string {
	if n == invalidPage {
		return "end"
	}
	return fmt.Sprint(n)
}

// maskBlobs is the clean load's blob list: the used blob id mask.
func (s *scanState) maskBlobs() []uint32 {
	firsts := make([]uint32, 0, s.blobIDMask.count(uint64(s.sb.MDLen)))
	s.blobIDMask.each(uint64(s.sb.MDLen), func(i uint64) {
		firsts = append(firsts, uint32(i))
	})
	return firsts
}

// openAll loads every blob as spdk_bs_open_blob would (blob_load,
// blob_parse, extent pages), in parallel since each blob only reads the
// decoded pages, then checks the snapshot each clone needs. firsts are the
// blobs' first pages, ascending.
func (s *scanState) openAll(firsts []uint32) { s.openBlobs(s.newBlobs(firsts)) }

// newBlobs makes the blobs of firsts (first pages, ascending) known, once
// each, and returns those that are new.
func (s *scanState) newBlobs(firsts []uint32) []*blobState {
	s.sizeBlobs(len(firsts))
	bs := make([]*blobState, 0, len(firsts))
	for _, p := range firsts {
		if b := s.newBlob(p); b != nil {
			bs = append(bs, b)
		}
	}
	return bs
}

// sizeBlobs sizes the blob map once: growing a map of tens of thousands of
// blobs rehashes it again and again.
func (s *scanState) sizeBlobs(n int) {
	if len(s.blobs) == 0 {
		s.blobs = make(map[uint64]*blobState, n)
	}
}

// newBlob makes the blob whose first page is p known, or returns nil when
// it already is.
func (s *scanState) newBlob(p uint32) *blobState {
	id := blobIDOf(p)
	if _, dup := s.blobs[id]; dup {
		return nil
	}
	b := &blobState{info: BlobInfo{ID: id, Loads: finding.LoadOK}, opened: true, buffer: true}
	s.blobs[id] = b
	s.order = append(s.order, id)
	s.orderBlobs = append(s.orderBlobs, b)
	return b
}

// openBlobs loads bs (those openEarly has not) and settles their findings
// and parents.
func (s *scanState) openBlobs(bs []*blobState) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(bs); i += workers {
				if !bs[i].loaded {
					s.load(bs[i])
				}
			}
		}(w)
	}
	wg.Wait()
	for _, b := range bs {
		b.buffer = false
		for _, f := range b.pending {
			s.add(f)
		}
		b.pending = nil
	}
	for _, b := range bs {
		s.resolveParent(b, 0)
	}
}

// maxEarlyChain bounds the chain openEarly follows; longer (or looping)
// chains wait for the end of the read like any other.
const maxEarlyChain = 64

// openEarly loads, while the md region streams in (clean mode, where the
// blob id mask names the blobs before it is read), the blobs whose chain
// and extent pages all lie below page h and are all there. Those pages are
// final: rereads only ever fill pages that are missing. So the load is the
// one openBlobs would do, its findings held back in the same way, and it
// overlaps the read instead of following it.
// The blobs are made here too, as their first pages come in, rather than
// all before the read starts.
func (s *scanState) openEarly(h uint32) {
	for s.nextEarly < len(s.earlyFirsts) {
		p0 := s.earlyFirsts[s.nextEarly]
		if p0 >= h {
			return
		}
		s.nextEarly++
		b := s.newBlob(p0)
		if b == nil {
			continue
		}
		s.early = append(s.early, b)
		if s.pagesBelow(p0, h) {
			s.load(b)
			b.loaded = true
		}
	}
}

// earlyBlobs makes the clean mode's blobs openEarly has not reached (all
// of them when the read stopped short) and returns them all.
func (s *scanState) earlyBlobs() []*blobState {
	s.early = append(s.early, s.newBlobs(s.earlyFirsts[s.nextEarly:])...)
	s.nextEarly = len(s.earlyFirsts)
	return s.early
}

// pagesBelow says whether the chain from p0 and its extent pages are all
// present below h (and the chain is not overlong).
func (s *scanState) pagesBelow(p0, h uint32) bool {
	cur := p0
	for range maxEarlyChain {
		if cur >= h {
			return false
		}
		pd, ok := s.pages[cur]
		if !ok {
			return false
		}
		for _, et := range pd.ET {
			for _, r := range et.Refs {
				if r.Page == 0 {
					continue
				}
				if _, ok := s.pages[r.Page]; !ok || r.Page >= h {
					return false
				}
			}
		}
		if pd.Next == invalidPage {
			return true
		}
		cur = pd.Next
	}
	return false
}

// open returns the blob with id, or nil when SPDK knows no such blob id.
func (s *scanState) open(id uint64) *blobState { return s.blobs[id] }

// resolveParent is blob_load_backing_dev for a clone: the snapshot is opened
// first, and a clone whose snapshot does not load does not load either.
func (s *scanState) resolveParent(b *blobState, depth int) {
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
		s.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"the snapshot chain above this blob is more than %d deep", maxParentDepth)
		return
	}
	pb := s.blobs[b.info.Parent]
	if pb != nil {
		s.resolveParent(pb, depth+1)
	}
	switch {
	case pb == nil:
		s.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"parent snapshot %#x is not a blob: SPDK skips this clone", b.info.Parent)
	case pb.resolve == resolving:
		s.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"the snapshot chain through %#x loops back to this blob", b.info.Parent)
	case !pb.opened:
		s.blobFinding(b, finding.Error, CodeDanglingParent, finding.LoadSkip, nil, ev,
			"parent snapshot %#x does not load: SPDK skips this clone too", b.info.Parent)
	}
}

func (s *scanState) load(b *blobState) {
	id := b.info.ID
	clean := s.v.Mode == ModeClean
	p0 := uint32(id)
	var descs []*pageDesc
	// Whatever stops the load, keep the blob's identity for the report.
	defer func() {
		s.identify(b, descs)
		b.id = lvolIdentity(b)
	}()
	// chains are short: a linear search beats a map until they are not
	seen := func(p uint32) bool {
		if len(b.info.Pages) > 64 {
			if b.seenSet == nil {
				b.seenSet = map[uint32]bool{}
				for _, q := range b.info.Pages {
					b.seenSet[q] = true
				}
			}
			return b.seenSet[p]
		}
		for _, q := range b.info.Pages {
			if q == p {
				return true
			}
		}
		return false
	}
	cur := p0
	for {
		pd, ok := s.pages[cur]
		if !ok {
			_, isBad := s.bad[cur]
			ev := s.describePage(cur)
			switch {
			case cur == p0 && s.masksCurrent() && !isBad:
				s.blobFinding(b, finding.Warning, CodeBlobIDMaskLeaked, finding.LoadSkip, finding.PageRef(cur), ev,
					"blob id mask marks page %d, which holds no md page: SPDK logs a CRC error and skips it", cur)
			case isBad:
				s.blobFinding(b, finding.Error, CodeMDCRC, finding.LoadSkip, finding.PageRef(cur), ev,
					"md page %d of the chain fails its CRC (re-read once): SPDK skips the blob", cur)
			default:
				s.blobFinding(b, finding.Error, CodeChainBroken, finding.LoadSkip, finding.PageRef(cur), ev,
					"md chain runs into page %d, which holds no md page: SPDK skips the blob", cur)
			}
			b.info.Pages = append(b.info.Pages, cur)
			return
		}
		b.info.Pages = append(b.info.Pages, cur)
		descs = append(descs, pd)
		if b.seenSet != nil {
			b.seenSet[cur] = true
		}
		if pd.Next == invalidPage {
			break
		}
		nx := pd.Next
		if nx >= s.sb.MDLen {
			out := finding.LoadSkip
			if !clean {
				out = finding.LoadCrash
			}
			switch {
			case clean:
				s.blobFinding(b, finding.Error, CodeChainBroken, out, finding.PageRef(cur), "",
					"md page %d points to page %d, beyond the %d-page md region: SPDK reads outside the md region and skips the blob", cur, nx, s.sb.MDLen)
			case !s.reported(CodeChainBroken, id):
				s.blobFinding(b, finding.Critical, CodeChainBroken, out, finding.PageRef(cur), "",
					"md page %d points to page %d, beyond the %d-page md region: SPDK fails an assertion (or reads outside the md region)", cur, nx, s.sb.MDLen)
			default: // the replay said it
				b.info.Loads = worse(b.info.Loads, out)
				b.opened = false
			}
			return
		}
		if seen(nx) {
			switch {
			case clean:
				s.blobFinding(b, finding.Error, CodeChainLoop, finding.LoadSkip, finding.PageRef(nx), "",
					"md chain loops back to page %d (from page %d): SPDK reads the loop until it runs out of memory and skips the blob", nx, cur)
			case !s.reported(CodeChainLoop, id) && !s.reported(CodeChainCrossLink, id):
				s.blobFinding(b, finding.Critical, CodeChainLoop, finding.LoadCrash, finding.PageRef(nx), "",
					"md chain loops back to page %d (from page %d): opening the blob never ends", nx, cur)
			default: // the replay said it
				b.info.Loads = worse(b.info.Loads, finding.LoadCrash)
				b.opened = false
			}
			return
		}
		cur = nx
	}
	if descs[0].ID != id {
		s.blobFinding(b, finding.Warning, CodeBlobIDMaskLeaked, finding.LoadSkip, finding.PageRef(p0), s.describePage(p0),
			"blob id mask marks page %d, which belongs to blob %#x: SPDK skips it (-ENOENT)", p0, descs[0].ID)
		return
	}
	for i, pd := range descs {
		if pd.ID != id {
			s.blobFinding(b, finding.Critical, CodeChainForeign, finding.LoadCrash, finding.PageRef(pd.Index), s.describePage(pd.Index),
				"md page %d (chain position %d) carries blob %#x's id: opening the blob fails the assertion page->id == blob->id and takes spdk_tgt down (Longhorn #13944)", pd.Index, i, pd.ID)
			return
		}
		if pd.Seq != uint32(i) {
			s.blobFinding(b, finding.Critical, CodeChainSequence, finding.LoadCrash, finding.PageRef(pd.Index), s.describePage(pd.Index),
				"md page %d is at chain position %d but has sequence number %d: opening the blob fails an assertion", pd.Index, i, pd.Seq)
			return
		}
		if i > 0 && s.masksCurrent() && !s.pageMask.get(uint64(pd.Index)) {
			b.info.Loads = worse(b.info.Loads, finding.LoadCrash) // reported by maskChecks
			b.opened = false
		}
	}
	s.parse(b, descs)
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
	id.name, id.nameOK = b.xattr("name", false)
	if id.nameOK {
		id.nameStr = cstr(id.name)
	}
	var uok bool
	id.uuidRaw, uok = b.xattr("uuid", false)
	id.uuid, id.uuidValid = uuidXattr(id.uuidRaw, uok)
	return id
}

// reported says whether a finding of code about blob id is already there.
func (s *scanState) reported(code finding.Code, id uint64) bool {
	for _, f := range s.fs {
		if f.Code == code && f.BlobID == id {
			return true
		}
	}
	return false
}

// identify fills the xattrs of a blob whose load stopped before parse, from
// the pages that are certainly its own.
func (s *scanState) identify(b *blobState, descs []*pageDesc) {
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

// parse applies blob_parse_page and the extent page load to a chain whose
// ids and sequence numbers are right.
func (s *scanState) parse(b *blobState, descs []*pageDesc) {
	clean := s.v.Mode == ModeClean
	info := &b.info
	nx := 0
	for _, pd := range descs {
		nx += len(pd.Xattrs)
	}
	info.Xattrs = make([]Xattr, 0, nx)
	for _, pd := range descs {
		if len(pd.Bad) > 0 {
			s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(pd.Index), "",
				"md page %d: %s: SPDK skips the blob", pd.Index, pd.Bad[0])
			return
		}
		if pd.HasFlags {
			info.InvalidFlags, info.DataROFlags, info.MDROFlags = pd.Invalid, pd.DataRO, pd.MDRO
		}
		for _, x := range pd.Xattrs {
			info.Xattrs = append(info.Xattrs, Xattr{Name: x.Name, Value: xattrText(x.Value), Internal: x.Internal, Raw: x.Value})
		}
	}
	if unk := info.InvalidFlags &^ knownInvalidFlags; unk != 0 {
		s.blobFinding(b, finding.Error, CodeUnknownFlags, finding.LoadSkip, finding.PageRef(descs[0].Index),
			fmt.Sprintf("invalid_flags=%#x", info.InvalidFlags),
			"unknown invalid flags %#x: SPDK refuses to open the blob", unk)
		return
	}
	info.Thin = info.InvalidFlags&flagThin != 0
	info.ReadOnly = info.DataROFlags != 0
	thin := info.Thin

	// cluster checks shared by RLE and extent pages
	okCluster := func(c uint64, page uint32) bool {
		if c >= s.totalClusters {
			s.blobFinding(b, finding.Error, CodeClusterRange, finding.LoadSkip, finding.PageRef(page), "",
				"cluster %d is beyond the %d clusters of the device: SPDK skips the blob", c, s.totalClusters)
			return false
		}
		if s.masksCurrent() && !s.clusterMask.get(c) {
			s.blobFinding(b, finding.Error, CodeClusterUnmarked, finding.LoadSkip, finding.PageRef(page), "",
				"cluster %d is owned by the blob but not marked in the used cluster mask: SPDK skips the blob (-EINVAL)", c)
			return false
		}
		return true
	}
	addRun := func(off, cl, n uint64) {
		if k := len(info.Allocated); k > 0 {
			r := &info.Allocated[k-1]
			if r.Offset+r.Count == off && r.Cluster+r.Count == cl {
				r.Count += n
				info.AllocatedClusters += n
				return
			}
		}
		info.Allocated = append(info.Allocated, Run{Offset: off, Cluster: cl, Count: n})
		info.AllocatedClusters += n
	}

	rle, et := false, false
	var num uint64
	var etClusters uint64
	var refs []extentRef
	for _, pd := range descs {
		if pd.RLECount > 0 {
			if et {
				s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(pd.Index), "",
					"md page %d has extent RLE after an extent table: SPDK skips the blob", pd.Index)
				return
			}
			rle = true
			for _, r := range pd.RLE {
				c, l := uint64(r[0]), uint64(r[1])
				if c != 0 && l > 0 {
					if !okCluster(c, pd.Index) || !okCluster(c+l-1, pd.Index) {
						return
					}
					if s.masksCurrent() {
						for j := uint64(1); j+1 < l; j++ {
							if !okCluster(c+j, pd.Index) {
								return
							}
						}
					}
					addRun(num, c, l)
				} else if c == 0 && l > 0 && !thin {
					s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(pd.Index), "",
						"thick blob has unallocated clusters in its extent RLE: SPDK skips the blob")
					return
				}
				num += l
			}
		}
		for _, t := range pd.ET {
			if rle {
				s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(pd.Index), "",
					"md page %d has an extent table after extent RLE: SPDK skips the blob", pd.Index)
				return
			}
			if et && t.NumClusters != etClusters {
				s.blobFinding(b, finding.Error, CodeExtentMismatch, finding.LoadSkip, finding.PageRef(pd.Index),
					fmt.Sprintf("num_clusters %d then %d", etClusters, t.NumClusters),
					"extent table descriptors disagree on the cluster count: SPDK skips the blob")
				return
			}
			et, etClusters = true, t.NumClusters
			for _, r := range t.Refs {
				if r.Page != 0 && r.Count != 1 {
					out := finding.LoadCrash
					if !clean {
						out = finding.LoadRefuse // the replay already refused
					}
					s.blobFinding(b, finding.Critical, CodeDescriptor, out, finding.PageRef(pd.Index), "",
						"extent table entry (page %d, count %d) must have count 1: SPDK fails an assertion", r.Page, r.Count)
					return
				}
				if r.Page == 0 && !thin {
					s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(pd.Index), "",
						"thick blob has unallocated extent pages: SPDK skips the blob")
					return
				}
				refs = append(refs, r)
			}
		}
	}
	if et {
		remaining := etClusters
		for _, r := range refs {
			if r.Page == 0 {
				// each unallocated extent page adds up to 512 clusters of
				// what the table has left
				take := min(uint64(r.Count)*extentsPerPage, remaining)
				num += take
				remaining -= take
				continue
			}
			info.ExtentPages = append(info.ExtentPages, r.Page)
			if r.Page >= s.sb.MDLen {
				s.blobFinding(b, finding.Error, CodeExtentPage, finding.LoadSkip, finding.PageRef(r.Page), "",
					"extent table points to page %d, beyond the md region: SPDK skips the blob", r.Page)
				return
			}
			epd, ok := s.pages[r.Page]
			if !ok {
				code := CodeExtentPage
				if _, isBad := s.bad[r.Page]; isBad {
					code = CodeMDCRC
				}
				s.blobFinding(b, finding.Error, code, finding.LoadSkip, finding.PageRef(r.Page), s.describePage(r.Page),
					"extent page %d fails its CRC or is empty: SPDK skips the blob", r.Page)
				return
			}
			if epd.Next != invalidPage || epd.Seq != 0 || !epd.OnlyExtentPage || epd.EP == nil || len(epd.Bad) > 0 {
				s.blobFinding(b, finding.Error, CodeExtentPage, finding.LoadSkip, finding.PageRef(r.Page), s.describePage(r.Page),
					"page %d is not a valid extent page: SPDK skips the blob", r.Page)
				return
			}
			ep := epd.EP
			if uint64(ep.Start) != num {
				s.blobFinding(b, finding.Error, CodeExtentMismatch, finding.LoadSkip, finding.PageRef(r.Page),
					fmt.Sprintf("start_cluster_idx=%d clusters so far=%d", ep.Start, num),
					"extent page %d starts at cluster %d, but the blob has %d clusters before it: SPDK skips the blob", r.Page, ep.Start, num)
				return
			}
			n := uint64(len(ep.Clusters))
			if remaining < n {
				s.blobFinding(b, finding.Critical, CodeExtentMismatch, finding.LoadCrash, finding.PageRef(r.Page),
					fmt.Sprintf("remaining=%d extent page clusters=%d", remaining, n),
					"extent page %d holds more clusters than the extent table has left: SPDK fails an assertion", r.Page)
				return
			}
			for i, c := range ep.Clusters {
				if c == 0 {
					if !thin {
						s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(r.Page), "",
							"thick blob has an unallocated cluster in extent page %d: SPDK skips the blob", r.Page)
						return
					}
					continue
				}
				if !okCluster(uint64(c), r.Page) {
					return
				}
				addRun(num+uint64(i), uint64(c), 1)
			}
			num += n
			remaining -= n
		}
		if remaining != 0 {
			s.blobFinding(b, finding.Warning, CodeExtentMismatch, finding.LoadDegraded, finding.PageRef(descs[0].Index),
				fmt.Sprintf("num_clusters=%d loaded=%d", etClusters, num),
				"extent table says %d clusters but its pages give %d: SPDK loads the blob with %d", etClusters, num, num)
		}
	}
	info.NumClusters = num
	info.SizeBytes = num * uint64(s.sb.ClusterSize)

	// backing device: esnap clone or snapshot
	if info.InvalidFlags&flagExtSnapshot != 0 {
		v, ok := b.xattr("EXTSNAP", true)
		if !ok {
			s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(descs[0].Index), "",
				"external snapshot clone without an EXTSNAP xattr: SPDK skips the blob")
			return
		}
		info.ExternalSnapshot = cstr(v)
		s.blobFinding(b, finding.Info, CodeMissingEsnap, finding.LoadDegraded, nil, "EXTSNAP="+xattrText(v),
			"external snapshot clone of %q: SPDK loads it degraded until a bdev of that name or uuid exists", xattrText(v))
		return
	}
	if !thin {
		return
	}
	v, ok := b.xattr("SNAP", true)
	if !ok {
		return
	}
	if len(v) != 8 {
		s.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(descs[0].Index), "",
			"SNAP xattr is %d bytes, not 8: SPDK skips the blob", len(v))
		return
	}
	info.Parent = binary.LittleEndian.Uint64(v)
	b.hasSnap = true
}
