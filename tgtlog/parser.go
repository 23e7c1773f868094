package tgtlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

const (
	// DefaultMaxLine bounds a line when Options.MaxLine is 0. SPDK formats
	// a message into a 1 KiB buffer (lib/log/log.c); collectors add a prefix.
	DefaultMaxLine = 16 << 10
	// MaxText bounds Record.Text.
	MaxText = 1024
	// maxID bounds an identifier taken from a line (uuid, unique id, name,
	// alias): SPDK's names are at most 63 bytes, an alias twice that.
	maxID = 256
	// attribLines and attribDur bound how far back a delete failure looks
	// for the "Lvol <uuid> closed" line of its delete.
	attribLines = 16
	attribDur   = 2 * time.Second
	// holdLines is how long a record waits for a following line that
	// completes it (the uuid after a name collision, the pid after a start).
	holdLines = 4
	// lvstoreLines is how long the lvstore named by a hot-remove line is
	// applied to the unload lines that follow it.
	lvstoreLines = 8
	// maxCloses bounds the remembered "closed" lines.
	maxCloses = 8
	// maxForced bounds the remembered forced removals.
	maxForced = 4096
)

// Options tune a Parser. The zero value is fine.
type Options struct {
	// Location is the zone the timestamps were written in. spdk_tgt prints
	// its local time without a zone; nil means UTC.
	Location *time.Location
	// MaxLine bounds a line in bytes (DefaultMaxLine when 0; at least 64).
	// Longer lines are skipped and counted, never parsed in part.
	MaxLine int
	// Context also emits the context kinds (Kind.Context).
	Context bool
}

// Stats counts what a Parser read.
type Stats struct {
	Lines   int   `json:"lines"`
	Bytes   int64 `json:"bytes"`
	Records int   `json:"records"`
	// Overlong and Binary lines were skipped: longer than MaxLine, or with
	// control bytes or invalid UTF-8 (a log that is not a log).
	Overlong int `json:"overlong,omitempty"`
	Binary   int `json:"binary,omitempty"`
	// Unattributed counts forced removals whose lvol the log does not tell.
	Unattributed int `json:"unattributed,omitempty"`
}

// Parser reads spdk_tgt log lines from a stream and returns the recognised
// ones as records, in line order. Memory stays bounded whatever the input.
type Parser struct {
	r    *bufio.Reader
	loc  *time.Location
	ctx  bool
	st   Stats
	err  error // sticky: io.EOF or a read error
	done bool

	out     []Record // ready
	pending []pend   // waiting for later lines; released in order
	prev    int      // number of the last non-empty line before the current one

	run, pid int
	closes   []closed // recent "Lvol <id> closed" lines, oldest first
	del      *attrib  // the failed delete being logged
	deleting *blobAt  // last "Deleting blob 0x<id>"
	lvs      string   // lvstore named by the last hot-remove line
	lvsLine  int
	forced   map[string]int // lvol id → line of its forced removal, across runs
}

type pend struct {
	rec   Record
	until int // released once line until has been read
}

type closed struct {
	id   string
	line int
	at   time.Time
}

type blobAt struct {
	id   uint64
	line int
}

// attrib is who a failed delete concerns, decided at its first line.
type attrib struct {
	line       int
	id         string
	via        string
	candidates []string
	blobID     uint64
}

// NewParser returns a parser reading r.
func NewParser(r io.Reader, o Options) *Parser {
	n := o.MaxLine
	if n == 0 {
		n = DefaultMaxLine
	}
	n = max(n, 64)
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	return &Parser{r: bufio.NewReaderSize(r, n), loc: loc, ctx: o.Context}
}

// Stats returns the counts so far.
func (p *Parser) Stats() Stats { return p.st }

// Next returns the next record, io.EOF after the last one, or a wrapped
// read error.
func (p *Parser) Next() (Record, error) {
	for len(p.out) == 0 {
		if p.done {
			return Record{}, p.err
		}
		p.step()
	}
	r := p.out[0]
	p.out[0] = Record{}
	p.out = p.out[1:]
	p.st.Records++
	return r, nil
}

// Parse reads all of r. It is for inputs known to be small (tests, one
// log file); a stream of any size should use Next.
func Parse(r io.Reader, o Options) ([]Record, Stats, error) {
	p := NewParser(r, o)
	var out []Record
	for {
		rec, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, p.Stats(), nil
		}
		if err != nil {
			return out, p.Stats(), err
		}
		out = append(out, rec)
	}
}

// step reads one line (or the end) and moves what it settles to p.out.
func (p *Parser) step() {
	b, err := p.r.ReadSlice('\n')
	p.st.Bytes += int64(len(b))
	if errors.Is(err, bufio.ErrBufferFull) {
		// An overlong line: drop all of it, never a part.
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = p.r.ReadSlice('\n')
			p.st.Bytes += int64(len(b))
		}
		p.st.Lines++
		p.st.Overlong++
		p.lineDone(p.st.Lines)
		if err != nil {
			p.finish(err)
		}
		return
	}
	if len(b) > 0 {
		p.st.Lines++
		p.line(p.st.Lines, b)
	}
	if err != nil {
		p.finish(err)
	}
}

func (p *Parser) finish(err error) {
	p.done = true
	if errors.Is(err, io.EOF) {
		p.err = io.EOF
	} else {
		p.err = fmt.Errorf("read spdk_tgt log after line %d: %w", p.st.Lines, err)
	}
	for _, h := range p.pending {
		p.emit(h.rec)
	}
	p.pending = nil
}

func (p *Parser) emit(r Record) {
	if r.Kind.Context() && !p.ctx {
		return
	}
	p.out = append(p.out, r)
}

// lineDone releases the pending records whose wait ends at line n.
func (p *Parser) lineDone(n int) {
	i := 0
	for ; i < len(p.pending) && p.pending[i].until <= n; i++ {
		p.emit(p.pending[i].rec)
	}
	if i > 0 {
		p.pending = append(p.pending[:0], p.pending[i:]...)
	}
}

// add queues r behind any record still waiting, to keep line order; wait
// is how many more lines r may be completed by.
func (p *Parser) add(r Record, wait int) {
	p.pending = append(p.pending, pend{rec: r, until: r.Line + wait})
}

func (p *Parser) line(n int, b []byte) {
	defer func() { p.lineDone(n) }()
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return
	}
	if binary(b) {
		p.st.Binary++
		return
	}
	defer func() { p.prev = n }()
	l := splitLine(b, p.loc)
	if pid, ok := ealPID(l.msg); ok {
		p.pid = pid
		for i := range p.pending {
			if p.pending[i].rec.Kind == TargetStart && p.pending[i].rec.Run == p.run {
				p.pending[i].rec.PID = pid
			}
		}
		return
	}
	r, ok := classify(l)
	if !ok {
		return
	}
	r.Line = n
	if r.Kind == TargetStart {
		p.run++
		p.pid = 0
		p.closes, p.del, p.deleting, p.lvs = nil, nil, nil, ""
	}
	r.Run, r.PID = p.run, p.pid
	wait := 0
	switch {
	case r.Kind == TargetStart:
		wait = holdLines // for the EAL line's pid
	case r.Kind == LvolClosed:
		p.remember(r)
		p.del = nil // a close starts the next delete, if any
	case r.Kind == LvolDeleted:
		id := r.LvolUUID + r.uniqueID()
		p.forget(id)
		p.del = nil
		r.ForcedLine = p.forced[id]
		delete(p.forced, id)
	case r.Kind == LvolLoaded:
		r.ForcedLine = p.forced[r.LvolUUID+r.uniqueID()]
	case r.Kind == DeletingBlob:
		p.deleting = &blobAt{id: r.BlobID, line: n}
	case r.Kind.deleteStep():
		p.attribute(&r)
	case r.Kind == BdevNameExists && r.Alias != "":
		wait = holdLines // for the "Cannot create bdev for lvol <uuid>" after it
	case r.Kind == CannotCreateBdev:
		p.collision(&r)
	case r.Kind == LvstoreHotRemove:
		p.lvs, p.lvsLine = r.Lvstore, n
	case r.Kind == LvstoreUnload || r.Kind == UnloadOpenBlobs || r.Kind == LvstoreUnloaded:
		if p.lvs != "" && n-p.lvsLine <= lvstoreLines {
			r.Lvstore = p.lvs
		}
		if r.Kind == LvstoreUnloaded {
			p.lvs = ""
		}
	}
	p.add(r, wait)
}

// uniqueID is the id a record was classified from when it was no uuid
// (SPDK's "<lvstore uuid>_<blob id>" for an lvol without a uuid xattr).
func (r Record) uniqueID() string {
	if r.LvolUUID == "" && r.LvstoreUUID != "" {
		return r.LvstoreUUID + "_" + strconv.FormatUint(r.BlobID, 10)
	}
	return ""
}

func (p *Parser) remember(r Record) {
	id := r.LvolUUID + r.uniqueID()
	if id == "" {
		return
	}
	p.forget(id)
	if len(p.closes) == maxCloses {
		p.closes = append(p.closes[:0], p.closes[1:]...)
	}
	p.closes = append(p.closes, closed{id: id, line: r.Line, at: r.At})
}

func (p *Parser) forget(id string) {
	if id == "" {
		return
	}
	k := 0
	for _, c := range p.closes {
		if c.id != id {
			p.closes[k] = c
			k++
		}
	}
	p.closes = p.closes[:k]
}

// attribute gives a delete failure its lvol. SPDK's delete closes the lvol
// ("Lvol <uuid> closed"), then asks the blob layer to delete the blob; the
// failure lines that follow name nothing. The lvol is the one closed on the
// line just before the first failure line, or else the only one closed in
// the attribLines/attribDur before it; with several candidates none is
// chosen.
func (p *Parser) attribute(r *Record) {
	if p.del == nil || r.Line-p.del.line > attribLines {
		p.del = p.decide(r)
	}
	a := p.del
	if a.id != "" {
		setID(r, a.id)
	}
	if a.blobID != 0 && r.BlobID == 0 {
		r.BlobID = a.blobID
	}
	r.Via = a.via
	r.Candidates = append([]string(nil), a.candidates...)
	if r.Kind == ForcedRemoval {
		if a.id == "" {
			p.st.Unattributed++
		} else if len(p.forced) < maxForced {
			if p.forced == nil {
				p.forced = map[string]int{}
			}
			p.forced[a.id] = r.Line
		}
		p.forget(a.id)
		p.del = nil
	}
}

func (p *Parser) decide(r *Record) *attrib {
	a := &attrib{line: r.Line}
	if d := p.deleting; d != nil && r.Line-d.line <= attribLines {
		a.blobID = d.id
	}
	var in []closed
	for _, c := range p.closes {
		if r.Line-c.line > attribLines {
			continue
		}
		if !r.At.IsZero() && !c.at.IsZero() && (r.At.Sub(c.at) > attribDur || r.At.Before(c.at)) {
			continue
		}
		in = append(in, c)
	}
	switch {
	case len(in) == 0:
		a.via = "no lvol closed in the lines before"
	case in[len(in)-1].line == p.prev:
		c := in[len(in)-1]
		a.id = c.id
		a.via = fmt.Sprintf("line %d: Lvol %s closed, just before", c.line, c.id)
	case len(in) == 1:
		a.id = in[0].id
		a.via = fmt.Sprintf("line %d: Lvol %s closed, the only lvol closed in the %d lines before", in[0].line, in[0].id, attribLines)
	default:
		for i := len(in) - 1; i >= 0; i-- {
			a.candidates = append(a.candidates, in[i].id)
		}
		a.via = fmt.Sprintf("ambiguous: %d lvols closed in the %d lines before", len(in), attribLines)
	}
	return a
}

// collision completes a "Cannot create bdev for lvol <uuid>" with the alias
// of the "Bdev name <alias> already exists" just before it, and that line
// with the uuid.
func (p *Parser) collision(r *Record) {
	for i := len(p.pending) - 1; i >= 0; i-- {
		h := &p.pending[i].rec
		if h.Kind != BdevNameExists || h.Alias == "" || h.LvolUUID != "" || r.Line-h.Line > holdLines {
			continue
		}
		h.LvolUUID = r.LvolUUID
		h.Via = fmt.Sprintf("line %d: Cannot create bdev for lvol %s", r.Line, r.LvolUUID)
		r.Alias, r.LvolName, r.Lvstore = h.Alias, h.LvolName, h.Lvstore
		r.Via = fmt.Sprintf("line %d: Bdev name %s already exists", h.Line, h.Alias)
		p.pending[i].until = r.Line
		return
	}
}

// ealPID reads the pid from DPDK's "[ DPDK EAL parameters: ...
// --file-prefix=spdk_pid<N> ]" line.
func ealPID(msg []byte) (int, bool) {
	if !bytes.HasPrefix(msg, []byte("[ DPDK EAL parameters:")) {
		return 0, false
	}
	const key = "--file-prefix=spdk_pid"
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return 0, false
	}
	d := msg[i+len(key):]
	k := 0
	for k < len(d) && k < 10 && isDigit(d[k]) {
		k++
	}
	n, err := strconv.Atoi(string(d[:k]))
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// binary reports a line that is not text: control bytes other than tab, or
// invalid UTF-8.
func binary(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return !utf8.Valid(b)
}
