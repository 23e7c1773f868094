package scanner

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/stretchr/testify/require"
)

// patchedSource overlays whole-page patches on a read-only base image, so
// that each fuzz input costs a few pages, not a 64 MiB copy.
type patchedSource struct {
	base    memImage
	size    int64
	patches map[int64][]byte // device page -> 4 KiB
}

func (p *patchedSource) Size() int64 { return p.size }

func (p *patchedSource) ReadAt(b []byte, off int64) (int, error) {
	n, err := memImage{b: p.base.b, size: p.size}.ReadAt(b, off)
	for pg := off / pageSize; pg*pageSize < off+int64(n); pg++ {
		data, ok := p.patches[pg]
		if !ok {
			continue
		}
		lo := max(pg*pageSize, off)
		hi := min(pg*pageSize+pageSize, off+int64(n))
		copy(b[lo-off:hi-off], data[lo-pg*pageSize:hi-pg*pageSize])
	}
	return n, err
}

// applyFuzz turns fuzz bytes into a mode and page patches:
//
//	data[0]      mode (auto, clean, recovery) and whether to truncate
//	then records: page u8, flags u8, offset u16, length u8, bytes
//	              flags&1 recomputes the page's CRC after the patch
func applyFuzz(base memImage, data []byte) (*patchedSource, Mode) {
	src := &patchedSource{base: base, size: base.size, patches: map[int64][]byte{}}
	if len(data) == 0 {
		return src, ModeAuto
	}
	mode := []Mode{ModeAuto, ModeClean, ModeRecovery}[data[0]%3]
	if data[0]&0x80 != 0 {
		src.size = int64(data[0]&0x7f) * pageSize * 4
	}
	data = data[1:]
	for len(data) >= 5 {
		pg := int64(data[0]) % 68 // super, masks and md region of basic-1m
		flags := data[1]
		off := int(binary.LittleEndian.Uint16(data[2:])) % pageSize
		n := min(int(data[4]), len(data)-5, pageSize-off)
		patch := data[5 : 5+n]
		data = data[5+n:]
		p, ok := src.patches[pg]
		if !ok {
			p = make([]byte, pageSize)
			if (pg+1)*pageSize <= int64(len(base.b)) {
				copy(p, base.b[pg*pageSize:])
			}
			src.patches[pg] = p
		}
		copy(p[off:], patch)
		if flags&1 != 0 {
			fixCRC(p)
		}
	}
	return src, mode
}

// FuzzScan scans damaged copies of basic-1m: never a panic, never a hang,
// findings always sorted and every blob with a load outcome.
func FuzzScan(f *testing.F) {
	base := fixtureImage(f, "basic-1m")
	le := binary.LittleEndian
	rec := func(page, flags byte, off uint16, b ...byte) []byte {
		r := []byte{page, flags, 0, 0, byte(len(b))}
		le.PutUint16(r[2:], off)
		return append(r, b...)
	}
	f.Add([]byte{0})
	f.Add([]byte{2})
	f.Add([]byte{0x80 | 3})
	f.Add(append([]byte{1}, rec(6, 1, descAreaEnd, 6, 0, 0, 0)...))                                                       // vol-thick next -> 2: loop
	f.Add(append([]byte{2}, rec(5, 1, descAreaEnd, 30, 0, 0, 0)...))                                                      // chain cut
	f.Add(append([]byte{0}, rec(11, 1, 21+4, 5, 0, 0, 0)...))                                                             // snap1 extent page cluster -> 5
	f.Add(append([]byte{0}, rec(0, 1, 0, 'X')...))                                                                        // super signature
	f.Add(append(append([]byte{2}, rec(40, 1, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1)...), rec(5, 1, descAreaEnd, 36, 0, 0, 0)...)) // foreign page
	f.Fuzz(func(t *testing.T, data []byte) {
		src, mode := applyFuzz(base, data)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		timer := time.AfterFunc(20*time.Second, func() { panic(fmt.Sprintf("scan hangs on %x", data)) })
		v, err := Scan(ctx, src, Options{Mode: mode})
		timer.Stop()
		require.NoError(t, err)
		require.NoError(t, ctx.Err(), "scan took too long")
		sorted := append([]finding.Finding{}, v.Findings...)
		finding.Sort(sorted)
		require.Equal(t, sorted, v.Findings)
		for _, b := range v.Blobs {
			require.NotEmpty(t, b.Loads, "blob %#x", b.ID)
		}
		require.NotEmpty(t, v.Lvstore.Loads)
		// One-page batches open (in clean mode) most blobs after the read
		// instead of during it: the view must not change.
		v1, err := Scan(ctx, src, Options{Mode: mode, BatchBytes: pageSize})
		require.NoError(t, err)
		v.Stats, v1.Stats = Stats{}, Stats{}
		require.Equal(t, v, v1)
	})
}
