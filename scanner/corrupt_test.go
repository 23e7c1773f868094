package scanner

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/stretchr/testify/require"
)

// corruptDir holds the golden reports of the corruption corpus, in the
// style of e2fsprogs' f_* tests: each damaged image is made by the test from
// a good fixture; only the expected report is committed.
const corruptDir = "../testdata/corrupt"

// img is a damaged copy of a fixture, with helpers to edit md pages.
type img struct {
	t    *testing.T
	b    []byte // super block, masks and md region
	size int64  // device size
	sb   superBlock
}

func newImg(t *testing.T, fixture string) *img {
	m := fixtureImage(t, fixture)
	return &img{t: t, b: m.b, size: m.size, sb: decodeSuper(m.b)}
}

func (m *img) source() memImage { return memImage{b: m.b, size: m.size} }

func (m *img) page(idx uint32) []byte {
	off := (int(m.sb.MDStart) + int(idx)) * pageSize
	return m.b[off : off+pageSize]
}

func (m *img) devPage(idx uint32) []byte {
	return m.b[int(idx)*pageSize : (int(idx)+1)*pageSize]
}

func fixCRC(p []byte) { binary.LittleEndian.PutUint32(p[pageSize-4:], pageCRC(p)) }

func (m *img) setNext(idx, next uint32) {
	p := m.page(idx)
	binary.LittleEndian.PutUint32(p[descAreaEnd:], next)
	fixCRC(p)
}

// newPage writes a fresh md page (no descriptors) at idx.
func (m *img) newPage(idx uint32, id uint64, seq, next uint32) {
	p := m.page(idx)
	clear(p)
	binary.LittleEndian.PutUint64(p[0:], id)
	binary.LittleEndian.PutUint32(p[8:], seq)
	binary.LittleEndian.PutUint32(p[descAreaEnd:], next)
	fixCRC(p)
}

// descs walks a page's descriptors: offset (in the page) of each header.
func descs(p []byte) []int {
	var out []int
	for cur := descAreaStart; cur+descHdrLen <= descAreaEnd; {
		typ, ln := p[cur], binary.LittleEndian.Uint32(p[cur+1:])
		if typ == descPadding && ln == 0 {
			break
		}
		out = append(out, cur)
		cur += descHdrLen + int(ln)
	}
	return out
}

// xattrAt finds xattr name in page idx: offset of its name and of its value.
func (m *img) xattrAt(idx uint32, name string) (nameOff, valOff, valLen int) {
	p := m.page(idx)
	for _, d := range descs(p) {
		if p[d] != descXattr && p[d] != descXattrInternal {
			continue
		}
		nl := int(binary.LittleEndian.Uint16(p[d+5:]))
		vl := int(binary.LittleEndian.Uint16(p[d+7:]))
		if string(p[d+9:d+9+nl]) == name {
			return d + 9, d + 9 + nl, vl
		}
	}
	m.t.Fatalf("no xattr %q on page %d", name, idx)
	return 0, 0, 0
}

func (m *img) renameXattr(idx uint32, from, to string) {
	no, _, _ := m.xattrAt(idx, from)
	copy(m.page(idx)[no:], to)
	fixCRC(m.page(idx))
}

// setXattr overwrites a value in place (same length, NUL padded).
func (m *img) setXattr(idx uint32, name string, val []byte) {
	_, vo, vl := m.xattrAt(idx, name)
	require.LessOrEqual(m.t, len(val), vl)
	p := m.page(idx)
	clear(p[vo : vo+vl])
	copy(p[vo:], val)
	fixCRC(p)
}

// addDesc appends a descriptor after the last one of page idx.
func (m *img) addDesc(idx uint32, typ byte, body []byte) {
	p := m.page(idx)
	ds := descs(p)
	end := descAreaStart
	if len(ds) > 0 {
		last := ds[len(ds)-1]
		end = last + descHdrLen + int(binary.LittleEndian.Uint32(p[last+1:]))
	}
	require.LessOrEqual(m.t, end+descHdrLen+len(body), descAreaEnd)
	p[end] = typ
	binary.LittleEndian.PutUint32(p[end+1:], uint32(len(body)))
	copy(p[end+descHdrLen:], body)
	fixCRC(p)
}

func xattrBody(name string, val []byte) []byte {
	b := make([]byte, 4+len(name)+len(val))
	binary.LittleEndian.PutUint16(b[0:], uint16(len(name)))
	binary.LittleEndian.PutUint16(b[2:], uint16(len(val)))
	copy(b[4:], name)
	copy(b[4+len(name):], val)
	return b
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// rleBlob writes a thick lvol at md page idx in the old EXTENT_RLE format
// (no extent table), marks it in the masks, and returns nothing: runs are
// (cluster, count) pairs, cluster 0 = unallocated.
func (m *img) rleBlob(idx uint32, name string, runs ...[2]uint32) {
	m.newPage(idx, blobIDOf(idx), 0, invalidPage)
	m.addDesc(idx, descFlags, make([]byte, 24))
	nv := make([]byte, 256)
	copy(nv, name)
	m.addDesc(idx, descXattr, xattrBody("name", nv))
	m.addDesc(idx, descXattr, xattrBody("uuid", []byte(fmt.Sprintf("00000000-0000-4000-8000-%012d\x00", idx))))
	var body []byte
	for _, r := range runs {
		body = binary.LittleEndian.AppendUint32(body, r[0])
		body = binary.LittleEndian.AppendUint32(body, r[1])
		if r[0] != 0 {
			for c := r[0]; c < r[0]+r[1]; c++ {
				m.setMaskBit(m.sb.UsedClusterStart, uint64(c), true)
			}
		}
	}
	m.addDesc(idx, 1, body) // EXTENT_RLE
	m.setMaskBit(m.sb.UsedPageStart, uint64(idx), true)
	m.setMaskBit(m.sb.UsedBlobIDStart, uint64(idx), true)
}

// flagsOff is the offset of the flags descriptor body in page idx.
func (m *img) flagsOff(idx uint32) int {
	p := m.page(idx)
	for _, d := range descs(p) {
		if p[d] == descFlags {
			return d + descHdrLen
		}
	}
	m.t.Fatalf("no flags on page %d", idx)
	return 0
}

// extentPageCluster rewrites entry i of the extent page at idx.
func (m *img) extentPageCluster(idx uint32, i int, c uint32) {
	p := m.page(idx)
	binary.LittleEndian.PutUint32(p[descAreaStart+descHdrLen+4+4*i:], c)
	fixCRC(p)
}

func (m *img) setMaskBit(start uint32, bit uint64, on bool) {
	p := m.devPage(start)
	if on {
		p[5+bit/8] |= 1 << (bit % 8)
	} else {
		p[5+bit/8] &^= 1 << (bit % 8)
	}
}

// renderReport is the compact, deterministic text of a scan compared with
// the golden files.
func renderReport(v *View) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s lvstore %q loads %s\n", v.Mode, v.Lvstore.Name, v.Lvstore.Loads)
	var lv []string
	for _, bl := range v.Blobs {
		if bl.IsLvol {
			lv = append(lv, fmt.Sprintf("%s:%s", bl.LvolName, bl.Loads))
		}
	}
	sort.Strings(lv)
	fmt.Fprintf(&b, "lvols %s\n", strings.Join(lv, " "))
	for _, f := range v.Findings {
		page := "-"
		if f.Page != nil {
			page = fmt.Sprint(*f.Page)
		}
		fmt.Fprintf(&b, "%s %s blob=%#x page=%s spdk=%s: %s\n", f.Code, f.Severity, f.BlobID, page, f.SPDK, f.Message)
	}
	return b.String()
}

// Page layout of the fixtures used below (md page indexes):
//
//	basic-1m (clean): 0 super blob, 1 vol-thin (clone of snap1), 2 vol-thick
//	(extent page 3, clusters 1-12), 6 vol-renamed, 8 snap1 (extent page 7,
//	clusters 13-15), 9 clone1 (clone of snap1).
//	dirty-kill9 (clean=0): 1 v0, 2 v1 (clone of v1-snap), 4 v2, 7 v4-renamed,
//	8 v5 (thick, extent page 9), 10 v1-snap (extent page 3).
var corruptCases = []struct {
	name    string
	fixture string
	mode    Mode
	damage  func(m *img)
	want    finding.Code
}{
	{"crc-flip-chain", "basic-1m", ModeAuto, func(m *img) { m.page(2)[100] ^= 0xff }, CodeMDCRC},
	{"crc-flip-first-recovery", "dirty-kill9", ModeAuto, func(m *img) { m.page(1)[100] ^= 0xff }, CodeMDCRC},
	{"chain-cut", "basic-1m", ModeAuto, func(m *img) { m.setNext(2, 40) }, CodeChainBroken},
	{"chain-out-of-region", "dirty-kill9", ModeAuto, func(m *img) { m.setNext(4, 5000) }, CodeChainBroken},
	{"chain-loop-clean", "basic-1m", ModeAuto, func(m *img) { m.setNext(2, 2) }, CodeChainLoop},
	{"chain-loop-recovery", "dirty-kill9", ModeAuto, func(m *img) {
		m.newPage(30, blobIDOf(4), 1, 4)
		m.setNext(4, 30)
	}, CodeChainLoop},
	{"chain-cross-linked", "dirty-kill9", ModeAuto, func(m *img) {
		m.newPage(30, blobIDOf(1), 1, invalidPage)
		m.setNext(1, 30)
		m.setNext(4, 30)
	}, CodeChainCrossLink},
	{"chain-foreign-page", "dirty-kill9", ModeAuto, func(m *img) {
		// a stale continuation of v1 left where v0's chain now runs (#13944)
		m.newPage(30, blobIDOf(2), 1, invalidPage)
		m.setNext(1, 30)
	}, CodeChainForeign},
	{"chain-into-extent-page", "dirty-kill9", ModeAuto, func(m *img) { m.setNext(1, 9) }, CodeChainForeign},
	{"chain-sequence", "dirty-kill9", ModeAuto, func(m *img) {
		m.newPage(30, blobIDOf(1), 5, invalidPage)
		m.setNext(1, 30)
	}, CodeChainSequence},
	{"cluster-shared", "basic-1m", ModeAuto, func(m *img) { m.extentPageCluster(7, 0, 5) }, CodeClusterShared},
	{"cluster-out-of-range", "basic-1m", ModeAuto, func(m *img) { m.extentPageCluster(3, 4, 1000) }, CodeClusterRange},
	{"cluster-unmarked", "basic-1m", ModeAuto, func(m *img) { m.setMaskBit(m.sb.UsedClusterStart, 5, false) }, CodeClusterUnmarked},
	{"cluster-leaked", "basic-1m", ModeAuto, func(m *img) { m.setMaskBit(m.sb.UsedClusterStart, 40, true) }, CodeClusterLeaked},
	{"page-mask-leaked", "basic-1m", ModeAuto, func(m *img) { m.setMaskBit(m.sb.UsedPageStart, 40, true) }, CodePageMaskLeaked},
	{"page-mask-unmarked", "basic-1m", ModeAuto, func(m *img) { m.setMaskBit(m.sb.UsedPageStart, 3, false) }, CodePageMaskUnmarked},
	{"blobid-mask-leaked", "basic-1m", ModeAuto, func(m *img) { m.setMaskBit(m.sb.UsedBlobIDStart, 40, true) }, CodeBlobIDMaskLeaked},
	{"blobid-mask-unmarked", "basic-1m", ModeAuto, func(m *img) { m.setMaskBit(m.sb.UsedBlobIDStart, 6, false) }, CodeBlobIDMaskUnmarked},
	{"duplicate-name", "basic-1m", ModeAuto, func(m *img) { m.setXattr(9, "name", []byte("vol-thin")) }, CodeDuplicateName},
	// The lower blob id (thick vol-thick: chain page + extent page) loses
	// the name to the lighter vol-renamed (one page), as opens race.
	{"duplicate-name-lighter-open-wins", "basic-1m", ModeAuto, func(m *img) { m.setXattr(2, "name", []byte("vol-renamed")) }, CodeDuplicateName},
	{"duplicate-uuid", "basic-1m", ModeAuto, func(m *img) {
		m.setXattr(9, "uuid", []byte("bf58dcba-8612-42a6-93a2-a7609f0c8037\x00"))
	}, CodeDuplicateUUID},
	{"lvol-no-uuid", "basic-1m", ModeAuto, func(m *img) { m.renameXattr(6, "uuid", "uuix") }, CodeLvolNoUUID},
	{"lvol-no-name", "basic-1m", ModeAuto, func(m *img) { m.renameXattr(6, "name", "namx") }, CodeLvolNoName},
	{"lvstore-no-uuid", "basic-1m", ModeAuto, func(m *img) { m.renameXattr(0, "uuid", "uuix") }, CodeLvstoreIdentity},
	{"unknown-invalid-flag", "basic-1m", ModeAuto, func(m *img) {
		o := m.flagsOff(6)
		p := m.page(6)
		binary.LittleEndian.PutUint64(p[o:], binary.LittleEndian.Uint64(p[o:])|0x100)
		fixCRC(p)
	}, CodeUnknownFlags},
	{"dangling-parent", "basic-1m", ModeAuto, func(m *img) { m.setXattr(9, "SNAP", u64(blobIDOf(48))) }, CodeDanglingParent},
	{"parent-fails", "basic-1m", ModeAuto, func(m *img) { m.page(8)[200] ^= 1 }, CodeDanglingParent},
	{"snaptmp-kept", "basic-1m", ModeAuto, func(m *img) {
		m.addDesc(8, descXattrInternal, xattrBody("SNAPTMP", u64(blobIDOf(9))))
	}, CodeLeftoverSnapTmp},
	{"snaptmp-deleted", "basic-1m", ModeAuto, func(m *img) {
		m.addDesc(6, descXattrInternal, xattrBody("SNAPTMP", u64(blobIDOf(1))))
	}, CodeLeftoverSnapTmp},
	{"snaprm", "basic-1m", ModeAuto, func(m *img) {
		m.addDesc(8, descXattrInternal, xattrBody("SNAPRM", u64(blobIDOf(9))))
	}, CodeLeftoverSnapRm},
	{"extent-start-mismatch", "basic-1m", ModeAuto, func(m *img) {
		p := m.page(3)
		binary.LittleEndian.PutUint32(p[descAreaStart+descHdrLen:], 1)
		fixCRC(p)
	}, CodeExtentMismatch},
	{"extent-page-zeroed-recovery", "dirty-kill9", ModeAuto, func(m *img) { clear(m.page(9)) }, CodeExtentPage},
	{"replay-unknown-descriptor", "dirty-kill9", ModeAuto, func(m *img) { m.addDesc(1, 42, []byte{1, 2, 3}) }, CodeReplayRejects},
	{"unknown-descriptor-clean", "basic-1m", ModeAuto, func(m *img) { m.addDesc(6, 42, []byte{1, 2, 3}) }, ""},
	{"descriptor-bad-xattr", "basic-1m", ModeAuto, func(m *img) {
		no, _, _ := m.xattrAt(6, "creation_time")
		p := m.page(6)
		binary.LittleEndian.PutUint16(p[no-2:], 3) // value length no longer adds up
		fixCRC(p)
	}, CodeDescriptor},
	{"zeroed-super", "basic-1m", ModeAuto, func(m *img) { clear(m.devPage(0)) }, CodeBadSuperBlock},
	{"super-crc", "basic-1m", ModeAuto, func(m *img) { m.devPage(0)[200] ^= 1 }, CodeBadSuperBlock},
	{"super-bstype", "basic-1m", ModeAuto, func(m *img) {
		p := m.devPage(0)
		copy(p[56:], "BLOBFS\x00\x00\x00")
		fixCRC(p)
	}, CodeBadSuperBlock},
	{"truncated", "basic-1m", ModeAuto, func(m *img) { m.size = 32 << 20 }, CodeTruncated},
	{"truncated-to-page", "basic-1m", ModeAuto, func(m *img) { m.size = 100 }, CodeBadSuperBlock},
	{"mask-header", "basic-1m", ModeAuto, func(m *img) { m.devPage(m.sb.UsedPageStart)[0] = 7 }, CodeMaskHeader},
	{"rle-blob", "basic-1m", ModeAuto, func(m *img) { m.rleBlob(20, "rle-vol", [2]uint32{40, 3}, [2]uint32{50, 1}) }, ""},
	{"rle-blob-recovery", "basic-1m", ModeRecovery, func(m *img) { m.rleBlob(20, "rle-vol", [2]uint32{40, 3}) }, ""},
	{"rle-shared", "basic-1m", ModeAuto, func(m *img) { m.rleBlob(20, "rle-vol", [2]uint32{10, 4}) }, CodeClusterShared},
	{"rle-thick-hole", "basic-1m", ModeAuto, func(m *img) { m.rleBlob(20, "rle-vol", [2]uint32{40, 1}, [2]uint32{0, 2}) }, CodeDescriptor},
	{"rle-no-cluster", "dirty-kill9", ModeAuto, func(m *img) { m.rleBlob(20, "rle-vol", [2]uint32{40, 0}) }, CodeReplayRejects},
	{"forced-removal-clean-mode-on-dirty", "resurrection-pending-live", ModeClean, func(m *img) {}, ""},
}

func TestCorruptionCorpus(t *testing.T) {
	for _, c := range corruptCases {
		t.Run(c.name, func(t *testing.T) {
			m := newImg(t, c.fixture)
			c.damage(m)
			v, err := Scan(context.Background(), m.source(), Options{Mode: c.mode})
			require.NoError(t, err)
			got := renderReport(v)
			if c.want != "" {
				found := false
				for _, f := range v.Findings {
					found = found || f.Code == c.want
				}
				require.True(t, found, "want a %s finding, got:\n%s", c.want, got)
			}
			testfix.Golden(t, filepath.Join(corruptDir, c.name+".expected"), []byte(got))
			testfix.RequireAgree(t, v.Findings)
		})
	}
}

// TestCorpusGoldenFilesHaveCases keeps the corpus directory free of stale
// goldens.
func TestCorpusGoldenFilesHaveCases(t *testing.T) {
	names := map[string]bool{}
	for _, c := range corruptCases {
		names[c.name+".expected"] = true
	}
	ents, err := os.ReadDir(corruptDir)
	require.NoError(t, err)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".expected") {
			require.True(t, names[e.Name()], "stale golden %s", e.Name())
		}
	}
	_ = bytes.Equal
}

// In clean mode blobs open while the md region streams in, as soon as their
// pages are read; with one-page batches most chains and extent pages are
// not read yet when their first page is, so those blobs open after the
// read instead. Whatever the batch size, the view must be the same.
func TestCorpusBatchSizesAgree(t *testing.T) {
	for _, c := range corruptCases {
		t.Run(c.name, func(t *testing.T) {
			m := newImg(t, c.fixture)
			c.damage(m)
			var want *View
			for _, batch := range []int{0, pageSize, 3 * pageSize} {
				v, err := Scan(context.Background(), m.source(), Options{Mode: c.mode, BatchBytes: batch})
				require.NoError(t, err)
				v.Stats = Stats{}
				if want == nil {
					want = v
					continue
				}
				require.Equal(t, want, v, "batch %d bytes", batch)
			}
		})
	}
}
