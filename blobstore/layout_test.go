package blobstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLayoutMatchesFixtures: spdk_bs_init's layout for each fixture's device
// size and cluster size is the fixture's super block (clean flag, super
// blob and CRC aside), and its data clusters are what the target reported.
func TestLayoutMatchesFixtures(t *testing.T) {
	for _, name := range allFixtures() {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			l, err := NewLayout(f.sb.Size, LayoutOptions{ClusterSize: f.sb.ClusterSize})
			require.NoError(t, err)
			got := *l.SuperBlock
			got.Clean, got.SuperBlob, got.CRC = f.sb.Clean, f.sb.SuperBlob, f.sb.CRC
			require.Equal(t, *f.sb, got)
			require.NoError(t, got.Geometry())
			require.Equal(t, f.data[:PageSize], got.Encode())

			m := readManifest(t, name)
			raw := readLvstoreTotals(t, name)
			require.Equal(t, raw, l.DataClusters(), "total_data_clusters of %s", m.Lvstores[0].Name)
			require.Equal(t, l.SuperBlock.MDClusters(), l.UsedClusters.Count())
		})
	}
}

func readLvstoreTotals(t *testing.T, name string) uint64 {
	t.Helper()
	m := readManifest(t, name)
	require.Len(t, m.Lvstores, 1)
	return m.Lvstores[0].TotalDataClusters
}

func TestLayoutDefaults(t *testing.T) {
	tests := []struct {
		name                 string
		size                 uint64
		o                    LayoutOptions
		mdStart, mdLen, ucml uint32
		err                  bool
	}{
		{name: "basic 64M/1M", size: 64 << 20, o: LayoutOptions{ClusterSize: 1 << 20}, mdStart: 4, mdLen: 64, ucml: 1},
		{name: "lvs default 128M/4M", size: 128 << 20, mdStart: 4, mdLen: 32, ucml: 1},
		// 40000 md pages: 2-page page and blobid masks; 65536 clusters: 3 pages.
		{name: "big md", size: 64 << 30, o: LayoutOptions{ClusterSize: 1 << 20, MDPages: 40000}, mdStart: 8, mdLen: 40000, ucml: 3},
		{name: "too small", size: 1 << 20, err: true},
		{name: "md too large", size: 8 << 20, o: LayoutOptions{ClusterSize: 1 << 20, MDPages: 5000}, err: true},
		{name: "odd cluster", size: 8 << 20, o: LayoutOptions{ClusterSize: 5000}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLayout(tt.size, tt.o)
			if tt.err {
				require.ErrorIs(t, err, ErrGeometry)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.mdStart, l.SuperBlock.MDStart)
			require.Equal(t, tt.mdLen, l.SuperBlock.MDLen)
			require.Equal(t, tt.ucml, l.SuperBlock.UsedClusterMaskLen)
			require.NoError(t, l.SuperBlock.Geometry())
			require.Equal(t, uint32(0), l.SuperBlock.Clean)
			require.Equal(t, InvalidBlobID, l.SuperBlock.SuperBlob)
		})
	}
	require.Equal(t, uint32(64), LvstoreMDPages(64<<20, 1<<20, DefaultMDPagesPerCluster))
}
