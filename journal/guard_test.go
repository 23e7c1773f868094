package journal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGuardRecords(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(t, err)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	recs := []GuardRecord{
		{At: t0, Action: GuardRefused, Method: "bdev_lvol_delete", Name: "lvs/snap", LvolUUID: "u1",
			Holders: []string{"checksum"}, Code: -32603, Message: "Device or resource busy", Conn: 3, ReqID: "7"},
		{At: t0.Add(time.Second), Action: GuardAnswered, Method: "bdev_lvol_delete", Name: "lvs/snap", LvolUUID: "u1"},
		{At: t0.Add(2 * time.Second), Action: GuardDelayed, Method: "bdev_lvol_delete", Name: "x"}, // uuid unknown
	}
	for _, r := range recs {
		require.NoError(t, j.RecordGuard(r))
	}
	require.Error(t, j.RecordGuard(GuardRecord{At: t0}), "no action")
	require.NoError(t, j.Close())

	j, err = Open(dir, Options{})
	require.NoError(t, err)
	defer j.Close()
	got, err := j.GuardRecords(time.Time{})
	require.NoError(t, err)
	require.Equal(t, recs, got)
	got, err = j.GuardRecords(t0.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, got, 2)
	tl, err := j.LvolTimeline("u1")
	require.NoError(t, err)
	require.Len(t, tl, 2)
	require.Equal(t, EventGuard, tl[0].Kind)
	require.Contains(t, tl[0].Detail, "refused")
}
