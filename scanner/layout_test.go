package scanner

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The zero-page shortcut in notePage is right only if an all-zero page
// fails its CRC.
func TestZeroPageFailsCRC(t *testing.T) {
	require.False(t, pageCRCOK(zeroPage[:]))
	require.NotZero(t, pageCRC(zeroPage[:]))
}

// count must agree with each, whatever the declared length, limit and
// buffer say, since it sizes what each fills.
func TestMaskCount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		length uint32
		bits   []byte
		limit  uint64
		want   int
	}{
		{"empty", 0, nil, 100, 0},
		{"all in one byte", 8, []byte{0xff}, 100, 8},
		{"length cuts a byte", 5, []byte{0xff}, 100, 5},
		{"limit cuts a byte", 16, []byte{0xff, 0xff}, 11, 11},
		{"buffer shorter than length", 1000, []byte{0x0f, 0x01}, 1 << 20, 5},
		{"sparse", 24, []byte{0x81, 0x00, 0x42}, 24, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mask{Length: tc.length, bits: tc.bits}
			n := 0
			m.each(tc.limit, func(uint64) { n++ })
			require.Equal(t, tc.want, n)
			require.Equal(t, tc.want, m.count(tc.limit))
		})
	}
}
