package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lvfsck/lvfsck/finding"
)

// Source is where the scan reads a device or image from. Reads are at
// page-aligned offsets with page-multiple lengths into page-aligned buffers,
// so an O_DIRECT file can serve them as they come.
type Source interface {
	io.ReaderAt
	// Size is the device or image size in bytes.
	Size() int64
}

// Options tune a scan. The zero value scans in auto mode.
type Options struct {
	// Mode is auto (default), clean or recovery.
	Mode Mode
	// BatchBytes is how much of the md region one read covers (default
	// 1 MiB, rounded to whole pages).
	BatchBytes int
	// Progress, when set, is called after each batch with md pages done and
	// the md region's total.
	Progress func(done, total uint64)
	// Device names the source in the view.
	Device string
}

// HoleSource is a Source that can tell holes (unstored zeros) of a sparse
// file; the scan skips them, since an all-zero page is never an md page.
type HoleSource interface {
	Source
	IsHole(off, n int64) bool
}

// ErrRead wraps every failure to read the source (exit 8 in the CLI).
var ErrRead = errors.New("cannot read device")

// ErrMode is returned for an unknown Options.Mode.
var ErrMode = errors.New("unknown scan mode")

// scanState is one scan: the page reader below, the blob model above,
// and the findings both report into.
type scanState struct {
	ctx  context.Context
	opts Options
	v    *View
	geo  geometry
	log  findingLog
	rd   *pageReader
	m    *blobModel
}

// geometry is what the super block says, with the cluster counts derived
// from it: shared by the reader and the model.
type geometry struct {
	sb            superBlock
	totalClusters uint64
	mdClusters    uint64
}

// findingLog collects the scan's findings and folds each into what SPDK
// does with the lvstore as a whole.
type findingLog struct {
	fs     finding.List
	lvsOut finding.LoadOutcome
}

func (l *findingLog) add(f finding.Finding) {
	l.fs.Add(f)
	l.lvsOut = worseLvs(l.lvsOut, f.SPDK)
}

// reported says whether a finding of code about blob id is already there.
func (l *findingLog) reported(code finding.Code, id uint64) bool {
	for _, f := range l.fs {
		if f.Code == code && f.BlobID == id {
			return true
		}
	}
	return false
}

// Scan reads the lvstore on src and returns its persisted view. An error is
// returned only when src cannot be read or ctx ends; damage is reported as
// findings in the view.
func Scan(ctx context.Context, src Source, opts Options) (*View, error) {
	start := time.Now()
	switch opts.Mode {
	case "", ModeAuto, ModeClean, ModeRecovery:
	default:
		return nil, fmt.Errorf("%w %q", ErrMode, opts.Mode)
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 1 << 20
	}
	opts.BatchBytes = (opts.BatchBytes + pageSize - 1) / pageSize * pageSize
	s := &scanState{
		ctx: ctx, opts: opts,
		v:   &View{Device: opts.Device, Size: src.Size(), Blobs: []BlobInfo{}},
		log: findingLog{lvsOut: finding.LoadOK},
	}
	s.rd = newPageReader(ctx, src, opts, &s.geo, &s.v.Stats)
	s.m = newBlobModel(s.rd, &s.log, &s.geo)
	err := s.run()
	s.v.Stats.Duration = time.Since(start)
	if err != nil {
		return nil, err
	}
	return s.v, nil
}

// worseLvs folds a finding's outcome into the lvstore's: only refusals and
// crashes are about the whole store.
func worseLvs(cur, o finding.LoadOutcome) finding.LoadOutcome {
	if o == finding.LoadRefuse || o == finding.LoadCrash {
		return worse(cur, o)
	}
	return cur
}

var outcomeRank = map[finding.LoadOutcome]int{
	finding.LoadNotApplies: 0, finding.LoadOK: 1, finding.LoadDegraded: 2,
	finding.LoadSkip: 3, finding.LoadRefuse: 4, finding.LoadCrash: 5,
}

func worse(a, b finding.LoadOutcome) finding.LoadOutcome {
	if outcomeRank[b] > outcomeRank[a] {
		return b
	}
	return a
}

// sevFor is the default severity of a finding by what SPDK does.
func sevFor(o finding.LoadOutcome) finding.Severity {
	switch o {
	case finding.LoadCrash, finding.LoadRefuse:
		return finding.Critical
	case finding.LoadSkip:
		return finding.Error
	case finding.LoadDegraded:
		return finding.Warning
	}
	return finding.Info
}

func (s *scanState) run() error {
	size := s.rd.src.Size()
	if size < pageSize {
		s.log.add(finding.Finding{Code: CodeBadSuperBlock, Severity: finding.Critical, SPDK: finding.LoadRefuse,
			Message:  fmt.Sprintf("device is %d bytes, smaller than a super block", size),
			Evidence: map[string]string{"disk": fmt.Sprintf("size=%d", size)}})
		return s.finish()
	}
	sb, err := s.rd.readSuper()
	if err != nil {
		return err
	}
	s.geo.sb = sb
	if !s.checkSuper(size) {
		return s.finish()
	}
	mode := s.pickMode()
	if mode == ModeClean {
		if err := s.readMasks(); err != nil {
			return err
		}
		s.m.expectMaskBlobs()
		s.rd.onBatch = s.m.openEarly
	}
	if err := s.rd.readMD(); err != nil {
		return err
	}
	if err := s.rd.rereadSuspects(); err != nil {
		return err
	}
	s.m.open(mode)
	s.m.lvsLayer(&s.v.Lvstore)
	s.m.clusterChecks()
	if s.rd.masksCurrent() {
		s.m.maskChecks()
	}
	return s.finish()
}

// pickMode resolves auto: clean when the super block says clean and has a
// blob id mask, as SPDK's load decides.
func (s *scanState) pickMode() Mode {
	mode := s.opts.Mode
	if mode == "" || mode == ModeAuto {
		mode = ModeRecovery
		if s.geo.sb.Clean == 1 && s.geo.sb.UsedBlobIDLen != 0 {
			mode = ModeClean
		}
	}
	s.v.Mode = mode
	s.m.clean = mode == ModeClean
	return mode
}

// readMasks reads the masks and judges their headers.
func (s *scanState) readMasks() error {
	if err := s.rd.readMasks(); err != nil {
		return err
	}
	sb := &s.geo.sb
	if sb.Clean != 1 {
		// SPDK does not read the masks of a dirty store
		s.log.add(finding.Finding{Code: CodeStaleMasks, Severity: finding.Info, SPDK: finding.LoadNotApplies,
			Message: "clean mode forced on a store whose clean flag is 0: the masks are stale, so no mask is checked; SPDK itself will run recovery (scan without --mode for what it loads)"})
		return nil
	}
	s.maskHeader("used page mask", s.rd.pageMask, 0, uint64(sb.MDLen), true)
	s.maskHeader("used cluster mask", s.rd.clusterMask, 1, s.geo.totalClusters, false)
	s.maskHeader("used blobid mask", s.rd.blobIDMask, 2, uint64(sb.MDLen), true)
	return nil
}

func (s *scanState) maskHeader(name string, m mask, typ uint8, want uint64, exact bool) {
	if m.Type == typ && (uint64(m.Length) == want || (!exact && uint64(m.Length) >= want)) {
		return
	}
	s.log.add(finding.Finding{Code: CodeMaskHeader, Severity: finding.Critical, SPDK: finding.LoadCrash,
		Message:  fmt.Sprintf("%s header type %d length %d, want type %d length %d: SPDK fails an assertion loading it", name, m.Type, m.Length, typ, want),
		Evidence: map[string]string{"disk": fmt.Sprintf("type=%d length=%d", m.Type, m.Length)}})
}

// checkSuper validates page 0 as bs_super_validate and bs_parse_super do, and
// fills the lvstore header. It returns false when nothing more can be read.
func (s *scanState) checkSuper(size int64) bool {
	sb := s.geo.sb
	l := &s.v.Lvstore
	l.Version = sb.Version
	l.Clean = sb.Clean == 1
	l.BSType = string(bytes.TrimRight(sb.BSType[:], "\x00"))
	l.ClusterSize = sb.ClusterSize
	l.PageSize = pageSize
	l.MDStart, l.MDLen = sb.MDStart, sb.MDLen
	l.SuperBlob = sb.SuperBlob
	ev := map[string]string{"disk": fmt.Sprintf("signature=%q version=%d crc=%#08x computed=%#08x bstype=%q size=%d cluster_size=%d md=%d+%d",
		bytes.TrimRight(sb.Signature[:], "\x00"), sb.Version, sb.CRC, sb.CalcCRC, l.BSType, sb.Size, sb.ClusterSize, sb.MDStart, sb.MDLen)}
	bad := func(code finding.Code, msg string) bool {
		s.log.add(finding.Finding{Code: code, Severity: finding.Critical, SPDK: finding.LoadRefuse,
			Message: msg + ": SPDK does not load the lvstore (and says nothing to the RPC caller)", Evidence: ev})
		return false
	}
	switch {
	case string(sb.Signature[:]) != "SPDKBLOB":
		return bad(CodeBadSuperBlock, "super block signature is not SPDKBLOB")
	case sb.Version < 1 || sb.Version > 3:
		return bad(CodeBadSuperBlock, fmt.Sprintf("super block version %d is not 1..3", sb.Version))
	case !sb.CRCOK:
		return bad(CodeBadSuperBlock, "super block CRC mismatch")
	case l.BSType != "LVOLSTORE":
		return bad(CodeBadSuperBlock, fmt.Sprintf("blobstore type %q is not LVOLSTORE", l.BSType))
	case sb.ClusterSize == 0 || sb.ClusterSize%pageSize != 0:
		return bad(CodeBadSuperBlock, fmt.Sprintf("cluster size %d is not a positive multiple of 4096", sb.ClusterSize))
	case sb.MDPageSize != 0 && sb.MDPageSize != pageSize:
		return bad(CodeBadSuperBlock, fmt.Sprintf("md page size %d is not supported (4096 only)", sb.MDPageSize))
	case sb.IOUnitSize != 0 && pageSize%sb.IOUnitSize != 0:
		return bad(CodeBadSuperBlock, fmt.Sprintf("io unit size %d does not divide the page", sb.IOUnitSize))
	}
	bsSize := sb.Size
	if bsSize == 0 {
		bsSize = uint64(size)
	}
	if bsSize > uint64(size) {
		return bad(CodeTruncated, fmt.Sprintf("device has %d bytes, the super block says %d", size, bsSize))
	}
	pages := bsSize / pageSize
	regions := []struct {
		name       string
		start, len uint32
	}{
		{"md region", sb.MDStart, sb.MDLen},
		{"used page mask", sb.UsedPageStart, sb.UsedPageLen},
		{"used cluster mask", sb.UsedClusterStart, sb.UsedClusterLen},
		{"used blobid mask", sb.UsedBlobIDStart, sb.UsedBlobIDLen},
	}
	for _, r := range regions {
		if uint64(r.start)+uint64(r.len) > pages || (r.name == "md region" && (r.len == 0 || r.start == 0)) {
			return bad(CodeBadSuperBlock, fmt.Sprintf("%s %d+%d lies outside the %d-page blobstore", r.name, r.start, r.len, pages))
		}
	}
	s.geo.totalClusters = bsSize / uint64(sb.ClusterSize)
	l.TotalClusters = s.geo.totalClusters
	ppc := uint64(sb.ClusterSize / pageSize)
	s.geo.mdClusters = (uint64(sb.MDStart) + uint64(sb.MDLen) + ppc - 1) / ppc
	l.MDClusters = s.geo.mdClusters
	return true
}

func (s *scanState) finish() error {
	v := s.v
	v.Lvstore.Loads = s.log.lvsOut
	if s.log.lvsOut == "" {
		v.Lvstore.Loads = finding.LoadOK
	}
	v.Blobs = s.m.infos()
	fs := s.log.fs
	for i := range fs {
		f := &fs[i]
		f.Lvstore, f.LvstoreUUID = v.Lvstore.Name, v.Lvstore.UUID
		if f.BlobID != 0 {
			if b := s.m.blob(f.BlobID); b != nil {
				f.LvolName, f.LvolUUID = b.info.LvolName, b.info.LvolUUID
			}
		}
	}
	addAdvice(fs)
	finding.Sort(fs)
	v.Findings = []finding.Finding(fs)
	if v.Findings == nil {
		v.Findings = []finding.Finding{}
	}
	return nil
}
