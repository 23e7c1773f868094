package sim

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
)

// TestWriteBlobRoundTrip writes blobs through the codec and reads them back
// with the project's decoder: long chains (xattrs over a page, an extent
// table split over pages), extent page owners, and kept flags.
func TestWriteBlobRoundTrip(t *testing.T) {
	be := blobstoreBackend{}
	g, err := be.Layout(2<<30, 1<<20) // 2048 clusters, 2048 md pages
	require.NoError(t, err)
	require.Equal(t, uint32(4), g.MDStart)
	require.Equal(t, uint64(2048-9), g.DataClusters(), "super, 3 masks and 2048 md pages take 9 clusters")
	img := filepath.Join(t.TempDir(), "d.img")
	dev, err := OpenImage(img, 2<<30)
	require.NoError(t, err)
	defer dev.Close()
	w := be.Writer(dev, g, blobIDOf(0)).(*diskWriter)
	require.Equal(t, Region{Start: 1, Len: 1}, g.PageMask)
	require.NoError(t, w.Format(g, blobIDOf(0)))
	s := newLvstore(g, w)
	s.dirty = true

	tests := []struct {
		name    string
		xattrs  int
		size    uint64 // clusters
		thick   bool
		extra   uint64
		mdro    uint64
		wantMin int // chain pages at least
	}{
		{"small", 3, 8, true, 0, 0, 1},
		{"many-xattrs", 40, 4, false, 0, 0, 2},
		{"wide-thick", 1, 1200, true, 0, 0, 1},
		{"esnap-flags", 2, 4, false, blobstore.FlagExternalSnapshot, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s.newBlob(tc.size)
			require.NoError(t, err)
			b.Thin = !tc.thick
			b.InvalidExtra, b.MDROFlags = tc.extra, tc.mdro
			for i := 0; i < tc.xattrs; i++ {
				b.setXattr(fmt.Sprintf("key-%02d", i), cbytes(strings.Repeat("v", 150)))
			}
			if tc.thick {
				require.NoError(t, s.allocateRange(b, 0, tc.size))
			}
			require.NoError(t, s.sync(b))
			require.GreaterOrEqual(t, len(b.Chain), tc.wantMin)

			sb, err := blobstore.ReadSuperBlock(dev)
			require.NoError(t, err)
			got, err := blobstore.ReadBlob(dev, sb, b.Chain[0], blobstore.ParseOptions{})
			require.NoError(t, err)
			require.Equal(t, b.ID, got.ID)
			require.Equal(t, b.Chain, got.Pages)
			require.Equal(t, tc.size, got.NumClusters)
			back := blobState(got)
			require.Equal(t, b.Clusters, back.Clusters)
			require.Equal(t, b.Xattrs, back.Xattrs)
			require.Equal(t, b.Thin, back.Thin)
			require.Equal(t, tc.extra, back.InvalidExtra)
			require.Equal(t, tc.mdro, back.MDROFlags)
			for i, p := range b.ExtentPages {
				require.Equal(t, p, back.ExtentPages[i], "slot %d", i)
			}
		})
	}
}

// TestChainPagesSplitsExtentTable: an extent table of more entries than
// fit one page is split over chain pages, each part with num_clusters.
func TestChainPagesSplitsExtentTable(t *testing.T) {
	const slots = 1200 // like a 600 GiB thick lvol with 1 MiB clusters
	b := &BlobState{ID: blobIDOf(7), Clusters: make([]uint64, slots*ClustersPerExtentPage)}
	b.ExtentPages = make([]uint32, slots)
	for i := range b.ExtentPages {
		b.ExtentPages[i] = uint32(100 + i)
	}
	b.Xattrs = []Xattr{{"name", fixed("wide", 256)}, {"uuid", cbytes(newUUID())}}
	pages, err := blobstore.SerializeBlob(toBlob(b))
	require.NoError(t, err)
	require.Len(t, pages, 3, "the real 600 GiB thick lvol has a chain of 3 pages")
	var entries int
	for _, p := range pages {
		used := 0
		for _, d := range p.Descriptors {
			used += blobstore.DescriptorSize(d)
			if et, ok := d.(*blobstore.ExtentTable); ok {
				require.Equal(t, uint64(len(b.Clusters)), et.NumClusters)
				entries += len(et.Entries)
			}
		}
		require.LessOrEqual(t, used, blobstore.DescriptorAreaSize)
	}
	require.Equal(t, slots, entries)
	b.ExtentPages = b.ExtentPages[:600] // tags fixture: 300 GiB thick, 2 chain pages
	b.Clusters = b.Clusters[:600*ClustersPerExtentPage]
	pages, err = blobstore.SerializeBlob(toBlob(b))
	require.NoError(t, err)
	require.Len(t, pages, 2)

	// Unallocated slots are run-length encoded.
	b.ExtentPages = []uint32{NoPage, NoPage, 5, NoPage}
	b.Clusters = make([]uint64, 4*ClustersPerExtentPage)
	pages, err = blobstore.SerializeBlob(toBlob(b))
	require.NoError(t, err)
	et := pages[0].Descriptors[len(pages[0].Descriptors)-1].(*blobstore.ExtentTable)
	require.Equal(t, []blobstore.ExtentTableEntry{{PageIdx: 0, NumPages: 2}, {PageIdx: 5, NumPages: 1}, {PageIdx: 0, NumPages: 1}}, et.Entries)
}
