package run

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/reconcile"
)

func TestSettleInFlux(t *testing.T) {
	flux := collect.Flux{UUIDs: map[string]string{"u1": "left the live view during the check"}, Names: map[string]bool{"lvs/v1": true}}
	p := &reconcile.Persisted{Lvols: []reconcile.PersistedLvol{{UUID: "u1", BlobID: 7}}}
	fs := []finding.Finding{
		{Code: "phantom", Severity: finding.Error, LvolUUID: "u1"},
		{Code: "name-collision", Severity: finding.Error, Lvstore: "lvs", LvolName: "v1", LvolUUID: "other"},
		{Code: "md-crc", Severity: finding.Critical, BlobID: 7},
		{Code: "phantom", Severity: finding.Error, LvolUUID: "u2", Lvstore: "lvs", LvolName: "v2"},
		{Code: "note", Severity: finding.Info, LvolUUID: "u1"},
	}
	require.Equal(t, 3, settleInFlux(fs, flux, p))
	for i, want := range []finding.Severity{finding.Info, finding.Info, finding.Info, finding.Error, finding.Info} {
		require.Equal(t, want, fs[i].Severity, i)
	}
	require.Contains(t, fs[2].Evidence["in flux"], "was critical")
	require.Empty(t, fs[3].Evidence, "not in flux: untouched")
	require.Zero(t, settleInFlux(fs, collect.Flux{}, p), "nothing changed: nothing settled")
}
