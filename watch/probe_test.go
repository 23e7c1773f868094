package watch

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/scanner"
)

const testUUID = "5d2b2a4e-0d6e-4a3c-9a51-8f0e2b0c7a11"

// image writes the chain of a blob at first page 3 (md region from page 1)
// with xattrs, and returns the image and where the blob is.
func image(t testing.TB, xattrs []blobstore.Xattr) ([]byte, Blob) {
	t.Helper()
	const first = 3
	b := &blobstore.Blob{ID: blobstore.BlobID(first), Pages: []uint32{first}, Xattrs: xattrs, NumClusters: 1}
	pages, err := blobstore.SerializeBlob(b)
	require.NoError(t, err)
	if len(pages) > 1 {
		b.Pages = append(b.Pages, 7) // spill to a later page
		pages, err = blobstore.SerializeBlob(b)
		require.NoError(t, err)
	}
	chain, _, err := blobstore.EncodeBlob(b)
	require.NoError(t, err)
	img := make([]byte, 16*blobstore.PageSize)
	for _, p := range chain {
		copy(img[(1+int(p.Index))*blobstore.PageSize:], p.Data)
	}
	return img, Blob{LvolUUID: testUUID, BlobID: b.ID, FirstPage: first, MDStart: 1, PageSize: blobstore.PageSize}
}

func uuidXattr(v string) blobstore.Xattr {
	return blobstore.Xattr{Name: blobstore.XattrUUID, Value: append([]byte(v), 0)}
}

func TestProbe(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3000)
	tests := []struct {
		name   string
		xattrs []blobstore.Xattr
		mangle func(img []byte, b *Blob)
		want   Verdict
		bytes  int64
	}{
		{name: "live", xattrs: []blobstore.Xattr{{Name: "name", Value: []byte("vol\x00")}, uuidXattr(testUUID)}, want: VerdictLive, bytes: 4096},
		{name: "uuid on the second page", xattrs: []blobstore.Xattr{{Name: "pad", Value: big}, {Name: "pad2", Value: big}, uuidXattr(testUUID)}, want: VerdictLive, bytes: 8192},
		{name: "zeroed", xattrs: []blobstore.Xattr{uuidXattr(testUUID)}, want: VerdictZeroed, bytes: 4096,
			mangle: func(img []byte, b *Blob) { clear(img[4*blobstore.PageSize : 5*blobstore.PageSize]) }},
		{name: "another uuid", xattrs: []blobstore.Xattr{uuidXattr("00000000-0000-0000-0000-000000000000")}, want: VerdictOther, bytes: 4096},
		{name: "another blob's page", xattrs: []blobstore.Xattr{uuidXattr(testUUID)}, want: VerdictOther, bytes: 4096,
			mangle: func(_ []byte, b *Blob) { b.BlobID++ }},
		{name: "bad crc", xattrs: []blobstore.Xattr{uuidXattr(testUUID)}, want: VerdictOther, bytes: 4096,
			mangle: func(img []byte, _ *Blob) { img[4*blobstore.PageSize+100] ^= 0xff }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, b := image(t, tc.xattrs)
			if tc.mangle != nil {
				tc.mangle(img, &b)
			}
			v, n, err := probe(scanner.BytesSource(img), b)
			require.NoError(t, err)
			require.Equal(t, tc.want, v, v.String())
			require.Equal(t, tc.bytes, n)
		})
	}
}

func TestProbeErrors(t *testing.T) {
	img, b := image(t, []blobstore.Xattr{uuidXattr(testUUID)})
	b.FirstPage = 100 // beyond the image
	_, _, err := probe(scanner.BytesSource(img), b)
	require.Error(t, err)
	b.PageSize = 512
	_, _, err = probe(scanner.BytesSource(img), b)
	require.Error(t, err)
}

// FuzzProbe: whatever the md region holds, probe ends (the chain is
// bounded) without panicking and reads at most maxChain pages.
func FuzzProbe(f *testing.F) {
	img, _ := image(f, []blobstore.Xattr{uuidXattr(testUUID)})
	f.Add(img[4*blobstore.PageSize:5*blobstore.PageSize], uint32(3))
	f.Add(make([]byte, 64), uint32(0))
	f.Fuzz(func(t *testing.T, page []byte, first uint32) {
		img := make([]byte, 16*blobstore.PageSize)
		copy(img[blobstore.PageSize:], page)
		b := Blob{LvolUUID: testUUID, BlobID: blobstore.BlobID(first % 15), FirstPage: first % 15, MDStart: 1, PageSize: blobstore.PageSize}
		_, n, _ := probe(scanner.BytesSource(img), b)
		if n > maxChain*blobstore.PageSize {
			t.Fatal(fmt.Sprintf("read %d bytes", n))
		}
	})
}
