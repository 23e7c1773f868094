package scanner

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBatchPool(t *testing.T) {
	for _, c := range []struct {
		name    string
		n, size int
		huge    bool // the buffers start on a huge page boundary
	}{
		{"one page", 1, pageSize, false},
		{"small batches", 4, 4 * pageSize, false},
		{"1 MiB batches", 4, 1 << 20, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newBatchPool(c.n, c.size)
			require.NotNil(t, p)
			require.Len(t, p.bufs, c.n)
			for i, b := range p.bufs {
				require.Len(t, b, c.size)
				require.Equal(t, c.size, cap(b), "a buffer cannot grow into the next")
				require.True(t, isAligned(b), "O_DIRECT wants aligned buffers")
				if c.huge {
					require.Zero(t, (addrOf(b)-addrOf(p.bufs[0]))%uintptr(c.size))
					require.Zero(t, addrOf(p.bufs[0])%hugePage)
				}
				b[0], b[len(b)-1] = byte(i), byte(i) // writable, end to end
			}
			// A read still running keeps the mapping past release.
			p.startRead()
			p.release()
			require.NotNil(t, p.mem, "unmapped under a running read")
			p.endRead()
			require.Nil(t, p.mem, "the last read to end unmaps")
		})
	}
	t.Run("release without reads unmaps at once", func(t *testing.T) {
		p := newBatchPool(2, pageSize)
		p.release()
		require.Nil(t, p.mem)
	})
}
