package blobstore

// Page is a decoded md page: a chain page of a blob, or an extent page.
type Page struct {
	ID          uint64
	Sequence    uint32
	Reserved    uint32 // SPDK writes 0; kept so pages re-encode as read
	Next        uint32 // md page index of the next chain page, InvalidPage at the end
	CRC         uint32 // as stored
	Descriptors []Descriptor
}

// Descriptor is one decoded descriptor. The concrete types are *Flags,
// *Xattr (XATTR and XATTR_INTERNAL), *ExtentRLE, *ExtentTable, *ExtentPage,
// *Padding and *Unknown.
type Descriptor interface {
	DescType() uint8
	// bodyLen is the on-disk length field this descriptor encodes to.
	bodyLen() int
	put(b []byte)
}

// Flags is the FLAGS descriptor.
type Flags struct{ Invalid, DataRO, MDRO uint64 }

// Xattr is an XATTR (user) or XATTR_INTERNAL descriptor, and a blob's xattr.
type Xattr struct {
	Name     string
	Value    []byte
	Internal bool
}

// Extent is one EXTENT_RLE entry: Length clusters from ClusterIdx on the
// device, or Length unallocated clusters when ClusterIdx is 0.
type Extent struct{ ClusterIdx, Length uint32 }

// ExtentRLE is the EXTENT_RLE descriptor.
type ExtentRLE struct{ Extents []Extent }

// ExtentTableEntry is one EXTENT_TABLE entry: an extent page (NumPages 1),
// or NumPages unallocated extent pages when PageIdx is 0.
type ExtentTableEntry struct{ PageIdx, NumPages uint32 }

// ExtentTable is the EXTENT_TABLE descriptor; NumClusters is the blob's
// cluster count, repeated in every part of a split table.
type ExtentTable struct {
	NumClusters uint64
	Entries     []ExtentTableEntry
}

// ExtentPage is the EXTENT_PAGE descriptor: device cluster indices (0 =
// unallocated) of the blob's clusters from StartCluster on.
type ExtentPage struct {
	StartCluster uint32
	Clusters     []uint32
}

// Padding is a type-0 descriptor with a non-zero length (skipped by SPDK).
type Padding struct{ Body []byte }

// Unknown is a descriptor type SPDK does not know: blob_parse_page skips it,
// the dirty-load replay rejects it.
type Unknown struct {
	Type uint8
	Body []byte
}

func (*Flags) DescType() uint8 { return DescFlags }
func (x *Xattr) DescType() uint8 {
	if x.Internal {
		return DescXattrInternal
	}
	return DescXattr
}
func (*ExtentRLE) DescType() uint8   { return DescExtentRLE }
func (*ExtentTable) DescType() uint8 { return DescExtentTable }
func (*ExtentPage) DescType() uint8  { return DescExtentPage }
func (*Padding) DescType() uint8     { return DescPadding }
func (u *Unknown) DescType() uint8   { return u.Type }

func (*Flags) bodyLen() int         { return 24 }
func (x *Xattr) bodyLen() int       { return 4 + len(x.Name) + len(x.Value) }
func (e *ExtentRLE) bodyLen() int   { return 8 * len(e.Extents) }
func (t *ExtentTable) bodyLen() int { return 8 + 8*len(t.Entries) }
func (p *ExtentPage) bodyLen() int  { return 4 + 4*len(p.Clusters) }
func (p *Padding) bodyLen() int     { return len(p.Body) }
func (u *Unknown) bodyLen() int     { return len(u.Body) }

func (f *Flags) put(b []byte) {
	le.PutUint64(b, f.Invalid)
	le.PutUint64(b[8:], f.DataRO)
	le.PutUint64(b[16:], f.MDRO)
}
func (x *Xattr) put(b []byte) {
	le.PutUint16(b, uint16(len(x.Name)))
	le.PutUint16(b[2:], uint16(len(x.Value)))
	n := copy(b[4:], x.Name)
	copy(b[4+n:], x.Value)
}
func (e *ExtentRLE) put(b []byte) {
	for i, x := range e.Extents {
		le.PutUint32(b[8*i:], x.ClusterIdx)
		le.PutUint32(b[8*i+4:], x.Length)
	}
}
func (t *ExtentTable) put(b []byte) {
	le.PutUint64(b, t.NumClusters)
	for i, x := range t.Entries {
		le.PutUint32(b[8+8*i:], x.PageIdx)
		le.PutUint32(b[12+8*i:], x.NumPages)
	}
}
func (p *ExtentPage) put(b []byte) {
	le.PutUint32(b, p.StartCluster)
	for i, c := range p.Clusters {
		le.PutUint32(b[4+4*i:], c)
	}
}
func (p *Padding) put(b []byte) { copy(b, p.Body) }
func (u *Unknown) put(b []byte) { copy(b, u.Body) }

// DescriptorSize is the on-disk size of d, header included.
func DescriptorSize(d Descriptor) int { return descHeaderSize + d.bodyLen() }

// PageHeader reads id, sequence, next and stored crc of a page without any
// check, for diagnostics of a page that fails its CRC.
func PageHeader(b []byte) (id uint64, seq, next, crc uint32, err error) {
	if len(b) < PageSize {
		return 0, 0, 0, 0, formatErr(ErrTruncated, -1, 0, "page needs %d bytes, have %d", PageSize, len(b))
	}
	return le.Uint64(b), le.Uint32(b[8:]), le.Uint32(b[pageNextOffset:]), le.Uint32(b[crcOffset:]), nil
}

// DecodePage decodes one md page. On a CRC mismatch it returns the page with
// its header (ID, Sequence, Next, CRC) filled and no descriptors, and an
// error wrapping ErrCRC; on a descriptor error, the header, the descriptors
// before the bad one, and a *FormatError wrapping ErrDescriptor. Page in
// the error is -1: callers that know the index set it (ReadPage does).
func DecodePage(b []byte) (*Page, error) {
	p, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	if got := PageCRC(b); got != p.CRC {
		return p, formatErr(ErrCRC, -1, crcOffset, "stored %#08x, computed %#08x", p.CRC, got)
	}
	p.Descriptors, err = DecodeDescriptors(b[pageHeaderSize : pageHeaderSize+DescriptorAreaSize])
	return p, err
}

// DecodePageUnchecked is DecodePage without the CRC check, for forensics.
func DecodePageUnchecked(b []byte) (*Page, error) {
	p, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	p.Descriptors, err = DecodeDescriptors(b[pageHeaderSize : pageHeaderSize+DescriptorAreaSize])
	return p, err
}

func decodeHeader(b []byte) (*Page, error) {
	id, seq, next, crc, err := PageHeader(b)
	if err != nil {
		return nil, err
	}
	return &Page{ID: id, Sequence: seq, Reserved: le.Uint32(b[12:]), Next: next, CRC: crc}, nil
}

// DecodeDescriptors decodes a descriptor area (the 4072 bytes after the page
// header; a shorter slice is read as if zero-padded). It walks as SPDK's
// blob_parse_page does: type 0 with length 0 ends the area, as does fewer
// than 5 bytes left. A descriptor that overruns the area or whose length
// does not fit its type is a *FormatError (ErrDescriptor) with the offset
// inside the page; the descriptors before it are returned with the error.
func DecodeDescriptors(b []byte) ([]Descriptor, error) {
	if len(b) > DescriptorAreaSize {
		b = b[:DescriptorAreaSize]
	}
	a := newDescArena(b)
	var out []Descriptor
	err := walkDescriptors(b, func(typ uint8, body []byte, off int64) *FormatError {
		d, err := decodeDescriptor(typ, body, a)
		if err != nil {
			err.Offset = off
			return err
		}
		if out == nil {
			out = make([]Descriptor, 0, a.n)
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return out, err
	}
	return out, nil
}

// walkDescriptors calls fn with each descriptor of the area b (type, body,
// offset in the page) as SPDK's blob_parse_page walks them, and stops at
// the first error, its own (an overrun) or fn's.
func walkDescriptors(b []byte, fn func(typ uint8, body []byte, off int64) *FormatError) *FormatError {
	cur := 0
	for cur+descHeaderSize <= len(b) {
		typ := b[cur]
		length := le.Uint32(b[cur+1:])
		off := int64(pageHeaderSize + cur)
		if typ == DescPadding && length == 0 {
			break
		}
		if uint64(length) > uint64(len(b)-cur-descHeaderSize) {
			return formatErr(ErrDescriptor, -1, off, "descriptor type %d length %d overruns the page", typ, length)
		}
		if err := fn(typ, b[cur+descHeaderSize:cur+descHeaderSize+int(length)], off); err != nil {
			return err
		}
		cur += descHeaderSize + int(length)
	}
	return nil
}

// descArena holds, for one descriptor area, the FLAGS, XATTR and
// EXTENT_TABLE descriptors and their variable parts in one allocation per
// kind, sized by a first walk: a blob's first page otherwise costs a dozen
// small allocations, and a scan decodes one per lvol. Each piece is handed
// out with its capacity cut to its length, so that no append reaches into
// its neighbour.
type descArena struct {
	n       int // descriptors
	flags   []Flags
	xattrs  []Xattr
	values  []byte
	tables  []ExtentTable
	entries []ExtentTableEntry
}

func newDescArena(b []byte) *descArena {
	a := &descArena{}
	var nf, nx, nv, nt, ne int
	walkDescriptors(b, func(typ uint8, body []byte, _ int64) *FormatError {
		a.n++
		switch typ {
		case DescFlags:
			nf++
		case DescXattr, DescXattrInternal:
			nx++
			nv += len(body)
		case DescExtentTable:
			nt++
			ne += len(body) / 8
		}
		return nil
	})
	if nf > 0 {
		a.flags = make([]Flags, nf)
	}
	if nx > 0 {
		a.xattrs = make([]Xattr, nx)
		a.values = make([]byte, nv)
	}
	if nt > 0 {
		a.tables = make([]ExtentTable, nt)
		a.entries = make([]ExtentTableEntry, ne)
	}
	return a
}

// take returns the next element of *s, or a new one when it is used up.
func take[T any](s *[]T) *T {
	if len(*s) == 0 {
		return new(T)
	}
	x := &(*s)[0]
	*s = (*s)[1:]
	return x
}

// takeN returns the next n elements of *s, or new ones.
func takeN[T any](s *[]T, n int) []T {
	if len(*s) < n || n == 0 {
		return make([]T, n)
	}
	x := (*s)[:n:n]
	*s = (*s)[n:]
	return x
}

// decodeDescriptor decodes one descriptor body; the FLAGS, XATTR and
// EXTENT_TABLE ones come from a.
func decodeDescriptor(typ uint8, body []byte, a *descArena) (Descriptor, *FormatError) {
	n := len(body)
	bad := func(format string, args ...any) (Descriptor, *FormatError) {
		return nil, formatErr(ErrDescriptor, -1, -1, format, args...)
	}
	switch typ {
	case DescPadding:
		return &Padding{Body: append([]byte(nil), body...)}, nil
	case DescFlags:
		if n != 24 {
			return bad("FLAGS length %d, want 24", n)
		}
		f := take(&a.flags)
		*f = Flags{Invalid: le.Uint64(body), DataRO: le.Uint64(body[8:]), MDRO: le.Uint64(body[16:])}
		return f, nil
	case DescXattr, DescXattrInternal:
		if n < 4 {
			return bad("XATTR length %d, below 4", n)
		}
		nl, vl := int(le.Uint16(body)), int(le.Uint16(body[2:]))
		if n != 4+nl+vl {
			return bad("XATTR length %d, name %d + value %d + 4", n, nl, vl)
		}
		x := take(&a.xattrs)
		x.Name, x.Internal = xattrName(body[4:4+nl]), typ == DescXattrInternal
		if vl > 0 { // an empty value stays nil
			x.Value = takeN(&a.values, vl)
			copy(x.Value, body[4+nl:])
		}
		return x, nil
	case DescExtentRLE:
		if n == 0 || n%8 != 0 {
			return bad("EXTENT_RLE length %d, want a positive multiple of 8", n)
		}
		e := &ExtentRLE{Extents: make([]Extent, n/8)}
		for i := range e.Extents {
			e.Extents[i] = Extent{ClusterIdx: le.Uint32(body[8*i:]), Length: le.Uint32(body[8*i+4:])}
		}
		return e, nil
	case DescExtentTable:
		if n < 8 || n%8 != 0 {
			return bad("EXTENT_TABLE length %d, want 8 + a multiple of 8", n)
		}
		t := take(&a.tables)
		t.NumClusters, t.Entries = le.Uint64(body), takeN(&a.entries, (n-8)/8)
		for i := range t.Entries {
			t.Entries[i] = ExtentTableEntry{PageIdx: le.Uint32(body[8+8*i:]), NumPages: le.Uint32(body[12+8*i:])}
		}
		return t, nil
	case DescExtentPage:
		if n <= 4 || (n-4)%4 != 0 {
			return bad("EXTENT_PAGE length %d, want 4 + a positive multiple of 4", n)
		}
		p := &ExtentPage{StartCluster: le.Uint32(body), Clusters: make([]uint32, (n-4)/4)}
		for i := range p.Clusters {
			p.Clusters[i] = le.Uint32(body[4+4*i:])
		}
		return p, nil
	default:
		return &Unknown{Type: typ, Body: append([]byte(nil), body...)}, nil
	}
}

// xattrName is string(b), without an allocation for the names SPDK's lvol
// layer writes on every blob.
func xattrName(b []byte) string {
	switch string(b) { // compared without a conversion
	case "name":
		return "name"
	case "uuid":
		return "uuid"
	case "SNAP":
		return "SNAP"
	case "EXTSNAP":
		return "EXTSNAP"
	}
	return string(b)
}

// EncodePage returns the 4096 bytes of p: header, descriptors back to back,
// zeros, next, and a freshly computed CRC (p.CRC is ignored). Descriptors
// that do not fit are an error wrapping ErrTooLarge.
func EncodePage(p *Page) ([]byte, error) {
	b := make([]byte, PageSize)
	le.PutUint64(b, p.ID)
	le.PutUint32(b[8:], p.Sequence)
	le.PutUint32(b[12:], p.Reserved)
	cur := pageHeaderSize
	for i, d := range p.Descriptors {
		n := d.bodyLen()
		if cur+descHeaderSize+n > pageHeaderSize+DescriptorAreaSize {
			return nil, formatErr(ErrTooLarge, -1, int64(cur), "descriptor %d (type %d, %d bytes) does not fit", i, d.DescType(), n)
		}
		if x, ok := d.(*Xattr); ok && (len(x.Name) > 0xFFFF || len(x.Value) > 0xFFFF) {
			return nil, formatErr(ErrTooLarge, -1, int64(cur), "xattr %q: name or value over 65535 bytes", x.Name)
		}
		b[cur] = d.DescType()
		le.PutUint32(b[cur+1:], uint32(n))
		d.put(b[cur+descHeaderSize : cur+descHeaderSize+n])
		cur += descHeaderSize + n
	}
	le.PutUint32(b[pageNextOffset:], p.Next)
	le.PutUint32(b[crcOffset:], PageCRC(b))
	return b, nil
}

// IsExtentPage reports whether p passes SPDK's extent page check
// (bs_load_cur_extent_page_valid, CRC aside): sequence 0, and one
// EXTENT_PAGE descriptor as its only descriptor. Recovery uses it to tell
// extent pages from chain pages.
func (p *Page) IsExtentPage() bool {
	if p.Sequence != 0 || len(p.Descriptors) == 0 {
		return false
	}
	if _, ok := p.Descriptors[0].(*ExtentPage); !ok {
		return false
	}
	// SPDK only looks at the length field of what follows the first one.
	return len(p.Descriptors) == 1 || p.Descriptors[1].bodyLen() == 0
}

// ExtentPageDesc returns the EXTENT_PAGE descriptor of an extent page.
func (p *Page) ExtentPageDesc() (*ExtentPage, bool) {
	if !p.IsExtentPage() {
		return nil, false
	}
	ep, ok := p.Descriptors[0].(*ExtentPage)
	return ep, ok
}
