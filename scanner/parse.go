package scanner

import (
	"encoding/binary"
	"fmt"

	"github.com/lvfsck/lvfsck/finding"
)

// parse applies blob_parse_page and the extent page load to a chain whose
// ids and sequence numbers are right: descriptors and flags, then the
// clusters (extent RLE, or an extent table and its pages), then the
// backing device.
func (m *blobModel) parse(b *blobState, descs []*pageDesc) {
	if !m.parseDescriptors(b, descs) {
		return
	}
	cp := clusterParse{m: m, b: b, info: b.info, thin: b.info.Thin}
	if !cp.descriptors(descs) || !cp.extentPages() {
		return
	}
	cp.finish(descs[0].Index)
	m.parseBacking(b, descs[0].Index)
}

// parseDescriptors takes the flags and xattrs of the chain; false when a
// malformed descriptor or an unknown invalid flag stops the open.
func (m *blobModel) parseDescriptors(b *blobState, descs []*pageDesc) bool {
	info := b.info
	nx := 0
	for _, pd := range descs {
		nx += len(pd.Xattrs)
	}
	info.Xattrs = make([]Xattr, 0, nx)
	for _, pd := range descs {
		if len(pd.Bad) > 0 {
			m.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(pd.Index), "",
				"md page %d: %s: SPDK skips the blob", pd.Index, pd.Bad[0])
			return false
		}
		if pd.HasFlags {
			info.InvalidFlags, info.DataROFlags, info.MDROFlags = pd.Invalid, pd.DataRO, pd.MDRO
		}
		for _, x := range pd.Xattrs {
			info.Xattrs = append(info.Xattrs, Xattr{Name: x.Name, Value: xattrText(x.Value), Internal: x.Internal, Raw: x.Value})
		}
	}
	if unk := info.InvalidFlags &^ knownInvalidFlags; unk != 0 {
		m.blobFinding(b, finding.Error, CodeUnknownFlags, finding.LoadSkip, finding.PageRef(descs[0].Index),
			fmt.Sprintf("invalid_flags=%#x", info.InvalidFlags),
			"unknown invalid flags %#x: SPDK refuses to open the blob", unk)
		return false
	}
	info.Thin = info.InvalidFlags&flagThin != 0
	info.ReadOnly = info.DataROFlags != 0
	return true
}

// clusterParse is one blob's clusters being worked out: extent RLE
// descriptors, or an extent table whose extent pages are then loaded.
type clusterParse struct {
	m    *blobModel
	b    *blobState
	info *BlobInfo
	thin bool

	rle, et    bool   // which representation the chain uses
	num        uint64 // clusters so far
	etClusters uint64 // what the extent table says
	refs       []extentRef
	remaining  uint64 // of etClusters, not yet given by extent pages
}

// fail reports a defect of the cluster map, which stops the parse.
func (cp *clusterParse) fail(sev finding.Severity, code finding.Code, out finding.LoadOutcome, page uint32, ev, format string, a ...any) bool {
	cp.m.blobFinding(cp.b, sev, code, out, finding.PageRef(page), ev, format, a...)
	return false
}

// okCluster checks a cluster the blob owns, as RLE and extent pages share.
func (cp *clusterParse) okCluster(c uint64, page uint32) bool {
	m := cp.m
	if c >= m.geo.totalClusters {
		return cp.fail(finding.Error, CodeClusterRange, finding.LoadSkip, page, "",
			"cluster %d is beyond the %d clusters of the device: SPDK skips the blob", c, m.geo.totalClusters)
	}
	if m.pr.masksCurrent() && !m.pr.clusterMask.get(c) {
		return cp.fail(finding.Error, CodeClusterUnmarked, finding.LoadSkip, page, "",
			"cluster %d is owned by the blob but not marked in the used cluster mask: SPDK skips the blob (-EINVAL)", c)
	}
	return true
}

// addRun records n clusters from blob cluster off at device cluster cl,
// merged with the previous run when they are contiguous.
func (cp *clusterParse) addRun(off, cl, n uint64) {
	info := cp.info
	info.AllocatedClusters += n
	if k := len(info.Allocated); k > 0 {
		r := &info.Allocated[k-1]
		if r.Offset+r.Count == off && r.Cluster+r.Count == cl {
			r.Count += n
			return
		}
	}
	info.Allocated = append(info.Allocated, Run{Offset: off, Cluster: cl, Count: n})
}

// descriptors walks the chain's extent RLE and extent table descriptors.
func (cp *clusterParse) descriptors(descs []*pageDesc) bool {
	for _, pd := range descs {
		if pd.RLECount > 0 && !cp.extentRLE(pd) {
			return false
		}
		for _, t := range pd.ET {
			if !cp.extentTable(pd.Index, t) {
				return false
			}
		}
	}
	return true
}

func (cp *clusterParse) extentRLE(pd *pageDesc) bool {
	if cp.et {
		return cp.fail(finding.Error, CodeDescriptor, finding.LoadSkip, pd.Index, "",
			"md page %d has extent RLE after an extent table: SPDK skips the blob", pd.Index)
	}
	cp.rle = true
	for _, r := range pd.RLE {
		c, l := uint64(r[0]), uint64(r[1])
		if c != 0 && l > 0 {
			if !cp.okCluster(c, pd.Index) || !cp.okCluster(c+l-1, pd.Index) {
				return false
			}
			if cp.m.pr.masksCurrent() {
				for j := uint64(1); j+1 < l; j++ {
					if !cp.okCluster(c+j, pd.Index) {
						return false
					}
				}
			}
			cp.addRun(cp.num, c, l)
		} else if c == 0 && l > 0 && !cp.thin {
			return cp.fail(finding.Error, CodeDescriptor, finding.LoadSkip, pd.Index, "",
				"thick blob has unallocated clusters in its extent RLE: SPDK skips the blob")
		}
		cp.num += l
	}
	return true
}

func (cp *clusterParse) extentTable(page uint32, t extentTable) bool {
	if cp.rle {
		return cp.fail(finding.Error, CodeDescriptor, finding.LoadSkip, page, "",
			"md page %d has an extent table after extent RLE: SPDK skips the blob", page)
	}
	if cp.et && t.NumClusters != cp.etClusters {
		return cp.fail(finding.Error, CodeExtentMismatch, finding.LoadSkip, page,
			fmt.Sprintf("num_clusters %d then %d", cp.etClusters, t.NumClusters),
			"extent table descriptors disagree on the cluster count: SPDK skips the blob")
	}
	cp.et, cp.etClusters = true, t.NumClusters
	for _, r := range t.Refs {
		if r.Page != 0 && r.Count != 1 {
			out := finding.LoadCrash
			if !cp.m.clean {
				out = finding.LoadRefuse // the replay already refused
			}
			return cp.fail(finding.Critical, CodeDescriptor, out, page, "",
				"extent table entry (page %d, count %d) must have count 1: SPDK fails an assertion", r.Page, r.Count)
		}
		if r.Page == 0 && !cp.thin {
			return cp.fail(finding.Error, CodeDescriptor, finding.LoadSkip, page, "",
				"thick blob has unallocated extent pages: SPDK skips the blob")
		}
		cp.refs = append(cp.refs, r)
	}
	return true
}

// extentPages loads the extent pages the table points at, in order.
func (cp *clusterParse) extentPages() bool {
	if !cp.et {
		return true
	}
	cp.remaining = cp.etClusters
	for _, r := range cp.refs {
		if r.Page == 0 {
			// each unallocated extent page adds up to 512 clusters of
			// what the table has left
			take := min(uint64(r.Count)*extentsPerPage, cp.remaining)
			cp.num += take
			cp.remaining -= take
			continue
		}
		cp.info.ExtentPages = append(cp.info.ExtentPages, r.Page)
		if !cp.extentPage(r.Page) {
			return false
		}
	}
	return true
}

// extentPage loads one extent page as bs_load_cur_extent_page does.
func (cp *clusterParse) extentPage(page uint32) bool {
	m := cp.m
	if page >= m.geo.sb.MDLen {
		return cp.fail(finding.Error, CodeExtentPage, finding.LoadSkip, page, "",
			"extent table points to page %d, beyond the md region: SPDK skips the blob", page)
	}
	epd, ok := m.pr.page(page)
	if !ok {
		code := CodeExtentPage
		if m.pr.isBad(page) {
			code = CodeMDCRC
		}
		return cp.fail(finding.Error, code, finding.LoadSkip, page, m.pr.describePage(page),
			"extent page %d fails its CRC or is empty: SPDK skips the blob", page)
	}
	if epd.Next != invalidPage || epd.Seq != 0 || !epd.OnlyExtentPage || epd.EP == nil || len(epd.Bad) > 0 {
		return cp.fail(finding.Error, CodeExtentPage, finding.LoadSkip, page, m.pr.describePage(page),
			"page %d is not a valid extent page: SPDK skips the blob", page)
	}
	ep := epd.EP
	if uint64(ep.Start) != cp.num {
		return cp.fail(finding.Error, CodeExtentMismatch, finding.LoadSkip, page,
			fmt.Sprintf("start_cluster_idx=%d clusters so far=%d", ep.Start, cp.num),
			"extent page %d starts at cluster %d, but the blob has %d clusters before it: SPDK skips the blob", page, ep.Start, cp.num)
	}
	n := uint64(len(ep.Clusters))
	if cp.remaining < n {
		return cp.fail(finding.Critical, CodeExtentMismatch, finding.LoadCrash, page,
			fmt.Sprintf("remaining=%d extent page clusters=%d", cp.remaining, n),
			"extent page %d holds more clusters than the extent table has left: SPDK fails an assertion", page)
	}
	for i, c := range ep.Clusters {
		if c == 0 {
			if !cp.thin {
				return cp.fail(finding.Error, CodeDescriptor, finding.LoadSkip, page, "",
					"thick blob has an unallocated cluster in extent page %d: SPDK skips the blob", page)
			}
			continue
		}
		if !cp.okCluster(uint64(c), page) {
			return false
		}
		cp.addRun(cp.num+uint64(i), uint64(c), 1)
	}
	cp.num += n
	cp.remaining -= n
	return true
}

// finish sets the blob's size; an extent table that promises more than
// its pages give loads degraded.
func (cp *clusterParse) finish(first uint32) {
	if cp.et && cp.remaining != 0 {
		cp.m.blobFinding(cp.b, finding.Warning, CodeExtentMismatch, finding.LoadDegraded, finding.PageRef(first),
			fmt.Sprintf("num_clusters=%d loaded=%d", cp.etClusters, cp.num),
			"extent table says %d clusters but its pages give %d: SPDK loads the blob with %d", cp.etClusters, cp.num, cp.num)
	}
	cp.info.NumClusters = cp.num
	cp.info.SizeBytes = cp.num * uint64(cp.m.geo.sb.ClusterSize)
}

// parseBacking is the backing device: an esnap clone's external snapshot,
// or a thin clone's snapshot (checked by resolveParent once all are open).
func (m *blobModel) parseBacking(b *blobState, first uint32) {
	info := b.info
	if info.InvalidFlags&flagExtSnapshot != 0 {
		v, ok := b.xattr("EXTSNAP", true)
		if !ok {
			m.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(first), "",
				"external snapshot clone without an EXTSNAP xattr: SPDK skips the blob")
			return
		}
		info.ExternalSnapshot = cstr(v)
		m.blobFinding(b, finding.Info, CodeMissingEsnap, finding.LoadDegraded, nil, "EXTSNAP="+xattrText(v),
			"external snapshot clone of %q: SPDK loads it degraded until a bdev of that name or uuid exists", xattrText(v))
		return
	}
	if !info.Thin {
		return
	}
	v, ok := b.xattr("SNAP", true)
	if !ok {
		return
	}
	if len(v) != 8 {
		m.blobFinding(b, finding.Error, CodeDescriptor, finding.LoadSkip, finding.PageRef(first), "",
			"SNAP xattr is %d bytes, not 8: SPDK skips the blob", len(v))
		return
	}
	info.Parent = binary.LittleEndian.Uint64(v)
	b.hasSnap = true
}
