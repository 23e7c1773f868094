package natsort

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{[]string{"vol100", "vol10", "vol1", "vol2"}, []string{"vol1", "vol2", "vol10", "vol100"}},
		{[]string{"r10-snap", "r9-snap", "r9"}, []string{"r9", "r9-snap", "r10-snap"}},
		{[]string{"vol01", "vol1", "vol001"}, []string{"vol001", "vol01", "vol1"}},
		{[]string{"b", "a10", "a9b", "a9a", ""}, []string{"", "a9a", "a9b", "a10", "b"}},
		{[]string{"v18446744073709551616", "v18446744073709551615"}, []string{"v18446744073709551615", "v18446744073709551616"}},
		{[]string{"x", "10", "9"}, []string{"9", "10", "x"}},
	} {
		got := slices.Clone(tc.in)
		slices.SortFunc(got, Compare)
		require.Equal(t, tc.want, got, "%q", tc.in)
	}
}

// The order must be total: antisymmetric, and 0 only for equal strings.
func FuzzCompare(f *testing.F) {
	f.Add("vol1", "vol01")
	f.Add("a10b", "a9c")
	f.Fuzz(func(t *testing.T, a, b string) {
		c, d := Compare(a, b), Compare(b, a)
		require.Equal(t, c, -d)
		require.Equal(t, a == b, c == 0)
	})
}
