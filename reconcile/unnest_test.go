package reconcile

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A check that quotes an earlier check's record quotes its evidence, not
// the chain of records before it.
func TestUnnest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"journal: gone; live: clone without base", "journal: gone; live: clone without base"},
		{
			"journal: gone; reported pending-resurrection by an earlier check of this target incarnation at T1, on this evidence then: journal: gone; live: clone without base; notify: bdev_unregister",
			"journal: gone; live: clone without base; notify: bdev_unregister",
		},
		{
			"journal: gone; journal: reported pending-resurrection by an earlier check at T2, on this evidence then: journal: reported pending-resurrection by an earlier check at T1, on this evidence then: journal: gone; live: x",
			"journal: gone; live: x",
		},
	} {
		require.Equal(t, tc.want, unnest(tc.in), tc.in)
	}
}
