package report

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{1075, "1 KiB"},   // 1.0498 rounds down
		{1076, "1.1 KiB"}, // 1.0508 rounds up
		{12 << 20, "12 MiB"},
		{3 << 29, "1.5 GiB"},
		{1<<20 - 1, "1 MiB"}, // 1023.999 KiB is not "1024 KiB"
		{1<<20 - 52, "1023.9 KiB"},
		{600 << 30, "600 GiB"},
		{320 << 30, "320 GiB"},
		{5 << 40, "5 TiB"},
		{3 << 50, "3 PiB"},
		{1 << 60, "1 EiB"},
		{math.MaxUint64, "16 EiB"},
	} {
		require.Equal(t, tc.want, Bytes(tc.n), "%d", tc.n)
	}
}
