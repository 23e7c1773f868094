package sim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A set_xattr whose md no longer fits the store's md pages fails, and the
// lvol keeps the xattrs it had: the failed value is not visible afterwards.
func TestSetXattrRollsBackOnFailedSync(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	big := strings.Repeat("x", 3000) // one md page each
	var failed string
	for i := range 1000 {
		name := fmt.Sprintf("big%d", i)
		if _, e := r.call("bdev_lvol_set_xattr", map[string]any{"name": "lvs-r/vol", "xattr_name": name, "xattr_value": big}); e != nil {
			require.Equal(t, &RPCError{-32602, "Invalid argument"}, e)
			failed = name
			break
		}
	}
	require.NotEmpty(t, failed, "the md pages never ran out")
	_, e := r.call("bdev_lvol_get_xattr", map[string]any{"name": "lvs-r/vol", "xattr_name": failed})
	require.Equal(t, &RPCError{-32603, "No such file or directory"}, e)
	var v string
	r.ok("bdev_lvol_get_xattr", map[string]any{"name": "lvs-r/vol", "xattr_name": "big0"}, &v)
	require.Equal(t, big, v)
}
