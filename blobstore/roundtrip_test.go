package blobstore

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFixtureRoundTrip: every blob of every fixture, decoded and encoded
// again, gives the same md page bytes, chain pages and extent pages; on
// clean images the super block and masks re-encode identically too.
func TestFixtureRoundTrip(t *testing.T) {
	for _, name := range allFixtures() {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			blobs := scanBlobs(t, f)
			require.NotEmpty(t, blobs)
			var chainPages, extentPages int
			for _, b := range blobs {
				chain, extents, err := EncodeBlob(b)
				require.NoError(t, err, "blob %#x", b.ID)
				for _, p := range chain {
					requirePage(t, f, p, fmt.Sprintf("blob %#x chain", b.ID))
					// The real target loads these images: replay accepts them.
					dp, err := DecodePage(p.Data)
					require.NoError(t, err)
					require.NoError(t, CheckReplay(dp))
				}
				for _, p := range extents {
					requirePage(t, f, p, fmt.Sprintf("blob %#x extent", b.ID))
				}
				chainPages += len(chain)
				extentPages += len(extents)
			}
			t.Logf("%s: %d blobs, %d chain pages, %d extent pages identical", name, len(blobs), chainPages, extentPages)

			require.Equal(t, f.data[:PageSize], f.sb.Encode(), "super block")
			if f.sb.Clean != 1 {
				return
			}
			for _, m := range []struct {
				typ         uint8
				start, plen uint32
			}{
				{MaskUsedPages, f.sb.UsedPageMaskStart, f.sb.UsedPageMaskLen},
				{MaskUsedClusters, f.sb.UsedClusterMaskStart, f.sb.UsedClusterMaskLen},
				{MaskUsedBlobIDs, f.sb.UsedBlobIDMaskStart, f.sb.UsedBlobIDMaskLen},
			} {
				mask, err := ReadMask(f.reader(), f.sb, m.typ)
				require.NoError(t, err)
				raw := f.data[int64(m.start)*PageSize : int64(m.start+m.plen)*PageSize]
				require.Equal(t, raw, mask.Encode(m.plen), "mask %d", m.typ)
			}
		})
	}
}

func requirePage(t *testing.T, f *fixture, p EncodedPage, what string) {
	t.Helper()
	want := f.page(t, p.Index)
	if string(want) == string(p.Data) {
		return
	}
	for i := range want {
		if want[i] != p.Data[i] {
			require.Failf(t, "page differs", "%s page %d: first difference at byte %d (disk %#x, encoded %#x)", what, p.Index, i, want[i], p.Data[i])
		}
	}
}

// The round trip is not vacuous: a changed blob encodes to different bytes,
// and the first page moves when the chain grows.
func TestRoundTripDetectsChanges(t *testing.T) {
	f := loadGz(t, "basic-1m")
	blobs := scanBlobs(t, f)
	var b *Blob
	for _, x := range blobs {
		if n, _ := x.Name(); n == "vol-thick" {
			b = x
		}
	}
	require.NotNil(t, b)
	chain, _, err := EncodeBlob(b)
	require.NoError(t, err)
	require.Equal(t, f.page(t, chain[0].Index), chain[0].Data)

	b.Xattrs = append([]Xattr(nil), b.Xattrs...)
	b.Xattrs[0].Value = append([]byte("x"), b.Xattrs[0].Value[1:]...)
	chain, _, err = EncodeBlob(b)
	require.NoError(t, err)
	require.NotEqual(t, f.page(t, chain[0].Index), chain[0].Data)

	b.Xattrs = append(b.Xattrs, Xattr{Name: "big", Value: make([]byte, 4000)})
	_, _, err = EncodeBlob(b)
	require.ErrorIs(t, err, ErrChain, "needs a second page index")
	n, err := ChainLength(b)
	require.NoError(t, err)
	require.Equal(t, 2, n)
}
