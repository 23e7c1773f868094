package scanner

import (
	"fmt"
	"sort"

	"github.com/lvfsck/lvfsck/finding"
)

type ownedRun struct {
	start, count uint64
	blob         uint64
}

// ownedRuns lists every device cluster run a blob owns, sorted.
func (m *blobModel) ownedRuns() []ownedRun {
	var rs []ownedRun
	for _, b := range m.sortedBlobs() {
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
func (m *blobModel) clusterChecks() {
	rs := m.ownedRuns()
	type pair struct{ a, b uint64 }
	shared := map[pair][2]uint64{} // first cluster, count
	var keys []pair
	// Sweep by start, keeping the run that reaches furthest: every overlap
	// meets it, in O(n log n) however hostile the image.
	var cur *ownedRun
	for i := range rs {
		r := rs[i]
		if r.start < m.geo.mdClusters {
			b := m.blobs[r.blob]
			m.blobFinding(b, finding.Error, CodeClusterShared, finding.LoadDegraded, nil, fmt.Sprintf("cluster %d; md clusters 0..%d", r.start, m.geo.mdClusters-1),
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
			m.blobFinding(m.blobs[id], finding.Error, CodeClusterShared, finding.LoadDegraded, nil,
				fmt.Sprintf("first shared cluster %d, %d clusters, other blob %#x", v[0], v[1], other),
				"%d cluster(s) from cluster %d are also owned by blob %#x: both load and share the data", v[1], v[0], other)
		}
	}
}

// maskChecks compares the on-disk masks of a clean image with what the
// chains own: pages owned but not marked, marked but not owned (leaked),
// clusters leaked, and first pages the blob id mask does not know.
func (m *blobModel) maskChecks() {
	owned := m.ownedPages()
	m.leakedPages(owned)
	m.leakedClusters()
	m.unmarkedFirsts(owned)
}

// ownedPages lists the md pages the blobs' chains and extent tables own,
// and reports those the used page mask does not mark.
func (m *blobModel) ownedPages() map[uint32]bool {
	mdLen := m.geo.sb.MDLen
	owned := make(map[uint32]bool, len(m.pr.pages))
	for _, b := range m.sortedBlobs() {
		for i, p := range b.info.Pages {
			if p >= mdLen {
				continue
			}
			if _, ok := m.pr.page(p); !ok {
				continue // the chain's broken end: nothing there to own
			}
			owned[p] = true
			if m.pr.pageMask.get(uint64(p)) {
				continue
			}
			if i > 0 {
				m.blobFinding(b, finding.Critical, CodePageMaskUnmarked, finding.LoadCrash, finding.PageRef(p), "",
					"chain page %d is not marked in the used page mask: opening the blob fails an assertion", p)
			} else {
				m.blobFinding(b, finding.Error, CodePageMaskUnmarked, finding.LoadOK, finding.PageRef(p), "",
					"first page %d is not marked in the used page mask: SPDK loads the blob but may give the page to another blob", p)
			}
		}
		for _, p := range b.info.ExtentPages {
			if p >= mdLen {
				continue
			}
			owned[p] = true
			if !m.pr.pageMask.get(uint64(p)) {
				m.blobFinding(b, finding.Error, CodePageMaskUnmarked, finding.LoadOK, finding.PageRef(p), "",
					"extent page %d is not marked in the used page mask: SPDK loads the blob but may give the page to another blob", p)
			}
		}
	}
	return owned
}

// ranges groups ascending indexes into runs and hands each to flush.
type ranges struct {
	lo, n uint64
	flush func(lo, n uint64)
}

func (r *ranges) add(i uint64) {
	if r.n > 0 && r.lo+r.n == i {
		r.n++
		return
	}
	r.end()
	r.lo, r.n = i, 1
}

func (r *ranges) end() {
	if r.n > 0 {
		r.flush(r.lo, r.n)
		r.n = 0
	}
}

// leakedPages reports md pages marked used that no blob owns, in ranges.
func (m *blobModel) leakedPages(owned map[uint32]bool) {
	r := ranges{flush: func(lo, n uint64) {
		m.log.add(finding.Finding{Code: CodePageMaskLeaked, Severity: finding.Warning, SPDK: finding.LoadOK, Page: finding.PageRef(uint32(lo)),
			Message:  fmt.Sprintf("md pages %d..%d are marked used but no blob owns them: leaked until a recovery load", lo, lo+n-1),
			Evidence: map[string]string{"disk": m.pr.describePage(uint32(lo))}})
	}}
	m.pr.pageMask.each(uint64(m.geo.sb.MDLen), func(i uint64) {
		if !owned[uint32(i)] {
			r.add(i)
		}
	})
	r.end()
}

// leakedClusters reports clusters marked used, not metadata, that no blob
// owns, in ranges.
func (m *blobModel) leakedClusters() {
	rs := m.ownedRuns()
	k := 0
	r := ranges{flush: func(lo, n uint64) {
		m.log.add(finding.Finding{Code: CodeClusterLeaked, Severity: finding.Warning, SPDK: finding.LoadOK,
			Message: fmt.Sprintf("clusters %d..%d are marked used but no blob owns them: the space is lost until a recovery load", lo, lo+n-1)})
	}}
	m.pr.clusterMask.each(m.geo.totalClusters, func(c uint64) {
		if c < m.geo.mdClusters {
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
		r.add(c)
	})
	r.end()
}

// unmarkedFirsts reports persisted first pages the blob id mask does not
// know.
func (m *blobModel) unmarkedFirsts(owned map[uint32]bool) {
	for _, pd := range m.pr.sortedPages() {
		idx := pd.Index
		if !pd.isFirst() || m.pr.blobIDMask.get(uint64(idx)) || owned[idx] {
			continue
		}
		m.log.add(finding.Finding{Code: CodeBlobIDMaskUnmarked, Severity: finding.Warning, SPDK: finding.LoadSkip,
			BlobID: blobIDOf(idx), Page: finding.PageRef(idx),
			Message:  fmt.Sprintf("md page %d is a valid first page of blob %#x, but the blob id mask does not mark it: a clean load ignores it, a recovery load would bring it back", idx, blobIDOf(idx)),
			Evidence: map[string]string{"disk": m.pr.describePage(idx)}})
	}
}
