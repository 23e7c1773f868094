package scanner

import (
	"fmt"
	"sort"

	"github.com/lvfsck/lvfsck/finding"
)

// replay walks the md region as SPDK's bs_load_replay_md does on a dirty
// load and returns the pages it marks as blob ids, in order. Chain defects
// that crash the replay are reported here.
func (m *blobModel) replay() []uint32 {
	m.claimed = make(map[uint32]uint64, len(m.pr.pages))
	var cands []uint32
	for _, pd := range m.pr.sortedPages() {
		if pd.isFirst() {
			cands = append(cands, pd.Index)
		}
	}
	var firsts []uint32
	for _, f := range cands {
		if _, taken := m.claimed[f]; taken {
			continue
		}
		firsts = m.replayChain(f, firsts)
	}
	m.lostFirsts()
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	return firsts
}

// lostFirsts reports the first pages whose CRC fails: invisible to
// recovery, their blobs vanish without a word.
func (m *blobModel) lostFirsts() {
	var lost []uint32
	for idx, bp := range m.pr.bad {
		if _, taken := m.claimed[idx]; !taken && bp.Seq == 0 && bp.ID == blobIDOf(idx) {
			lost = append(lost, idx)
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i] < lost[j] })
	for _, idx := range lost {
		m.log.add(finding.Finding{Code: CodeMDCRC, Severity: finding.Error, SPDK: finding.LoadSkip,
			BlobID: blobIDOf(idx), Page: finding.PageRef(idx),
			Message:  fmt.Sprintf("md page %d is the first page of blob %#x but fails its CRC (re-read once): recovery does not see the blob, it vanishes", idx, blobIDOf(idx)),
			Evidence: map[string]string{"disk": m.pr.describePage(idx)}})
	}
}

func (m *blobModel) replayReject(owner uint32, pd *pageDesc) {
	if len(pd.ReplayBad) == 0 {
		return
	}
	m.log.add(finding.Finding{Code: CodeReplayRejects, Severity: finding.Critical, SPDK: finding.LoadRefuse,
		BlobID: blobIDOf(owner), Page: finding.PageRef(pd.Index),
		Message:  fmt.Sprintf("recovery rejects md page %d (%s): the blobstore fails to load with -EILSEQ", pd.Index, pd.ReplayBad[0]),
		Evidence: map[string]string{"disk": fmt.Sprintf("id=%#x seq=%d", pd.ID, pd.Seq)}})
}

// extentRefs appends the extent pages pd's extent table points at.
func extentRefs(ext []uint32, pd *pageDesc) []uint32 {
	for _, et := range pd.ET {
		for _, r := range et.Refs {
			if r.Page != 0 {
				ext = append(ext, r.Page)
			}
		}
	}
	return ext
}

// replayChain claims the chain from first page f, then its extent pages,
// and returns firsts with the blob ids the chain marks.
func (m *blobModel) replayChain(f uint32, firsts []uint32) []uint32 {
	owner := blobIDOf(f)
	firsts = append(firsts, f)
	m.claimed[f] = owner
	pd := m.pr.pages[f]
	m.replayReject(f, pd)
	ext := extentRefs(nil, pd)
	for pd.Next != invalidPage {
		npd, ok := m.replayNext(owner, pd)
		if !ok {
			break
		}
		m.claimed[npd.Index] = owner
		if npd.Seq == 0 {
			// A continuation that is a valid first page also becomes a blob id.
			firsts = append(firsts, npd.Index)
		}
		m.replayReject(f, npd)
		ext = extentRefs(ext, npd)
		pd = npd
	}
	m.replayExtents(f, ext)
	return firsts
}

// replayNext is the page after pd in owner's chain, if recovery goes on to
// it; what crashes recovery on the way is reported.
func (m *blobModel) replayNext(owner uint64, pd *pageDesc) (*pageDesc, bool) {
	nx := pd.Next
	if nx >= m.geo.sb.MDLen {
		m.log.add(finding.Finding{Code: CodeChainBroken, Severity: finding.Critical, SPDK: finding.LoadCrash,
			BlobID: owner, Page: finding.PageRef(pd.Index),
			Message: fmt.Sprintf("md page %d points to page %d, beyond the %d-page md region: recovery fails an assertion (or reads outside the md region)", pd.Index, nx, m.geo.sb.MDLen)})
		return nil, false
	}
	npd, ok := m.pr.pages[nx]
	if !ok || (npd.Seq == 0 && npd.ID != blobIDOf(nx)) {
		return nil, false // recovery ends the chain without a word; the open reports it
	}
	c, taken := m.claimed[nx]
	switch {
	case !taken:
		return npd, true
	case c == owner:
		m.log.add(finding.Finding{Code: CodeChainLoop, Severity: finding.Critical, SPDK: finding.LoadCrash,
			BlobID: owner, Page: finding.PageRef(nx),
			Message: fmt.Sprintf("md chain loops back to page %d (from page %d): recovery claims the page twice and fails an assertion (a release build never finishes loading)", nx, pd.Index)})
	default:
		m.log.add(finding.Finding{Code: CodeChainCrossLink, Severity: finding.Critical, SPDK: finding.LoadCrash,
			BlobID: owner, Page: finding.PageRef(nx),
			Message:  fmt.Sprintf("md page %d is claimed by this chain and by blob %#x's: recovery claims it twice and fails an assertion", nx, c),
			Evidence: map[string]string{"disk": fmt.Sprintf("page %d id=%#x seq=%d; reached from page %d", nx, npd.ID, npd.Seq, pd.Index)}})
	}
	return nil, false
}

// replayExtents claims the extent pages of the chain from f; an extent
// page recovery cannot take fails the whole load.
func (m *blobModel) replayExtents(f uint32, ext []uint32) {
	owner := blobIDOf(f)
	for _, e := range ext {
		if e >= m.geo.sb.MDLen {
			m.log.add(finding.Finding{Code: CodeExtentPage, Severity: finding.Critical, SPDK: finding.LoadCrash, BlobID: owner, Page: finding.PageRef(e),
				Message: fmt.Sprintf("extent table points to page %d, beyond the md region: recovery fails an assertion", e)})
			continue
		}
		epd, ok := m.pr.pages[e]
		if !ok || epd.Seq != 0 || !epd.OnlyExtentPage {
			m.log.add(finding.Finding{Code: CodeExtentPage, Severity: finding.Critical, SPDK: finding.LoadRefuse, BlobID: owner, Page: finding.PageRef(e),
				Message:  fmt.Sprintf("extent page %d is not a valid extent page: recovery fails the whole blobstore with -EILSEQ (SPDK #3621)", e),
				Evidence: map[string]string{"disk": m.pr.describePage(e)}})
			continue
		}
		m.replayReject(f, epd)
		if _, taken := m.claimed[e]; !taken {
			m.claimed[e] = owner
		}
	}
}
