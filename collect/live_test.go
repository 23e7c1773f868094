package collect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// A failed call is named once: spdk's error names the method, and Fetch
// does not prefix it again.
func TestFetchNamesTheMethodOnce(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("bdev_lvol_get_lvstores", []any{})
	s.HandleError("bdev_lvol_get_lvols", -32603, "Input/output error")
	c, err := spdk.Dial(context.Background(), s.Path, spdk.WithTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, _, err = Fetch(context.Background(), c)
	require.Error(t, err)
	require.Equal(t, 1, strings.Count(err.Error(), "bdev_lvol_get_lvols"), "%v", err)
}
