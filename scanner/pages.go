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
)

// pageReader is the scan's lower half: it reads the super block's regions
// (masks, md region) from the source and keeps what the md pages say,
// without knowing what a blob is. The blob model asks it for pages.
type pageReader struct {
	ctx      context.Context
	src      Source
	batch    int // bytes per md read, whole pages
	progress func(done, total uint64)
	geo      *geometry
	stats    *Stats

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

	// onBatch, when set, is called after each md batch is merged with the
	// md page index the read has reached (clean mode opens blobs there).
	onBatch func(reached uint32)
}

// badPage is what is kept of a page whose CRC fails but whose header looks
// like an md page: enough to say what a chain ran into.
type badPage struct {
	ID   uint64
	Seq  uint32
	Next uint32
}

func newPageReader(ctx context.Context, src Source, opts Options, geo *geometry, stats *Stats) *pageReader {
	return &pageReader{
		ctx: ctx, src: src, batch: opts.BatchBytes, progress: opts.Progress, geo: geo, stats: stats,
		pages:      map[uint32]*pageDesc{},
		listSorted: true,
		bad:        map[uint32]badPage{},
	}
}

func (r *pageReader) readAt(buf []byte, off int64) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	n, err := r.read(r.ctx, buf, off, nil)
	r.stats.BytesRead += uint64(n)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: read %d bytes at offset %d: %w", ErrRead, len(buf), off, err)
}

// read is src.ReadAt that returns when ctx ends, even if the
// read itself does not (a hung device, an NFS server gone): the read goes on
// in its own goroutine and is abandoned, with its buffer, so that SIGTERM
// ends a run at once. A context that cannot end reads directly. ended,
// when set, is called once ReadAt has returned, abandoned or not.
func (r *pageReader) read(ctx context.Context, buf []byte, off int64, ended func()) (int, error) {
	if ctx.Done() == nil {
		n, err := r.src.ReadAt(buf, off)
		if ended != nil {
			ended()
		}
		return n, err
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := r.src.ReadAt(buf, off)
		if ended != nil {
			ended()
		}
		done <- result{n, err}
	}()
	select {
	case res := <-done:
		return res.n, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// readSuper reads page 0.
func (r *pageReader) readSuper() (superBlock, error) {
	buf := alignedBuf(pageSize)
	if err := r.readAt(buf, 0); err != nil {
		return superBlock{}, fmt.Errorf("read super block: %w", err)
	}
	r.stats.PagesRead++
	return decodeSuper(buf), nil
}

func (r *pageReader) readRegion(start, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	buf := alignedBuf(int(n) * pageSize)
	if err := r.readAt(buf, int64(start)*pageSize); err != nil {
		return nil, err
	}
	r.stats.PagesRead += uint64(n)
	return buf, nil
}

// maskPages bounds what is read of a mask region to the pages that can hold
// bits the scan asks about: a hostile length must not allocate terabytes.
func maskPages(regionLen uint32, bits uint64) uint32 {
	need := (5 + (bits+7)/8 + pageSize - 1) / pageSize
	return uint32(min(uint64(regionLen), need))
}

// readMasks reads the three masks (their headers are the scan's to judge).
func (r *pageReader) readMasks() error {
	sb := &r.geo.sb
	for _, m := range []struct {
		name       string
		start, len uint32
		bits       uint64
		into       *mask
	}{
		{"used page mask", sb.UsedPageStart, sb.UsedPageLen, uint64(sb.MDLen), &r.pageMask},
		{"used cluster mask", sb.UsedClusterStart, sb.UsedClusterLen, r.geo.totalClusters, &r.clusterMask},
		{"used blobid mask", sb.UsedBlobIDStart, sb.UsedBlobIDLen, uint64(sb.MDLen), &r.blobIDMask},
	} {
		raw, err := r.readRegion(m.start, maskPages(m.len, m.bits))
		if err != nil {
			return fmt.Errorf("read %s: %w", m.name, err)
		}
		*m.into = decodeMask(raw)
	}
	r.haveMasks = true
	return nil
}

// masksCurrent says whether the masks were read and are to be trusted:
// only a clean store's masks are.
func (r *pageReader) masksCurrent() bool { return r.haveMasks && r.geo.sb.Clean == 1 }

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
// reads always have one free while others are being checked.
const readDepth = 4

// readAhead is how many batch reads are issued at once. Two keep the
// device busy while a finished read waits for a core to hand it on (with
// one, as a plain sequential read, every such wait leaves the device idle).
const readAhead = 2

// mdJob is one batch on its way from a read to a checker to the merge.
type mdJob struct {
	c   checked
	off int64  // device offset of the batch
	buf []byte // nil for holes and failed reads
	res chan checked
}

// mdPipe is one streaming read of the md region: the channels between the
// issuing loop, the reading goroutines, the checkers and the merge.
type mdPipe struct {
	ctx   context.Context
	per   uint64     // pages per batch
	pool  *batchPool // the batch buffers, nil when they are on the Go heap
	free  chan []byte
	order chan *mdJob // every batch, in read order, for the merge
	reads chan *mdJob // batches to read, for the readers
	work  chan *mdJob // batches with data, for the checkers
}

// readMD streams the md region in large batches, keeping only CRC-valid
// pages (decoded, compact) and the headers of CRC-failed pages that look
// like md pages. One goroutine reads the batches in order, back to back,
// as a plain sequential read would (the device sees the same requests);
// checkers verify them on the other cores, and the results are merged in
// order here. At most readDepth batch buffers exist.
func (r *pageReader) readMD() error {
	r.presize()
	ctx, cancel := context.WithCancel(r.ctx)
	p := &mdPipe{
		ctx:   ctx,
		per:   uint64(r.batch / pageSize),
		free:  make(chan []byte, readDepth),
		order: make(chan *mdJob, readDepth),
		reads: make(chan *mdJob, readDepth),
		work:  make(chan *mdJob, readDepth),
	}
	batches := (uint64(r.geo.sb.MDLen) + p.per - 1) / p.per
	if p.pool = newBatchPool(int(min(readDepth, batches)), int(p.per)*pageSize); p.pool != nil {
		defer p.pool.release() // after every goroutine below has ended
		for _, b := range p.pool.bufs {
			p.free <- b
		}
	}
	for len(p.free) < readDepth {
		p.free <- nil // on the Go heap, allocated on first use
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { r.issueBatches(p) })
	var readers sync.WaitGroup
	for range readAhead {
		readers.Go(func() { r.readBatches(p) })
	}
	wg.Go(func() {
		readers.Wait()
		close(p.work)
	})
	for range max(1, min(runtime.GOMAXPROCS(0), 4)) {
		wg.Go(p.checkBatches)
	}
	return r.mergeBatches(p)
}

// presize sizes the page map from the used page mask, which says how many
// pages to expect; capped, since a hostile mask may mark them all.
func (r *pageReader) presize() {
	if r.haveMasks && len(r.pages) == 0 {
		n := min(r.pageMask.count(uint64(r.geo.sb.MDLen)), maxPresize)
		r.pages = make(map[uint32]*pageDesc, n)
		r.pageList = make([]*pageDesc, 0, n)
	}
}

// issueBatches hands the batches, in order, to the merge and (those that
// are not holes) to the readers, each with a free buffer.
func (r *pageReader) issueBatches(p *mdPipe) {
	defer close(p.order)
	defer close(p.reads)
	total := uint64(r.geo.sb.MDLen)
	batches := (total + p.per - 1) / p.per
	holes, _ := r.src.(HoleSource)
	for k := uint64(0); k < batches; k++ {
		start := k * p.per
		j := &mdJob{c: checked{start: start, n: min(p.per, total-start)}, res: make(chan checked, 1)}
		j.off = int64(uint64(r.geo.sb.MDStart)+start) * pageSize
		size := int64(j.c.n) * pageSize
		if j.c.err = p.ctx.Err(); j.c.err == nil && holes != nil && holes.IsHole(j.off, size) {
			j.c.hole = true
		} else if j.c.err == nil {
			var buf []byte
			select {
			case buf = <-p.free:
			case <-p.ctx.Done():
				return
			}
			if buf == nil {
				buf = alignedBuf(int(p.per) * pageSize)
			}
			j.buf = buf[:size]
		}
		select {
		case p.order <- j:
		case <-p.ctx.Done():
			return
		}
		if j.buf == nil {
			j.res <- j.c // a hole, or cancelled: nothing to read
			if j.c.err != nil {
				return
			}
			continue
		}
		p.reads <- j // never blocks: at most readDepth buffers are out
	}
}

// readBatches is a reading goroutine: it reads batches into their buffers
// and hands them to the checkers, or a failed one straight to the merge.
func (r *pageReader) readBatches(p *mdPipe) {
	for j := range p.reads {
		if j.c.err = p.ctx.Err(); j.c.err == nil {
			var ended func()
			if p.pool != nil {
				p.pool.startRead()
				ended = p.pool.endRead
			}
			got, err := r.read(p.ctx, j.buf, j.off, ended)
			switch {
			case got == len(j.buf):
			case err == nil || errors.Is(err, io.EOF):
				j.c.err = io.ErrUnexpectedEOF
			default:
				j.c.err = err
			}
		}
		if j.c.err != nil {
			p.free <- j.buf[:cap(j.buf)]
			j.res <- j.c // nothing to check
			continue
		}
		p.work <- j // never blocks: at most readDepth buffers are out
	}
}

// checkBatches is a checker: it keeps what matters of each page of a batch
// and gives the buffer back.
func (p *mdPipe) checkBatches() {
	for j := range p.work {
		for i := uint64(0); i < j.c.n; i++ {
			j.c.check(uint32(j.c.start+i), j.buf[i*pageSize:(i+1)*pageSize])
		}
		p.free <- j.buf[:cap(j.buf)]
		j.res <- j.c
	}
}

// mergeBatches takes the checked batches in read order into the page map.
func (r *pageReader) mergeBatches(p *mdPipe) error {
	total := uint64(r.geo.sb.MDLen)
	for j := range p.order {
		if err := r.ctx.Err(); err != nil {
			return err // no merge, no progress once cancelled
		}
		var c checked
		select {
		case c = <-j.res:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
		if c.err != nil {
			if r.ctx.Err() != nil {
				return r.ctx.Err()
			}
			return fmt.Errorf("read md pages %d..%d: %w: %w", c.start, c.start+c.n-1, ErrRead, c.err)
		}
		r.merge(c)
		if r.onBatch != nil {
			r.onBatch(uint32(c.start + c.n))
		}
		if r.progress != nil {
			r.progress(c.start+c.n, total)
		}
	}
	return r.ctx.Err()
}

func (r *pageReader) merge(c checked) {
	for _, pd := range c.good {
		r.pages[pd.Index] = pd
	}
	r.pageList = append(r.pageList, c.good...)
	for _, e := range c.bad {
		r.bad[e.idx] = e.bp
	}
	if c.hole {
		r.stats.HolePages += c.n
	} else {
		r.stats.BytesRead += c.n * pageSize
		r.stats.PagesRead += c.n
	}
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

// notePage takes a re-read page in place of what the first read saw.
func (r *pageReader) notePage(idx uint32, p []byte) {
	if p[0] == 0 && p[pageSize-1] == 0 && bytes.Equal(p, zeroPage[:]) {
		return
	}
	if pageCRCOK(p) {
		pd := decodePage(idx, p)
		if _, had := r.pages[idx]; !had {
			r.pageList = append(r.pageList, pd)
			r.listSorted = false
		} else {
			for i, q := range r.pageList {
				if q.Index == idx {
					r.pageList[i] = pd
				}
			}
		}
		r.pages[idx] = pd
		delete(r.bad, idx)
		return
	}
	id := leU64(p)
	if id>>32 == 1 {
		r.bad[idx] = badPage{ID: id, Seq: leU32(p[8:]), Next: leU32(p[descAreaEnd:])}
	}
}

// rereadSuspects re-reads, once and one by one, the CRC-failed pages that
// matter (would-be first pages, pages a chain or extent table points at): a
// running target may have been writing them.
func (r *pageReader) rereadSuspects() error {
	buf := alignedBuf(pageSize)
	for _, i := range r.suspects() {
		if err := r.readAt(buf, (int64(r.geo.sb.MDStart)+int64(i))*pageSize); err != nil {
			return fmt.Errorf("re-read md page %d: %w", i, err)
		}
		r.stats.Rereads++
		r.stats.PagesRead++
		if pageCRCOK(buf) {
			r.notePage(i, buf)
		}
	}
	return nil
}

// suspects are the pages rereadSuspects re-reads, ascending.
func (r *pageReader) suspects() []uint32 {
	mdLen := r.geo.sb.MDLen
	want := map[uint32]bool{}
	for idx, b := range r.bad {
		if b.Seq == 0 && b.ID == blobIDOf(idx) {
			want[idx] = true
		}
	}
	missing := func(i uint32) bool {
		_, ok := r.pages[i]
		return !ok && i < mdLen
	}
	for _, pd := range r.pageList {
		if pd.Next != invalidPage && missing(pd.Next) {
			want[pd.Next] = true
		}
		for _, et := range pd.ET {
			for _, ref := range et.Refs {
				if ref.Page != 0 && missing(ref.Page) {
					want[ref.Page] = true
				}
			}
		}
	}
	if r.haveMasks {
		r.blobIDMask.each(uint64(mdLen), func(i uint64) {
			if _, ok := r.pages[uint32(i)]; !ok {
				want[uint32(i)] = true
			}
		})
	}
	idxs := make([]uint32, 0, len(want))
	for i := range want {
		idxs = append(idxs, i)
	}
	sort.Slice(idxs, func(a, b int) bool { return idxs[a] < idxs[b] })
	return idxs
}

// sortedPages is pageList by ascending index.
func (r *pageReader) sortedPages() []*pageDesc {
	if !r.listSorted {
		sort.Slice(r.pageList, func(i, j int) bool { return r.pageList[i].Index < r.pageList[j].Index })
		r.listSorted = true
	}
	return r.pageList
}

// page is the CRC-valid md page i, if there is one.
func (r *pageReader) page(i uint32) (*pageDesc, bool) {
	pd, ok := r.pages[i]
	return pd, ok
}

// isBad says whether md page i looks like an md page but fails its CRC.
func (r *pageReader) isBad(i uint32) bool {
	_, ok := r.bad[i]
	return ok
}

// describePage says what is on md page i, for evidence.
func (r *pageReader) describePage(i uint32) string {
	if pd, ok := r.pages[i]; ok {
		return fmt.Sprintf("page %d: id=%#x seq=%d next=%s crc ok", i, pd.ID, pd.Seq, nextStr(pd.Next))
	}
	if bp, ok := r.bad[i]; ok {
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

// maxEarlyChain bounds the chain pagesBelow follows; longer (or looping)
// chains wait for the end of the read like any other.
const maxEarlyChain = 64

// pagesBelow says whether the chain from p0 and its extent pages are all
// present below h (and the chain is not overlong).
func (r *pageReader) pagesBelow(p0, h uint32) bool {
	cur := p0
	for range maxEarlyChain {
		if cur >= h {
			return false
		}
		pd, ok := r.pages[cur]
		if !ok {
			return false
		}
		for _, et := range pd.ET {
			for _, ref := range et.Refs {
				if ref.Page == 0 {
					continue
				}
				if _, ok := r.pages[ref.Page]; !ok || ref.Page >= h {
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
