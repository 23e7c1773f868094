package blobstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBlobID(t *testing.T) {
	require.Equal(t, uint64(0x100000007), BlobID(7))
	idx, ok := PageIndex(0x100000007)
	require.True(t, ok)
	require.Equal(t, uint32(7), idx)
	for _, id := range []uint64{7, 0x200000007, InvalidBlobID} {
		_, ok := PageIndex(id)
		require.False(t, ok, "%#x", id)
	}
}

func TestExtentsPerPage(t *testing.T) {
	// SPDK: align64pow2(max+1) >> 1, with max = (4072 - 9) / 4.
	require.Equal(t, 1015, ExtentsPerPageMax)
	p := 1
	for p < ExtentsPerPageMax+1 {
		p <<= 1
	}
	require.Equal(t, ExtentsPerPage, p>>1)
}

func TestDecodeSuperBlockErrors(t *testing.T) {
	good := loadGz(t, "basic-1m").data[:PageSize]
	tests := []struct {
		name   string
		mutate func(sb *SuperBlock)
		raw    func(b []byte)
		want   error
		defect GeometryDefect
	}{
		{name: "ok"},
		{name: "signature", raw: func(b []byte) { b[0] = 'X' }, want: ErrSignature},
		{name: "version", mutate: func(sb *SuperBlock) { sb.Version = 4 }, want: ErrVersion},
		{name: "crc", raw: func(b []byte) { b[200] ^= 1 }, want: ErrCRC},
		{name: "cluster size", mutate: func(sb *SuperBlock) { sb.ClusterSize = 6000 }, defect: DefectClusterSize},
		{name: "cluster size zero", mutate: func(sb *SuperBlock) { sb.ClusterSize = 0 }, defect: DefectClusterSize},
		{name: "overlap", mutate: func(sb *SuperBlock) { sb.MDStart = 3 }, defect: DefectRegionOverlap},
		{name: "page 0", mutate: func(sb *SuperBlock) { sb.UsedPageMaskStart = 0 }, defect: DefectRegionOverlap},
		{name: "outside", mutate: func(sb *SuperBlock) { sb.MDLen = 30000 }, defect: DefectRegionOutside},
		{name: "md empty", mutate: func(sb *SuperBlock) { sb.MDLen = 0 }, defect: DefectRegionOutside},
		{name: "page mask small", mutate: func(sb *SuperBlock) { sb.MDLen = 40000; sb.Size = 1 << 30 }, defect: DefectMaskTooSmall},
		{name: "md too large", mutate: func(sb *SuperBlock) { sb.Size = 80 * PageSize }, defect: DefectMDTooLarge},
		{name: "io unit", mutate: func(sb *SuperBlock) { sb.IOUnitSize = 3000 }, defect: DefectIOUnitSize},
		{name: "md page size", mutate: func(sb *SuperBlock) { sb.MDPageSize = 8192 }, defect: DefectMDPageSize},
		{name: "length", mutate: func(sb *SuperBlock) { sb.Length = 100 }, defect: DefectLength},
		{name: "size", mutate: func(sb *SuperBlock) { sb.Size = 1<<26 + 1 }, defect: DefectSize},
		{name: "super blob", mutate: func(sb *SuperBlock) { sb.SuperBlob = BlobID(64) }, defect: DefectSuperBlob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if tt.mutate != nil {
				sb, err := DecodeSuperBlock(b)
				require.NoError(t, err)
				tt.mutate(sb)
				b = sb.Encode()
			}
			if tt.raw != nil {
				tt.raw(b)
			}
			sb, err := DecodeSuperBlock(b)
			switch {
			case tt.want != nil:
				require.ErrorIs(t, err, tt.want)
				var fe *FormatError
				require.ErrorAs(t, err, &fe)
			case tt.defect != 0:
				require.ErrorIs(t, err, ErrGeometry)
				var ge *GeometryError
				require.ErrorAs(t, err, &ge)
				require.Equal(t, tt.defect, ge.Defect, "%v", err)
				require.NotNil(t, sb)
			default:
				require.NoError(t, err)
				require.Equal(t, good, sb.Encode())
			}
		})
	}
}

func TestCheckDevice(t *testing.T) {
	sb, err := DecodeSuperBlock(loadGz(t, "basic-1m").data[:PageSize])
	require.NoError(t, err)
	require.NoError(t, sb.CheckDevice(64<<20))
	var ge *GeometryError
	require.ErrorAs(t, sb.CheckDevice(32<<20), &ge)
	require.Equal(t, DefectDeviceTooSmall, ge.Defect)
}

// desc builds one raw descriptor.
func desc(typ uint8, body ...byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	le.PutUint32(b[1:], uint32(len(body)))
	return append(b, body...)
}

func TestDecodeDescriptors(t *testing.T) {
	flags := make([]byte, 24)
	flags[0] = 1
	tests := []struct {
		name  string
		area  []byte
		types []uint8
		err   bool
		off   int64
	}{
		{name: "empty", area: nil},
		{name: "flags", area: desc(DescFlags, flags...), types: []uint8{DescFlags}},
		{name: "flags short", area: desc(DescFlags, flags[:16]...), err: true, off: 16},
		{name: "xattr", area: desc(DescXattr, 1, 0, 1, 0, 'a', 'b'), types: []uint8{DescXattr}},
		{name: "xattr length", area: desc(DescXattr, 1, 0, 2, 0, 'a', 'b'), err: true, off: 16},
		{name: "xattr tiny", area: desc(DescXattrInternal, 1), err: true, off: 16},
		{name: "rle", area: desc(DescExtentRLE, 0, 0, 0, 0, 4, 0, 0, 0), types: []uint8{DescExtentRLE}},
		{name: "rle empty", area: desc(DescExtentRLE), err: true, off: 16},
		{name: "rle odd", area: desc(DescExtentRLE, 1, 2, 3, 4), err: true, off: 16},
		{name: "table empty", area: desc(DescExtentTable, 0, 0, 0, 0, 0, 0, 0, 0), types: []uint8{DescExtentTable}},
		{name: "table short", area: desc(DescExtentTable, 0, 0, 0, 0), err: true, off: 16},
		{name: "extent page", area: desc(DescExtentPage, 0, 0, 0, 0, 9, 0, 0, 0), types: []uint8{DescExtentPage}},
		{name: "extent page empty", area: desc(DescExtentPage, 0, 0, 0, 0), err: true, off: 16},
		{name: "padding", area: append(desc(DescPadding, 0, 0), desc(DescFlags, flags...)...), types: []uint8{DescPadding, DescFlags}},
		{name: "unknown skipped", area: append(desc(9, 1, 2, 3), desc(DescFlags, flags...)...), types: []uint8{9, DescFlags}},
		{name: "second bad", area: append(desc(DescFlags, flags...), desc(DescFlags, 1)...), types: []uint8{DescFlags}, err: true, off: 16 + 29},
		{name: "overrun", area: []byte{DescXattr, 0xff, 0xff, 0, 0}, err: true, off: 16},
		{name: "terminator", area: append(desc(DescPadding), desc(DescFlags, flags...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			area := make([]byte, DescriptorAreaSize)
			copy(area, tt.area)
			ds, err := DecodeDescriptors(area)
			var types []uint8
			for _, d := range ds {
				types = append(types, d.DescType())
			}
			require.Equal(t, tt.types, types)
			if !tt.err {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrDescriptor)
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.off, fe.Offset)
		})
	}
}

func TestDecodePageCRC(t *testing.T) {
	f := loadGz(t, "basic-1m")
	b := append([]byte(nil), f.page(t, 0)...)
	p, err := DecodePage(b)
	require.NoError(t, err)
	require.Equal(t, BlobID(0), p.ID)
	b[100] ^= 0xff
	bad, err := DecodePage(b)
	require.ErrorIs(t, err, ErrCRC)
	require.NotNil(t, bad, "header of a bad page is kept")
	require.Equal(t, p.ID, bad.ID)
	require.Equal(t, p.Next, bad.Next)
	require.Nil(t, bad.Descriptors)

	_, err = ReadPage(f.reader(), f.sb, f.sb.MDLen)
	require.ErrorIs(t, err, ErrChain)
	_, err = DecodePage(b[:100])
	require.ErrorIs(t, err, ErrTruncated)
}

func TestReadChainLoop(t *testing.T) {
	f := loadGz(t, "basic-1m")
	data := append([]byte(nil), f.data...)
	// Point the super blob's page at itself.
	off := f.sb.MDPageOffset(0)
	pg := data[off : off+PageSize]
	le.PutUint32(pg[pageNextOffset:], 0)
	le.PutUint32(pg[crcOffset:], PageCRC(pg))
	fx := &fixture{name: "loop", data: data, sb: f.sb}
	_, err := ReadBlob(fx.reader(), f.sb, 0, ParseOptions{})
	require.ErrorIs(t, err, ErrChain)
}

func TestParseBlobChecks(t *testing.T) {
	flags := &Flags{Invalid: FlagThin}
	mk := func(id uint64, seq, next uint32, ds ...Descriptor) *Page {
		return &Page{ID: id, Sequence: seq, Next: next, Descriptors: ds}
	}
	id := BlobID(3)
	tests := []struct {
		name  string
		chain []*Page
		want  error
	}{
		{"ok", []*Page{mk(id, 0, 9, flags), mk(id, 1, InvalidPage)}, nil},
		{"foreign page", []*Page{mk(id, 0, 9, flags), mk(BlobID(9), 0, InvalidPage)}, ErrForeignPage},
		{"sequence", []*Page{mk(id, 0, 9, flags), mk(id, 2, InvalidPage)}, ErrSequence},
		{"first seq", []*Page{mk(id, 1, InvalidPage)}, ErrSequence},
		{"not an id", []*Page{mk(3, 0, InvalidPage)}, ErrIDMismatch},
		{"unknown invalid flag", []*Page{mk(id, 0, InvalidPage, &Flags{Invalid: 16})}, ErrUnknownFlags},
		{"ends early", []*Page{mk(id, 0, InvalidPage, flags), mk(id, 1, InvalidPage)}, ErrChain},
		{"runs on", []*Page{mk(id, 0, 7, flags)}, ErrChain},
		{"thick hole", []*Page{mk(id, 0, InvalidPage, &Flags{}, &ExtentRLE{[]Extent{{0, 2}}})}, ErrDescriptor},
		{"rle then table", []*Page{mk(id, 0, InvalidPage, flags, &ExtentRLE{[]Extent{{5, 2}}}, &ExtentTable{})}, ErrDescriptor},
		{"table mismatch", []*Page{mk(id, 0, InvalidPage, flags, &ExtentTable{NumClusters: 3}, &ExtentTable{NumClusters: 4})}, ErrDescriptor},
		{"extent page missing", []*Page{mk(id, 0, InvalidPage, flags, &ExtentTable{NumClusters: 3, Entries: []ExtentTableEntry{{7, 1}}})}, ErrExtentPage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBlob(tt.chain, nil, ParseOptions{})
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
		})
	}
}

// A thin blob of 2^40 clusters costs nothing: clusters are runs.
func TestParseBlobHugeThin(t *testing.T) {
	id := BlobID(1)
	huge := uint64(1) << 40
	p := &Page{ID: id, Next: InvalidPage, Descriptors: []Descriptor{
		&Flags{Invalid: FlagThin | FlagExtentTable},
		&ExtentTable{NumClusters: huge, Entries: []ExtentTableEntry{{0, 1 << 31}}},
	}}
	b, err := ParseBlob([]*Page{p}, nil, ParseOptions{})
	require.NoError(t, err)
	require.Equal(t, huge, b.NumClusters)
	require.Empty(t, b.Clusters)
	require.Equal(t, uint64(0), b.Cluster(12345))
}

func TestParseBlobClusterUsed(t *testing.T) {
	p := &Page{ID: BlobID(1), Next: InvalidPage, Descriptors: []Descriptor{
		&Flags{}, &ExtentRLE{[]Extent{{5, 3}}},
	}}
	b, err := ParseBlob([]*Page{p}, nil, ParseOptions{ClusterUsed: func(c uint32) bool { return c != 6 }})
	require.ErrorIs(t, err, ErrDescriptor)
	require.NotNil(t, b)
	b, err = ParseBlob([]*Page{p}, nil, ParseOptions{})
	require.NoError(t, err)
	require.Equal(t, []Run{{0, 5, 3}}, b.Runs())
	require.Equal(t, uint64(6), b.Cluster(1))
	require.Equal(t, uint64(0), b.Cluster(3))
}

func TestMask(t *testing.T) {
	m := NewMask(MaskUsedClusters, 20)
	m.Set(0)
	m.Set(19)
	m.Set(20) // out of range: ignored
	require.True(t, m.Test(19))
	require.False(t, m.Test(20))
	require.Equal(t, uint64(2), m.Count())
	m.Clear(0)
	require.Equal(t, uint64(1), m.Count())
	enc := m.Encode(1)
	require.Len(t, enc, PageSize)
	got, err := DecodeMask(enc, MaskUsedClusters)
	require.NoError(t, err)
	require.Equal(t, m, got)
	_, err = DecodeMask(enc, MaskUsedPages)
	require.ErrorIs(t, err, ErrMask)
	le.PutUint32(enc[1:], 1<<31)
	_, err = DecodeMask(enc, MaskUsedClusters)
	require.ErrorIs(t, err, ErrMask)
	_, err = DecodeMask(enc[:3], MaskUsedClusters)
	require.True(t, errors.Is(err, ErrTruncated))
}

func TestCheckReplay(t *testing.T) {
	tests := []struct {
		name string
		ds   []Descriptor
		bad  bool
	}{
		{"clean", []Descriptor{&Flags{}, &Xattr{Name: "a"}, &ExtentRLE{[]Extent{{0, 3}}}}, false},
		{"unknown type", []Descriptor{&Flags{}, &Unknown{Type: 9}}, true},
		{"empty rle", []Descriptor{&ExtentRLE{[]Extent{{5, 0}}}}, true},
		{"table multi page", []Descriptor{&ExtentTable{Entries: []ExtentTableEntry{{7, 2}}}}, true},
		{"table hole", []Descriptor{&ExtentTable{Entries: []ExtentTableEntry{{0, 9}, {7, 1}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckReplay(&Page{Descriptors: tt.ds})
			if tt.bad {
				require.ErrorIs(t, err, ErrReplay)
			} else {
				require.NoError(t, err)
			}
		})
	}
	p := &Page{ID: BlobID(4), Sequence: 0}
	require.True(t, p.StartsBlob(4))
	require.False(t, p.StartsBlob(5))
	p.Sequence = 1
	require.False(t, p.StartsBlob(4))
}

func TestParseBlobUnknownFlagsKeepsName(t *testing.T) {
	p := &Page{ID: BlobID(2), Next: InvalidPage, Descriptors: []Descriptor{
		&Flags{Invalid: FlagThin | 1<<9, MDRO: 1 << 5},
		&Xattr{Name: XattrName, Value: []byte("vol\x00")},
	}}
	b, err := ParseBlob([]*Page{p}, nil, ParseOptions{})
	require.ErrorIs(t, err, ErrUnknownFlags)
	require.ErrorIs(t, err, ErrDescriptor)
	n, ok := b.Name()
	require.True(t, ok)
	require.Equal(t, "vol", n)
	require.Equal(t, uint64(1<<9), b.UnknownInvalidFlags())
	require.True(t, b.MDReadOnly())
	require.False(t, b.ReadOnly())
}

func TestReadBlobIDMismatch(t *testing.T) {
	f := loadGz(t, "basic-1m")
	data := append([]byte(nil), f.data...)
	off := f.sb.MDPageOffset(0)
	pg := data[off : off+PageSize]
	le.PutUint64(pg, BlobID(1))
	le.PutUint32(pg[crcOffset:], PageCRC(pg))
	fx := &fixture{name: "idmismatch", data: data, sb: f.sb}
	_, err := ReadBlob(fx.reader(), f.sb, 0, ParseOptions{})
	require.ErrorIs(t, err, ErrIDMismatch)
}

func TestReadMaskChecks(t *testing.T) {
	f := loadGz(t, "basic-1m")
	tests := []struct {
		name   string
		kind   uint8
		length uint32
		typ    uint8
		ok     bool
	}{
		{"pages ok", MaskUsedPages, 64, MaskUsedPages, true},
		{"pages short", MaskUsedPages, 63, MaskUsedPages, false},
		{"pages huge", MaskUsedPages, 1 << 31, MaskUsedPages, false},
		{"wrong type", MaskUsedBlobIDs, 64, MaskUsedPages, false},
		{"clusters longer is cut", MaskUsedClusters, 70, MaskUsedClusters, true},
		{"clusters short", MaskUsedClusters, 60, MaskUsedClusters, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := append([]byte(nil), f.data...)
			var start uint32
			switch tt.kind {
			case MaskUsedPages:
				start = f.sb.UsedPageMaskStart
			case MaskUsedClusters:
				start = f.sb.UsedClusterMaskStart
			default:
				start = f.sb.UsedBlobIDMaskStart
			}
			data[start*PageSize] = tt.typ
			le.PutUint32(data[start*PageSize+1:], tt.length)
			m, err := ReadMask(bytes.NewReader(data), f.sb, tt.kind)
			if !tt.ok {
				require.ErrorIs(t, err, ErrMask)
				return
			}
			require.NoError(t, err)
			require.NoError(t, CheckMask(f.sb, m))
			require.LessOrEqual(t, uint64(m.Length), f.sb.TotalClusters()+64)
		})
	}
	_, err := ReadMask(f.reader(), f.sb, 7)
	require.ErrorIs(t, err, ErrMask)
}

// The descriptors of one area share allocations (descArena): growing one
// decoded value or list must not write into its neighbour's.
func TestDecodeDescriptorsPiecesAreApart(t *testing.T) {
	xattr := func(name, value string) []byte {
		b := []byte{byte(len(name)), 0, byte(len(value)), 0}
		return desc(DescXattr, append(append(b, name...), value...)...)
	}
	table := func(entries ...uint32) []byte {
		b := make([]byte, 8, 8+4*len(entries))
		for _, e := range entries {
			b = le.AppendUint32(b, e)
		}
		return desc(DescExtentTable, b...)
	}
	area := append(append(append(xattr("a", "one"), xattr("b", "two")...), table(5, 1)...), table(7, 1)...)
	ds, err := DecodeDescriptors(area)
	require.NoError(t, err)
	require.Len(t, ds, 4)
	x0, x1 := ds[0].(*Xattr), ds[1].(*Xattr)
	t0, t1 := ds[2].(*ExtentTable), ds[3].(*ExtentTable)
	x0.Value = append(x0.Value, "zzz"...)
	t0.Entries = append(t0.Entries, ExtentTableEntry{PageIdx: 99, NumPages: 1})
	require.Equal(t, "two", string(x1.Value))
	require.Equal(t, []ExtentTableEntry{{PageIdx: 7, NumPages: 1}}, t1.Entries)
	*x0 = Xattr{}
	require.Equal(t, "b", x1.Name, "each descriptor is its own")
}
