package blobstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// encodeDecode encodes b on consecutive md pages from first (extent pages
// keep their indices), then reads it back with ParseBlob.
func encodeDecode(t *testing.T, b *Blob, first uint32) (*Blob, [][]byte) {
	t.Helper()
	n, err := ChainLength(b)
	require.NoError(t, err)
	b.ID = BlobID(first)
	b.Pages = nil
	for i := 0; i < n; i++ {
		b.Pages = append(b.Pages, first+uint32(i))
	}
	chain, extents, err := EncodeBlob(b)
	require.NoError(t, err)
	store := map[uint32][]byte{}
	var raw [][]byte
	for _, p := range chain {
		store[p.Index] = p.Data
		raw = append(raw, p.Data)
	}
	for _, p := range extents {
		require.NotContains(t, store, p.Index)
		store[p.Index] = p.Data
	}
	var pages []*Page
	for _, idx := range b.Pages {
		p, err := DecodePage(store[idx])
		require.NoError(t, err)
		pages = append(pages, p)
	}
	got, err := ParseBlob(pages, func(idx uint32) (*Page, error) {
		d, ok := store[idx]
		require.True(t, ok, "extent page %d", idx)
		return DecodePage(d)
	}, ParseOptions{})
	require.NoError(t, err)
	return got, raw
}

func TestSerializeRLESplit(t *testing.T) {
	// 1000 fragmented runs with holes: 2000 extents, 8 bytes each, span pages.
	b := &Blob{Invalid: FlagThin, Xattrs: []Xattr{{Name: "name", Value: []byte("frag\x00")}}}
	for i := uint64(0); i < 1000; i++ {
		b.Clusters = append(b.Clusters, Run{Logical: 3 * i, Physical: 100 + 5*i, Count: 2})
	}
	b.NumClusters = 3000 + 7
	got, raw := encodeDecode(t, b, 20)
	// 2000 segments (runs and holes): 502 on the first page, then 508 a page.
	require.Equal(t, 4, len(raw))
	require.Equal(t, b.Clusters, got.Clusters)
	require.Equal(t, b.NumClusters, got.NumClusters)
	require.Equal(t, b.Xattrs, got.Xattrs)
	require.False(t, got.UsesExtentTable)

	pages := decodeAll(t, raw)
	// First page: FLAGS (29) + xattr (9+4+5) + one RLE filling the rest.
	rle := pages[0].Descriptors[2].(*ExtentRLE)
	require.Equal(t, (DescriptorAreaSize-29-18-5)/8, len(rle.Extents))
	for _, p := range pages[1 : len(pages)-1] {
		require.Len(t, p.Descriptors, 1)
		require.Len(t, p.Descriptors[0].(*ExtentRLE).Extents, (DescriptorAreaSize-5)/8)
	}
}

func TestSerializeTableSplit(t *testing.T) {
	// A thin blob with an extent page in every third slot of 3000: the
	// table has 2000 entries and must split over several chain pages.
	b := &Blob{Invalid: FlagThin | FlagExtentTable, UsesExtentTable: true}
	const slots = 3000
	b.NumClusters = slots*ExtentsPerPage - 100
	b.ExtentTableLen = slots
	page := uint32(10000)
	for s := uint64(0); s < slots; s += 3 {
		b.ExtentRefs = append(b.ExtentRefs, ExtentRef{Slot: s, Page: page})
		b.ExtentPages = append(b.ExtentPages, page)
		c := s*ExtentsPerPage + 7
		b.Clusters = append(b.Clusters, Run{Logical: c, Physical: 50 + s, Count: 1})
		page++
	}
	got, raw := encodeDecode(t, b, 1)
	// 2000 entries: 503 on the first page, then 507 a page.
	require.Equal(t, 4, len(raw))
	for i := range b.ExtentRefs {
		b.ExtentRefs[i].ID = b.ID // ParseBlob records the id it found
	}
	require.Equal(t, b.ExtentRefs, got.ExtentRefs)
	require.Equal(t, b.ExtentPages, got.ExtentPages)
	require.Equal(t, b.Clusters, got.Clusters)
	require.Equal(t, b.NumClusters, got.NumClusters)
	require.Equal(t, b.NumClusters, got.TableNumClusters)
	require.True(t, got.UsesExtentTable)
	for _, p := range decodeAll(t, raw) {
		et := p.Descriptors[len(p.Descriptors)-1].(*ExtentTable)
		require.Equal(t, b.NumClusters, et.NumClusters)
	}
}

func TestSerializeEdgeCases(t *testing.T) {
	t.Run("empty table", func(t *testing.T) {
		b := &Blob{UsesExtentTable: true, Invalid: FlagExtentTable}
		got, raw := encodeDecode(t, b, 3)
		require.Equal(t, 1, len(raw))
		require.True(t, got.UsesExtentTable, "an empty blob keeps one EXTENT_TABLE descriptor")
		require.Zero(t, got.NumClusters)
	})
	t.Run("empty rle", func(t *testing.T) {
		got, raw := encodeDecode(t, &Blob{}, 3)
		require.Equal(t, 1, len(raw))
		require.Len(t, decodeAll(t, raw)[0].Descriptors, 1, "only FLAGS")
		require.False(t, got.UsesExtentTable)
	})
	t.Run("xattr spills", func(t *testing.T) {
		b := &Blob{Xattrs: []Xattr{
			{Name: "a", Value: make([]byte, 3000)},
			{Name: "b", Value: make([]byte, 3000)},
			{Name: SnapshotTmpForTest, Value: []byte{1}, Internal: true},
		}}
		got, raw := encodeDecode(t, b, 3)
		require.Equal(t, 2, len(raw))
		require.Equal(t, b.Xattrs, got.Xattrs)
	})
	t.Run("xattr too large", func(t *testing.T) {
		_, err := SerializeBlob(&Blob{Xattrs: []Xattr{{Name: "a", Value: make([]byte, 4070)}}})
		require.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("table tail room", func(t *testing.T) {
		// Leave 13..20 bytes on the first page: SPDK still writes a table
		// descriptor there, with no entries, and continues on the next page.
		val := DescriptorAreaSize - 29 - 9 - 1 - 15
		b := &Blob{Invalid: FlagThin | FlagExtentTable, UsesExtentTable: true, NumClusters: 10 * ExtentsPerPage,
			Xattrs: []Xattr{{Name: "x", Value: make([]byte, val)}}}
		got, raw := encodeDecode(t, b, 3)
		require.Equal(t, 2, len(raw))
		pages := decodeAll(t, raw)
		et := pages[0].Descriptors[2].(*ExtentTable)
		require.Empty(t, et.Entries)
		require.Equal(t, []ExtentTableEntry{{0, 10}}, pages[1].Descriptors[0].(*ExtentTable).Entries)
		require.Equal(t, b.NumClusters, got.NumClusters)
	})
	t.Run("table no room", func(t *testing.T) {
		// Fewer than 13 bytes left: nothing on the first page.
		val := DescriptorAreaSize - 29 - 9 - 1 - 10
		b := &Blob{Invalid: FlagThin | FlagExtentTable, UsesExtentTable: true, NumClusters: 5,
			Xattrs: []Xattr{{Name: "x", Value: make([]byte, val)}}}
		_, raw := encodeDecode(t, b, 3)
		require.Equal(t, 2, len(raw))
		pages := decodeAll(t, raw)
		require.Len(t, pages[0].Descriptors, 2)
	})
	t.Run("bad runs", func(t *testing.T) {
		_, err := SerializeBlob(&Blob{NumClusters: 2, Clusters: []Run{{Logical: 1, Physical: 9, Count: 5}}})
		require.ErrorIs(t, err, ErrDescriptor)
		_, err = SerializeBlob(&Blob{UsesExtentTable: true, NumClusters: 2, ExtentRefs: []ExtentRef{{Slot: 4, Page: 9}}})
		require.ErrorIs(t, err, ErrExtentPage)
	})
}

const SnapshotTmpForTest = XattrSnapshotTmp

func decodeAll(t *testing.T, raw [][]byte) []*Page {
	t.Helper()
	var out []*Page
	for _, b := range raw {
		p, err := DecodePage(b)
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}
