package run

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/owner"
	"github.com/lvfsck/lvfsck/scanner"
)

func TestOwnersAndOnlyOwner(t *testing.T) {
	scans := []collect.Scan{{View: &scanner.View{Blobs: []scanner.BlobInfo{
		{IsLvol: true, LvolUUID: "u-may", LvolName: "r1", Xattrs: []scanner.Xattr{
			{Name: "name", Raw: []byte("r1\x00")},
			{Name: "entity_id", Raw: []byte("vol-9\x00")},
		}},
	}}}}
	fs := []finding.Finding{
		{Code: "a", LvolName: "pvc-1-r-0a1b2c3d", LvolUUID: "u-lh"},
		{Code: "b", LvolName: "r1", LvolUUID: "u-may"},
		{Code: "c", LvolName: "plain", LvolUUID: "u-plain"},
		{Code: "d"}, // about no lvol
	}
	Owners(fs, scans)
	require.Equal(t, &owner.Owner{System: owner.Longhorn, Kind: "replica", Volume: "pvc-1", ID: "pvc-1-r-0a1b2c3d"}, fs[0].Owner)
	require.Equal(t, "longhorn replica (volume pvc-1, id pvc-1-r-0a1b2c3d)", fs[0].Evidence["owner"])
	require.Equal(t, &owner.Owner{System: owner.Mayastor, Kind: "replica", Volume: "vol-9"}, fs[1].Owner, "from the blob's xattrs")
	require.Nil(t, fs[2].Owner)
	require.NotContains(t, fs[2].Evidence, "owner")
	require.Nil(t, fs[3].Owner)

	for _, tc := range []struct {
		system string
		codes  []finding.Code
		note   string
	}{
		{owner.Longhorn, []finding.Code{"a"}, "--owner longhorn: 3 finding(s) about other lvols, or about no lvol, not shown"},
		{owner.Mayastor, []finding.Code{"b"}, "--owner mayastor: 3 finding(s) about other lvols, or about no lvol, not shown"},
		{owner.SPDKCSI, nil, "--owner spdk-csi: 4 finding(s) about other lvols, or about no lvol, not shown"},
	} {
		got, note := OnlyOwner(fs, tc.system)
		var codes []finding.Code
		for _, f := range got {
			codes = append(codes, f.Code)
		}
		require.Equal(t, tc.codes, codes, tc.system)
		require.Equal(t, tc.note, note)
	}
	require.Len(t, fs, 4, "the input is left whole")
}
