package scanner

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/finding"
)

// sortedBlobs lists the blobs by id. The list is built once, when every
// blob is open (later opens only find memoised blobs).
func (s *scanState) sortedBlobs() []*blobState {
	if len(s.sorted) == len(s.order) {
		return s.sorted
	}
	if len(s.sorted) == 0 && slices.IsSorted(s.order) && len(s.orderBlobs) == len(s.order) {
		// openAll opens first pages in ascending order: nothing to sort
		s.sorted = s.orderBlobs[:len(s.orderBlobs):len(s.orderBlobs)]
		return s.sorted
	}
	ids := slices.Clone(s.order)
	slices.Sort(ids)
	out := make([]*blobState, len(ids))
	for i, id := range ids {
		out[i] = s.blobs[id]
	}
	s.sorted = out
	return out
}

// loadIter is bs_load_iter: snapshots left half-made (SNAPTMP) or half
// removed (SNAPRM) by a power cut are kept or deleted at load.
func (s *scanState) loadIter() {
	for _, b := range s.sortedBlobs() {
		if !b.opened {
			continue
		}
		code, name := CodeLeftoverSnapRm, "SNAPRM"
		v, ok := b.xattr(name, true)
		if !ok {
			code, name = CodeLeftoverSnapTmp, "SNAPTMP"
			if v, ok = b.xattr(name, true); !ok {
				continue
			}
		}
		var clone uint64
		if len(v) >= 8 {
			clone = binary.LittleEndian.Uint64(v)
		}
		ev := fmt.Sprintf("%s=%s", name, xattrText(v))
		c := s.open(clone)
		switch {
		case c == nil || !c.opened:
			s.blobFinding(b, finding.Warning, code, finding.LoadOK, nil, ev,
				"%s left by an interrupted snapshot operation; its clone %#x does not open, so SPDK leaves the blob as it is", name, clone)
		case c.info.Parent == b.info.ID:
			s.blobFinding(b, finding.Info, code, finding.LoadOK, nil, ev,
				"%s left by an interrupted snapshot operation; clone %#x points at this snapshot, so SPDK keeps it and clears the xattr at load", name, clone)
		default:
			b.deleted = true
			s.blobFinding(b, finding.Warning, code, finding.LoadSkip, nil, ev,
				"%s left by an interrupted snapshot operation; clone %#x does not point at this snapshot, so SPDK deletes it at load", name, clone)
		}
	}
}

// uuidXattr checks a uuid xattr as lvs_read_uuid and load_next_lvol do:
// exactly 36 characters and a NUL, parseable.
func uuidXattr(v []byte, ok bool) (string, bool) {
	if !ok {
		return "", false
	}
	u := cstr(v)
	return u, len(v) == uuidStrLen && v[uuidStrLen-1] == 0 && blobstore.ValidUUID(u)
}

// lvsLayer is lvs_load: the super blob's identity, then every other blob
// that opens becomes an lvol (load_next_lvol), then vbdev_lvol registers a
// bdev per lvol, which fails on duplicate names and uuids.
func (s *scanState) lvsLayer() {
	l := &s.v.Lvstore
	sbID := s.sb.SuperBlob
	sup := s.open(sbID)
	switch {
	case sup == nil:
		s.add(finding.Finding{Code: CodeLvstoreIdentity, Severity: finding.Critical, SPDK: finding.LoadRefuse,
			Message: fmt.Sprintf("super blob %#x is not a blob: SPDK does not load the lvstore", sbID)})
	case !sup.opened:
		s.add(finding.Finding{Code: CodeLvstoreIdentity, Severity: finding.Critical, SPDK: finding.LoadRefuse, BlobID: sbID,
			Message: fmt.Sprintf("super blob %#x does not open: SPDK does not load the lvstore", sbID)})
	default:
		sup.info.IsSuper = true
		uv, uok := sup.xattr("uuid", false)
		u, valid := uuidXattr(uv, uok)
		nv, nok := sup.xattr("name", false)
		l.UUID, l.Name = u, cstr(nv)
		switch {
		case !valid:
			s.blobFinding(sup, finding.Critical, CodeLvstoreIdentity, finding.LoadRefuse, nil, fmt.Sprintf("uuid=%q", xattrText(uv)),
				"the super blob's uuid xattr is missing or invalid: SPDK does not load the lvstore")
		case !nok || len(nv) > maxLvolName:
			s.blobFinding(sup, finding.Critical, CodeLvstoreIdentity, finding.LoadRefuse, nil, fmt.Sprintf("name=%q", xattrText(nv)),
				"the super blob's name xattr is missing or too long: SPDK does not load the lvstore")
		}
	}
	// lvs_load lists every other blob as an lvol, in blob id order.
	var lvols []*blobState
	for _, b := range s.sortedBlobs() {
		if b.info.ID == sbID {
			continue
		}
		id := &b.id
		nv, nok, uv, u, uvalid := id.name, id.nameOK, id.uuidRaw, id.uuid, id.uuidValid
		b.info.IsLvol = nok
		if nok {
			b.info.LvolName = id.nameStr
		}
		if uvalid {
			b.info.LvolUUID = u
		}
		if !b.opened || b.deleted {
			continue
		}
		if !nok || len(nv) > maxLvolName {
			s.blobFinding(b, finding.Critical, CodeLvolNoName, finding.LoadRefuse, nil, fmt.Sprintf("name xattr present=%v length=%d", nok, len(nv)),
				"blob has no usable name xattr: SPDK fails the whole lvstore load (\"Cannot assign lvol name\", SPDK #1831)")
			continue
		}
		if !uvalid {
			s.blobFinding(b, finding.Warning, CodeLvolNoUUID, finding.LoadDegraded, nil, fmt.Sprintf("uuid=%q", xattrText(uv)),
				"lvol %q has no valid uuid xattr: SPDK loads it with a null uuid, so nothing that knows it by uuid finds it", b.info.LvolName)
		}
		lvols = append(lvols, b)
	}
	// vbdev_lvol then opens all of them at once, and each registers its bdev
	// (named by uuid, aliased lvs/name) when its open completes: of two lvols
	// with one name or uuid, the first to finish opening keeps it. Opens
	// race, so model the likely order: fewer dependent metadata reads
	// first, then issue order. This matches the real v24.09 target, which
	// gave a disputed name to a new empty lvol over an older snapshot with
	// data, three restarts out of three.
	s.openCosts(lvols)
	slices.SortStableFunc(lvols, func(a, b *blobState) int { return cmp.Compare(a.cost, b.cost) })
	names := make(map[string]uint64, len(lvols))
	uuids := make(map[string]uint64, len(lvols))
	for _, b := range lvols {
		if first, dup := names[b.info.LvolName]; dup {
			s.blobFinding(b, finding.Error, CodeDuplicateName, finding.LoadSkip, nil,
				fmt.Sprintf("name=%q holder=%#x open-cost=%d holder-open-cost=%d", b.info.LvolName, first, b.cost, s.blobs[first].cost),
				"lvol name %q is also used by blob %#x, which most likely finishes opening first (fewer metadata reads) and keeps the name: this lvol gets no bdev (`Cannot create bdev for lvol`)", b.info.LvolName, first)
			continue
		}
		names[b.info.LvolName] = b.info.ID
		if u := b.info.LvolUUID; u != "" {
			if first, dup := uuids[u]; dup {
				s.blobFinding(b, finding.Error, CodeDuplicateUUID, finding.LoadSkip, nil,
					fmt.Sprintf("uuid=%s holder=%#x open-cost=%d holder-open-cost=%d", u, first, b.cost, s.blobs[first].cost),
					"lvol uuid %s is also used by blob %#x, which most likely finishes opening first (fewer metadata reads) and keeps it: this lvol gets no bdev", u, first)
				continue
			}
			uuids[u] = b.info.ID
		}
	}
	// clones, as bs_blob_list_add builds them from the blobs that open
	for _, b := range s.sortedBlobs() {
		if !b.opened || b.deleted || b.info.Parent == 0 {
			continue
		}
		if p := s.blobs[b.info.Parent]; p != nil && p.opened {
			p.info.Clones = append(p.info.Clones, b.info.ID)
			p.info.IsSnapshot = true
		}
	}
}

type ownedRun struct {
	start, count uint64
	blob         uint64
}

// ownedRuns lists every device cluster run a blob owns, sorted.
func (s *scanState) ownedRuns() []ownedRun {
	var rs []ownedRun
	for _, b := range s.sortedBlobs() {
		for _, r := range b.info.Allocated {
			rs = append(rs, ownedRun{r.Cluster, r.Count, b.info.ID})
		}
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].start != rs[j].start {
			return rs[i].start < rs[j].start
		}
		return rs[i].blob < rs[j].blob
	})
	return rs
}

// clusterChecks finds clusters owned twice, or owned by a blob while they
// hold the metadata.
func (s *scanState) clusterChecks() {
	rs := s.ownedRuns()
	type pair struct{ a, b uint64 }
	shared := map[pair][2]uint64{} // first cluster, count
	var keys []pair
	// Sweep by start, keeping the run that reaches furthest: every overlap
	// meets it, in O(n log n) however hostile the image.
	var cur *ownedRun
	for i := range rs {
		r := rs[i]
		if r.start < s.mdClusters {
			b := s.blobs[r.blob]
			s.blobFinding(b, finding.Error, CodeClusterShared, finding.LoadDegraded, nil, fmt.Sprintf("cluster %d; md clusters 0..%d", r.start, s.mdClusters-1),
				"blob owns cluster %d, which holds the blobstore metadata: writes to it corrupt the metadata", r.start)
		}
		if cur != nil && r.start < cur.start+cur.count && r.blob != cur.blob {
			lo, hi := r.start, min(cur.start+cur.count, r.start+r.count)
			k := pair{min(r.blob, cur.blob), max(r.blob, cur.blob)}
			v, seen := shared[k]
			if !seen {
				keys = append(keys, k)
				v[0] = lo
			}
			v[0] = min(v[0], lo)
			v[1] += hi - lo
			shared[k] = v
		}
		if cur == nil || r.start+r.count > cur.start+cur.count {
			cur = &rs[i]
		}
	}
	for _, k := range keys {
		v := shared[k]
		for _, id := range []uint64{k.a, k.b} {
			other := k.a + k.b - id
			s.blobFinding(s.blobs[id], finding.Error, CodeClusterShared, finding.LoadDegraded, nil,
				fmt.Sprintf("first shared cluster %d, %d clusters, other blob %#x", v[0], v[1], other),
				"%d cluster(s) from cluster %d are also owned by blob %#x: both load and share the data", v[1], v[0], other)
		}
	}
}

// maskChecks compares the on-disk masks of a clean image with what the
// chains own.
func (s *scanState) maskChecks() {
	owned := make(map[uint32]bool, len(s.pages))
	for _, b := range s.sortedBlobs() {
		for i, p := range b.info.Pages {
			if p >= s.sb.MDLen {
				continue
			}
			if _, ok := s.pages[p]; !ok {
				continue // the chain's broken end: nothing there to own
			}
			owned[p] = true
			if s.pageMask.get(uint64(p)) {
				continue
			}
			if i > 0 {
				s.blobFinding(b, finding.Critical, CodePageMaskUnmarked, finding.LoadCrash, finding.PageRef(p), "",
					"chain page %d is not marked in the used page mask: opening the blob fails an assertion", p)
			} else {
				s.blobFinding(b, finding.Error, CodePageMaskUnmarked, finding.LoadOK, finding.PageRef(p), "",
					"first page %d is not marked in the used page mask: SPDK loads the blob but may give the page to another blob", p)
			}
		}
		for _, p := range b.info.ExtentPages {
			if p >= s.sb.MDLen {
				continue
			}
			owned[p] = true
			if !s.pageMask.get(uint64(p)) {
				s.blobFinding(b, finding.Error, CodePageMaskUnmarked, finding.LoadOK, finding.PageRef(p), "",
					"extent page %d is not marked in the used page mask: SPDK loads the blob but may give the page to another blob", p)
			}
		}
	}
	// leaked md pages, grouped into ranges
	var lo, n uint64
	flush := func() {
		if n == 0 {
			return
		}
		s.add(finding.Finding{Code: CodePageMaskLeaked, Severity: finding.Warning, SPDK: finding.LoadOK, Page: finding.PageRef(uint32(lo)),
			Message:  fmt.Sprintf("md pages %d..%d are marked used but no blob owns them: leaked until a recovery load", lo, lo+n-1),
			Evidence: map[string]string{"disk": s.describePage(uint32(lo))}})
		n = 0
	}
	s.pageMask.each(uint64(s.sb.MDLen), func(i uint64) {
		if owned[uint32(i)] {
			return
		}
		if n > 0 && lo+n == i {
			n++
			return
		}
		flush()
		lo, n = i, 1
	})
	flush()

	// leaked clusters: marked, not metadata, owned by nobody
	rs := s.ownedRuns()
	k := 0
	var clo, cn uint64
	cflush := func() {
		if cn == 0 {
			return
		}
		s.add(finding.Finding{Code: CodeClusterLeaked, Severity: finding.Warning, SPDK: finding.LoadOK,
			Message: fmt.Sprintf("clusters %d..%d are marked used but no blob owns them: the space is lost until a recovery load", clo, clo+cn-1)})
		cn = 0
	}
	s.clusterMask.each(s.totalClusters, func(c uint64) {
		if c < s.mdClusters {
			return
		}
		for k < len(rs) && rs[k].start+rs[k].count <= c {
			k++
		}
		for j := k; j < len(rs) && rs[j].start <= c; j++ {
			if c < rs[j].start+rs[j].count {
				return
			}
		}
		if cn > 0 && clo+cn == c {
			cn++
			return
		}
		cflush()
		clo, cn = c, 1
	})
	cflush()

	// persisted first pages that the blob id mask does not know
	for _, pd := range s.sortedPages() {
		idx := pd.Index
		if !pd.isFirst() || s.blobIDMask.get(uint64(idx)) || owned[idx] {
			continue
		}
		s.add(finding.Finding{Code: CodeBlobIDMaskUnmarked, Severity: finding.Warning, SPDK: finding.LoadSkip,
			BlobID: blobIDOf(idx), Page: finding.PageRef(idx),
			Message:  fmt.Sprintf("md page %d is a valid first page of blob %#x, but the blob id mask does not mark it: a clean load ignores it, a recovery load would bring it back", idx, blobIDOf(idx)),
			Evidence: map[string]string{"disk": s.describePage(idx)}})
	}
}

// openCosts estimates, per lvol blob, when its open completes, in units of
// half a dependent metadata read: an open reads its chain pages, then its
// extent pages, one after another, and a clone's open completes only after
// its parent snapshot's. The sim's examine uses the same model, which
// reproduces the bdev registration order of every captured restart. The
// estimate lands in blobState.cost (memoised there, not in a map: tens of
// thousands of lvols are sorted by it).
func (s *scanState) openCosts(lvols []*blobState) {
	var walk func(b *blobState, depth int) int
	walk = func(b *blobState, depth int) int {
		if b.costSet {
			return b.cost
		}
		if depth > 64 {
			return 0
		}
		c := 2 * (len(b.info.Pages) + len(b.info.ExtentPages))
		if p := b.info.Parent; p != 0 && p != b.info.ID {
			if pb := s.blobs[p]; pb != nil {
				c = max(c, walk(pb, depth+1)+1)
			}
		}
		b.cost, b.costSet = c, true
		return c
	}
	for _, b := range lvols {
		walk(b, 0)
	}
}
