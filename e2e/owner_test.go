package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/owner"
	"github.com/lvfsck/lvfsck/spdk"
)

// An lvstore built with each control plane's names (and Mayastor's
// xattrs), checked offline against a live view that lists none of them:
// every lvol is a finding (absent from the live view), and each names its owner;
// --owner keeps one control plane's.
func TestOwnersNamed(t *testing.T) {
	image, _ := diskAndState(t)
	tg := startSim(t, image)
	ctx := ctxT(t)
	c := tg.c
	lvsUUID, err := c.CreateLvstore(ctx, "aio0", "disk-1", 1<<20)
	require.NoError(t, err)
	const csiUUID = "0f6a3c1e-5b7d-4e2a-9c1f-2b3d4e5f6a7b"
	for _, name := range []string{"pvc-1a2b-r-0a1b2c3d", "bi-ubuntu-disk-" + lvsUUID, "csi-" + csiUUID, "LVOL_12", "mayastor-rep", "plain"} {
		_, err := c.CreateLvol(ctx, "disk-1", name, 4, true)
		require.NoError(t, err, name)
	}
	_, err = c.Snapshot(ctx, "disk-1/pvc-1a2b-r-0a1b2c3d", "pvc-1a2b-r-0a1b2c3d-snap-backup1")
	require.NoError(t, err)
	_, err = c.Snapshot(ctx, "disk-1/LVOL_12", "SNAP_13")
	require.NoError(t, err)
	_, err = c.Clone(ctx, "disk-1/SNAP_13", "CLN_14")
	require.NoError(t, err)
	require.NoError(t, c.SetXattr(ctx, "disk-1/mayastor-rep", "entity_id", "vol-7"))
	lvs, err := c.GetLvstores(ctx, spdk.LvstoreQuery{})
	require.NoError(t, err)
	tg.stop("SIGINT")

	dir := t.TempDir()
	lvsJSON, lvolsJSON := filepath.Join(dir, "lvs.json"), filepath.Join(dir, "lvols.json")
	b, err := json.Marshal(lvs)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(lvsJSON, b, 0o600))
	require.NoError(t, os.WriteFile(lvolsJSON, []byte("[]"), 0o600))
	args := []string{"--image", image, "--lvstores-json", lvsJSON, "--lvols-json", lvolsJSON}

	want := map[string]owner.Owner{
		"pvc-1a2b-r-0a1b2c3d":              {System: owner.Longhorn, Kind: "replica", Volume: "pvc-1a2b", ID: "pvc-1a2b-r-0a1b2c3d"},
		"pvc-1a2b-r-0a1b2c3d-snap-backup1": {System: owner.Longhorn, Kind: "snapshot", Volume: "pvc-1a2b", Name: "backup1", ID: "pvc-1a2b-r-0a1b2c3d"},
		"bi-ubuntu-disk-" + lvsUUID:        {System: owner.Longhorn, Kind: "backing-image", Name: "ubuntu", ID: lvsUUID},
		"csi-" + csiUUID:                   {System: owner.SPDKCSI, Kind: "volume", Volume: "csi-" + csiUUID, ID: csiUUID},
		"LVOL_12":                          {System: owner.Simplyblock, Kind: "volume", ID: "12"},
		"SNAP_13":                          {System: owner.Simplyblock, Kind: "snapshot", ID: "13"},
		"CLN_14":                           {System: owner.Simplyblock, Kind: "clone", ID: "14"},
		"mayastor-rep":                     {System: owner.Mayastor, Kind: "replica", Volume: "vol-7"},
	}
	r := runCheck(t, args...)
	got := map[string]owner.Owner{}
	sawPlain := false
	for _, f := range r.doc.Findings {
		if f.LvolName == "" {
			continue
		}
		if f.LvolName == "plain" {
			require.Nil(t, f.Owner, "no convention, no owner")
			sawPlain = true
			continue
		}
		require.NotNil(t, f.Owner, "%s", f.LvolName)
		got[f.LvolName] = *f.Owner
		require.Equal(t, f.Owner.String(), f.Evidence["owner"], "the text report shows it")
	}
	require.True(t, sawPlain, "%s", r)
	require.Equal(t, want, got)

	lh := runCheck(t, append(args, "--owner", "longhorn")...)
	require.Len(t, lh.doc.Findings, 3, "%s", lh)
	for _, f := range lh.doc.Findings {
		require.NotNil(t, f.Owner)
		require.Equal(t, owner.Longhorn, f.Owner.System)
	}
}
