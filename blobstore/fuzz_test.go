package blobstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fuzz inputs are kept small (large seeds make the fuzzer spend its time
// minimizing): the used prefix of a real page, and the page is rebuilt
// around it.

// trimZeros drops trailing zero bytes.
func trimZeros(b []byte) []byte { return bytes.TrimRight(b, "\x00") }

// buildPage makes a 4096-byte page from a header, a descriptor area prefix
// and next; with fixCRC the CRC is right, else it is left 0.
func buildPage(id uint64, seq, next uint32, area []byte, fixCRC bool) []byte {
	b := make([]byte, PageSize)
	le.PutUint64(b, id)
	le.PutUint32(b[8:], seq)
	copy(b[pageHeaderSize:pageNextOffset], area)
	le.PutUint32(b[pageNextOffset:], next)
	if fixCRC {
		le.PutUint32(b[crcOffset:], PageCRC(b))
	}
	return b
}

func FuzzSuperBlock(f *testing.F) {
	for _, name := range []string{"basic-1m", "default-cluster-esnap"} {
		f.Add(append([]byte(nil), trimZeros(loadGz(f, name).data[:crcOffset])...), true)
	}
	f.Add([]byte(Signature), false)
	f.Fuzz(func(t *testing.T, head []byte, fixCRC bool) {
		b := make([]byte, PageSize)
		copy(b[:crcOffset], head)
		if fixCRC {
			le.PutUint32(b[crcOffset:], PageCRC(b))
		}
		sb, err := DecodeSuperBlock(b)
		if err != nil {
			return
		}
		// A super block that decodes re-encodes to its own fields (reserved
		// bytes are not kept) and decodes the same again.
		enc := sb.Encode()
		require.Equal(t, b[:sbMDPageSize+4], enc[:sbMDPageSize+4])
		again, err := DecodeSuperBlock(enc)
		require.NoError(t, err)
		require.Equal(t, sb, again)
		_ = sb.CheckDevice(int64(sb.Size))
	})
}

func FuzzPage(f *testing.F) {
	for _, name := range []string{"basic-1m", "default-cluster-esnap"} {
		fx := loadGz(f, name)
		for idx := uint32(0); idx < 12 && idx < fx.sb.MDLen; idx++ {
			pg := fx.page(f, idx)
			p, _ := DecodePageUnchecked(pg)
			f.Add(p.ID, p.Sequence, p.Next, append([]byte(nil), trimZeros(pg[pageHeaderSize:pageNextOffset])...), true)
		}
	}
	f.Fuzz(func(t *testing.T, id uint64, seq, next uint32, area []byte, fixCRC bool) {
		b := buildPage(id, seq, next, area, fixCRC)
		p, err := DecodePage(b)
		require.NotNil(t, p, "the header is always returned")
		require.Equal(t, id, p.ID)
		if err != nil {
			require.False(t, fixCRC && errors.Is(err, ErrCRC))
			return
		}
		enc, err := EncodePage(p)
		require.NoError(t, err)
		again, err := DecodePage(enc)
		require.NoError(t, err)
		require.Equal(t, p.Descriptors, again.Descriptors)
		_ = p.IsExtentPage()
		// A single page is a chain of one; extent pages are the same page.
		_, _ = ParseBlob([]*Page{p}, func(uint32) (*Page, error) { return DecodePage(b) }, ParseOptions{})
	})
}

func FuzzDescriptors(f *testing.F) {
	for _, name := range []string{"basic-1m", "default-cluster-esnap"} {
		fx := loadGz(f, name)
		for idx := uint32(0); idx < 16 && idx < fx.sb.MDLen; idx++ {
			f.Add(append([]byte(nil), trimZeros(fx.page(f, idx)[pageHeaderSize:pageNextOffset])...))
		}
	}
	f.Add(desc(9, 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := DecodeDescriptors(b)
		if err != nil {
			return
		}
		// Whatever decodes fits a page and decodes back the same.
		enc, err := EncodePage(&Page{Descriptors: ds, Next: InvalidPage})
		require.NoError(t, err)
		again, err := DecodeDescriptors(enc[pageHeaderSize:pageNextOffset])
		require.NoError(t, err)
		require.Equal(t, ds, again)
		n := 0
		for _, d := range ds {
			n += DescriptorSize(d)
		}
		require.True(t, bytes.Equal(enc[pageHeaderSize:pageHeaderSize+n], padTo(b, n)[:n]))
	})
}

func padTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(append([]byte(nil), b...), make([]byte, n-len(b))...)
}

func FuzzMask(f *testing.F) {
	fx := loadGz(f, "basic-1m")
	for _, start := range []uint32{fx.sb.UsedPageMaskStart, fx.sb.UsedClusterMaskStart, fx.sb.UsedBlobIDMaskStart} {
		f.Add(append([]byte(nil), trimZeros(fx.data[int(start)*PageSize:int(start+1)*PageSize])...), uint8(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, typ uint8) {
		m, err := DecodeMask(b, typ%3)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(m.Bits), len(b))
		got, err := DecodeMask(m.Encode(MaskPages(uint64(m.Length))), typ%3)
		require.NoError(t, err)
		require.Equal(t, m, got)
	})
}
