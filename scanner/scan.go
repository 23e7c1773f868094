package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
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

// badPage is what is kept of a page whose CRC fails but whose header looks
// like an md page: enough to say what a chain ran into.
type badPage struct {
	ID   uint64
	Seq  uint32
	Next uint32
}

type scanState struct {
	ctx  context.Context
	src  Source
	opts Options
	v    *View
	sb   superBlock

	pages map[uint32]*pageDesc // CRC-valid md pages
	// pageList holds the same pages by ascending index (the order the read
	// merges them in; rereads append and clear listSorted): walking a slice
	// beats walking a map of tens of thousands of pages.
	pageList   []*pageDesc
	listSorted bool
	bad        map[uint32]badPage // CRC-failed pages that look like md pages

	// masks, clean mode only
	pageMask, clusterMask, blobIDMask mask
	haveMasks                         bool

	totalClusters uint64
	mdClusters    uint64

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
	fs          finding.List
	lvsOut      finding.LoadOutcome
	superOK     bool
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
		ctx: ctx, src: src, opts: opts,
		v:          &View{Device: opts.Device, Size: src.Size(), Blobs: []BlobInfo{}},
		pages:      map[uint32]*pageDesc{},
		listSorted: true,
		bad:        map[uint32]badPage{},
		blobs:      map[uint64]*blobState{},
		lvsOut:     finding.LoadOK,
	}
	err := s.run()
	s.v.Stats.Duration = time.Since(start)
	if err != nil {
		return nil, err
	}
	return s.v, nil
}

func (s *scanState) add(f finding.Finding) {
	s.fs.Add(f)
	s.lvsOut = worseLvs(s.lvsOut, f.SPDK)
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

func (s *scanState) readAt(buf []byte, off int64) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	n, err := s.read(buf, off)
	s.v.Stats.BytesRead += uint64(n)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: read %d bytes at offset %d: %w", ErrRead, len(buf), off, err)
}

// read is src.ReadAt that returns when the scan's context ends, even if the
// read itself does not (a hung device, an NFS server gone): the read goes on
// in its own goroutine and is abandoned, with its buffer, so that SIGTERM
// ends a run at once. A context that cannot end reads directly.
func (s *scanState) read(buf []byte, off int64) (int, error) {
	if s.ctx.Done() == nil {
		return s.src.ReadAt(buf, off)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.src.ReadAt(buf, off)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
}

func (s *scanState) run() error {
	size := s.src.Size()
	if size < pageSize {
		s.add(finding.Finding{Code: CodeBadSuperBlock, Severity: finding.Critical, SPDK: finding.LoadRefuse,
			Message:  fmt.Sprintf("device is %d bytes, smaller than a super block", size),
			Evidence: map[string]string{"disk": fmt.Sprintf("size=%d", size)}})
		return s.finish()
	}
	buf := alignedBuf(pageSize)
	if err := s.readAt(buf, 0); err != nil {
		return fmt.Errorf("read super block: %w", err)
	}
	s.v.Stats.PagesRead++
	s.sb = decodeSuper(buf)
	if !s.checkSuper(size) {
		return s.finish()
	}
	mode := s.opts.Mode
	if mode == "" || mode == ModeAuto {
		mode = ModeRecovery
		if s.sb.Clean == 1 && s.sb.UsedBlobIDLen != 0 {
			mode = ModeClean
		}
	}
	s.v.Mode = mode
	if mode == ModeClean {
		if err := s.readMasks(); err != nil {
			return err
		}
		if s.sb.Clean != 1 {
			s.add(finding.Finding{Code: CodeStaleMasks, Severity: finding.Info, SPDK: finding.LoadNotApplies,
				Message: "clean mode forced on a store whose clean flag is 0: the masks are stale, so no mask is checked; SPDK itself will run recovery (scan without --mode for what it loads)"})
		}
	}
	if mode == ModeClean {
		s.earlyFirsts = s.maskBlobs()
		s.sizeBlobs(len(s.earlyFirsts))
		s.early = make([]*blobState, 0, len(s.earlyFirsts))
	}
	if err := s.readMD(); err != nil {
		return err
	}
	if err := s.rereadSuspects(); err != nil {
		return err
	}
	if mode == ModeRecovery {
		s.openAll(s.replay())
	} else {
		s.openBlobs(s.earlyBlobs())
	}
	s.loadIter()
	s.lvsLayer()
	s.clusterChecks()
	if s.masksCurrent() {
		s.maskChecks()
	}
	return s.finish()
}

// checkSuper validates page 0 as bs_super_validate and bs_parse_super do, and
// fills the lvstore header. It returns false when nothing more can be read.
func (s *scanState) checkSuper(size int64) bool {
	sb := s.sb
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
		s.add(finding.Finding{Code: code, Severity: finding.Critical, SPDK: finding.LoadRefuse,
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
	s.totalClusters = bsSize / uint64(sb.ClusterSize)
	l.TotalClusters = s.totalClusters
	ppc := uint64(sb.ClusterSize / pageSize)
	s.mdClusters = (uint64(sb.MDStart) + uint64(sb.MDLen) + ppc - 1) / ppc
	l.MDClusters = s.mdClusters
	return true
}

func (s *scanState) readRegion(start, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	buf := alignedBuf(int(n) * pageSize)
	if err := s.readAt(buf, int64(start)*pageSize); err != nil {
		return nil, err
	}
	s.v.Stats.PagesRead += uint64(n)
	return buf, nil
}

// maskPages bounds what is read of a mask region to the pages that can hold
// bits the scan asks about: a hostile length must not allocate terabytes.
func maskPages(regionLen uint32, bits uint64) uint32 {
	need := (5 + (bits+7)/8 + pageSize - 1) / pageSize
	return uint32(min(uint64(regionLen), need))
}

func (s *scanState) readMasks() error {
	sb := s.sb
	var err error
	var raw []byte
	if raw, err = s.readRegion(sb.UsedPageStart, maskPages(sb.UsedPageLen, uint64(sb.MDLen))); err != nil {
		return fmt.Errorf("read used page mask: %w", err)
	}
	s.pageMask = decodeMask(raw)
	if raw, err = s.readRegion(sb.UsedClusterStart, maskPages(sb.UsedClusterLen, s.totalClusters)); err != nil {
		return fmt.Errorf("read used cluster mask: %w", err)
	}
	s.clusterMask = decodeMask(raw)
	if raw, err = s.readRegion(sb.UsedBlobIDStart, maskPages(sb.UsedBlobIDLen, uint64(sb.MDLen))); err != nil {
		return fmt.Errorf("read used blobid mask: %w", err)
	}
	s.blobIDMask = decodeMask(raw)
	s.haveMasks = true
	hdr := func(name string, m mask, typ uint8, want uint64, exact bool) {
		if sb.Clean != 1 {
			return // SPDK does not read the masks of a dirty store
		}
		ok := m.Type == typ && (uint64(m.Length) == want || (!exact && uint64(m.Length) >= want))
		if !ok {
			s.add(finding.Finding{Code: CodeMaskHeader, Severity: finding.Critical, SPDK: finding.LoadCrash,
				Message:  fmt.Sprintf("%s header type %d length %d, want type %d length %d: SPDK fails an assertion loading it", name, m.Type, m.Length, typ, want),
				Evidence: map[string]string{"disk": fmt.Sprintf("type=%d length=%d", m.Type, m.Length)}})
		}
	}
	hdr("used page mask", s.pageMask, 0, uint64(sb.MDLen), true)
	hdr("used cluster mask", s.clusterMask, 1, s.totalClusters, false)
	hdr("used blobid mask", s.blobIDMask, 2, uint64(sb.MDLen), true)
	return nil
}

// checked is one batch of md pages after the CRC checks: only what is kept.
type checked struct {
	start, n uint64
	hole     bool // skipped: a hole of a sparse file
	good     []*pageDesc
	bad      []badEntry
	err      error
}

type badEntry struct {
	idx uint32
	bp  badPage
}

// maxPresize bounds the md page map sized from a mask ahead of the read.
const maxPresize = 1 << 17

// readDepth is how many batch buffers are in flight: enough that the
// reader always has one free while others are being checked.
const readDepth = 4

// mdJob is one batch on its way from the reader to a checker to the merge.
type mdJob struct {
	c   checked
	buf []byte // nil for holes and failed reads
	res chan checked
}

// readMD streams the md region in large batches, keeping only CRC-valid
// pages (decoded, compact) and the headers of CRC-failed pages that look
// like md pages. One goroutine reads the batches in order, back to back,
// as a plain sequential read would (the device sees the same requests);
// checkers verify them on the other cores, and the results are merged in
// order here. At most readDepth batch buffers exist.
func (s *scanState) readMD() error {
	total := uint64(s.sb.MDLen)
	if s.haveMasks && len(s.pages) == 0 {
		// The used page mask says how many pages to expect; capped, since
		// a hostile mask may mark them all.
		n := min(s.pageMask.count(total), maxPresize)
		s.pages = make(map[uint32]*pageDesc, n)
		s.pageList = make([]*pageDesc, 0, n)
	}
	per := uint64(s.opts.BatchBytes / pageSize)
	batches := (total + per - 1) / per
	holes, _ := s.src.(HoleSource)
	ctx, cancel := context.WithCancel(s.ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	free := make(chan []byte, readDepth)
	for range readDepth {
		free <- nil // allocated on first use: a short region needs one
	}
	order := make(chan *mdJob, readDepth)
	work := make(chan *mdJob, readDepth)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(work)
		for k := uint64(0); k < batches; k++ {
			start := k * per
			n := min(per, total-start)
			j := &mdJob{c: checked{start: start, n: n}, res: make(chan checked, 1)}
			off := int64(uint64(s.sb.MDStart)+start) * pageSize
			size := int64(n) * pageSize
			if j.c.err = ctx.Err(); j.c.err == nil && holes != nil && holes.IsHole(off, size) {
				j.c.hole = true
			} else if j.c.err == nil {
				var buf []byte
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				if buf == nil {
					buf = alignedBuf(int(per) * pageSize)
				}
				j.buf = buf[:size]
				got, err := s.read(j.buf, off)
				switch {
				case got == len(j.buf):
				case err == nil || errors.Is(err, io.EOF):
					j.c.err = io.ErrUnexpectedEOF
				default:
					j.c.err = err
				}
			}
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
			if j.buf == nil || j.c.err != nil {
				j.res <- j.c // nothing to check
				if j.buf != nil {
					free <- j.buf[:cap(j.buf)]
				}
				if j.c.err != nil {
					return
				}
				continue
			}
			work <- j // never blocks: at most readDepth buffers are out
		}
	}()
	for range max(1, min(runtime.GOMAXPROCS(0), 4)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				for i := uint64(0); i < j.c.n; i++ {
					j.c.check(uint32(j.c.start+i), j.buf[i*pageSize:(i+1)*pageSize])
				}
				free <- j.buf[:cap(j.buf)]
				j.res <- j.c
			}
		}()
	}
	for j := range order {
		if err := s.ctx.Err(); err != nil {
			return err // no merge, no progress once cancelled
		}
		var c checked
		select {
		case c = <-j.res:
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
		if c.err != nil {
			if s.ctx.Err() != nil {
				return s.ctx.Err()
			}
			return fmt.Errorf("read md pages %d..%d: %w: %w", c.start, c.start+c.n-1, ErrRead, c.err)
		}
		for _, pd := range c.good {
			s.pages[pd.Index] = pd
		}
		s.pageList = append(s.pageList, c.good...)
		for _, e := range c.bad {
			s.bad[e.idx] = e.bp
		}
		s.openEarly(uint32(c.start + c.n))
		if c.hole {
			s.v.Stats.HolePages += c.n
		} else {
			s.v.Stats.BytesRead += c.n * pageSize
			s.v.Stats.PagesRead += c.n
		}
		if s.opts.Progress != nil {
			s.opts.Progress(c.start+c.n, total)
		}
	}
	return s.ctx.Err()
}

// check keeps what matters of one md page.
func (c *checked) check(idx uint32, p []byte) {
	if p[0] == 0 && p[pageSize-1] == 0 && bytes.Equal(p, zeroPage[:]) {
		return
	}
	if pageCRCOK(p) {
		c.good = append(c.good, decodePage(idx, p))
		return
	}
	if id := leU64(p); id>>32 == 1 {
		c.bad = append(c.bad, badEntry{idx, badPage{ID: id, Seq: leU32(p[8:]), Next: leU32(p[descAreaEnd:])}})
	}
}

// zeroPage is what most of an md region holds. Its CRC is not the stored
// zero, so an all-zero page is rejected without computing it.
var zeroPage [pageSize]byte

func (s *scanState) notePage(idx uint32, p []byte) {
	if p[0] == 0 && p[pageSize-1] == 0 && bytes.Equal(p, zeroPage[:]) {
		return
	}
	if pageCRCOK(p) {
		pd := decodePage(idx, p)
		if _, had := s.pages[idx]; !had {
			s.pageList = append(s.pageList, pd)
			s.listSorted = false
		} else {
			for i, q := range s.pageList {
				if q.Index == idx {
					s.pageList[i] = pd
				}
			}
		}
		s.pages[idx] = pd
		delete(s.bad, idx)
		return
	}
	id := leU64(p)
	if id>>32 == 1 {
		s.bad[idx] = badPage{ID: id, Seq: leU32(p[8:]), Next: leU32(p[descAreaEnd:])}
	}
}

// rereadSuspects re-reads, once and one by one, the CRC-failed pages that
// matter (would-be first pages, pages a chain or extent table points at): a
// running target may have been writing them.
func (s *scanState) rereadSuspects() error {
	want := map[uint32]bool{}
	for idx, b := range s.bad {
		if b.Seq == 0 && b.ID == blobIDOf(idx) {
			want[idx] = true
		}
	}
	for _, pd := range s.pageList {
		if pd.Next != invalidPage {
			if _, ok := s.pages[pd.Next]; !ok && pd.Next < s.sb.MDLen {
				want[pd.Next] = true
			}
		}
		for _, et := range pd.ET {
			for _, r := range et.Refs {
				if _, ok := s.pages[r.Page]; r.Page != 0 && !ok && r.Page < s.sb.MDLen {
					want[r.Page] = true
				}
			}
		}
	}
	if s.haveMasks {
		s.blobIDMask.each(uint64(s.sb.MDLen), func(i uint64) {
			if _, ok := s.pages[uint32(i)]; !ok {
				want[uint32(i)] = true
			}
		})
	}
	idxs := make([]uint32, 0, len(want))
	for i := range want {
		idxs = append(idxs, i)
	}
	sort.Slice(idxs, func(a, b int) bool { return idxs[a] < idxs[b] })
	buf := alignedBuf(pageSize)
	for _, i := range idxs {
		if err := s.readAt(buf, (int64(s.sb.MDStart)+int64(i))*pageSize); err != nil {
			return fmt.Errorf("re-read md page %d: %w", i, err)
		}
		s.v.Stats.Rereads++
		s.v.Stats.PagesRead++
		if pageCRCOK(buf) {
			s.notePage(i, buf)
		}
	}
	return nil
}

func (s *scanState) finish() error {
	v := s.v
	v.Lvstore.Loads = s.lvsOut
	if s.lvsOut == "" {
		v.Lvstore.Loads = finding.LoadOK
	}
	v.Blobs = make([]BlobInfo, 0, len(s.order))
	for _, b := range s.sortedBlobs() {
		v.Blobs = append(v.Blobs, b.info)
	}
	for i := range s.fs {
		f := &s.fs[i]
		f.Lvstore, f.LvstoreUUID = v.Lvstore.Name, v.Lvstore.UUID
		if f.BlobID != 0 {
			if b := s.blobs[f.BlobID]; b != nil {
				f.LvolName, f.LvolUUID = b.info.LvolName, b.info.LvolUUID
			}
		}
	}
	addRepairs(s.fs)
	finding.Sort(s.fs)
	v.Findings = []finding.Finding(s.fs)
	if v.Findings == nil {
		v.Findings = []finding.Finding{}
	}
	return nil
}

// sortedPages is pageList by ascending index.
func (s *scanState) sortedPages() []*pageDesc {
	if !s.listSorted {
		sort.Slice(s.pageList, func(i, j int) bool { return s.pageList[i].Index < s.pageList[j].Index })
		s.listSorted = true
	}
	return s.pageList
}

// masksCurrent says whether the masks were read and are to be trusted:
// only a clean store's masks are.
func (s *scanState) masksCurrent() bool { return s.haveMasks && s.sb.Clean == 1 }
