package sim

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScanCleanAndAfterKill(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	require.NoError(t, r.tgt.Shutdown())
	v := r.scan()
	require.Empty(t, v.Findings)
	require.True(t, v.Lvstore.Clean)
	require.Len(t, v.Blobs, 4)

	r.restart(false) // the previous one is stopped: restart from its image
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "late", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs-r"}, nil)
	r.tgt.Crash()
	v = r.scan()
	require.Empty(t, v.Findings)
	require.False(t, v.Lvstore.Clean)
	_, ok := v.Lvol("late")
	require.True(t, ok)
}
