package owner

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const lvsUUID = "4481ddbb-c6a1-46fc-b6dc-a02dc2e1d865"

func TestOf(t *testing.T) {
	cases := []struct {
		name   string
		xattrs map[string]string
		want   *Owner
	}{
		{"pvc-8a1b-r-0a1b2c3d", nil, &Owner{System: Longhorn, Kind: "replica", Volume: "pvc-8a1b", ID: "pvc-8a1b-r-0a1b2c3d"}},
		{"vol-r-2-r-ABCD1234", nil, &Owner{System: Longhorn, Kind: "replica", Volume: "vol-r-2", ID: "vol-r-2-r-ABCD1234"}},
		{"pvc-8a1b-r-0a1b2c3d-snap-daily-1", nil, &Owner{System: Longhorn, Kind: "snapshot", Volume: "pvc-8a1b", Name: "daily-1", ID: "pvc-8a1b-r-0a1b2c3d"}},
		{"pvc-8a1b-r-0a1b2c3d-rebuilding", nil, &Owner{System: Longhorn, Kind: "rebuilding replica", Volume: "pvc-8a1b", ID: "pvc-8a1b-r-0a1b2c3d"}},
		{"bi-ubuntu-22-disk-" + lvsUUID, nil, &Owner{System: Longhorn, Kind: "backing-image", Name: "ubuntu-22", ID: lvsUUID}},
		{"bi-ubuntu-disk-" + lvsUUID + "-temp-head", nil, &Owner{System: Longhorn, Kind: "backing-image temp head", Name: "ubuntu", ID: lvsUUID}},
		{"csi-" + lvsUUID, nil, &Owner{System: SPDKCSI, Kind: "volume", Volume: "csi-" + lvsUUID, ID: lvsUUID}},
		{"LVOL_42", nil, &Owner{System: Simplyblock, Kind: "volume", ID: "42"}},
		{"SNAP_7", nil, &Owner{System: Simplyblock, Kind: "snapshot", ID: "7"}},
		{"CLN_9", nil, &Owner{System: Simplyblock, Kind: "clone", ID: "9"}},
		{lvsUUID, map[string]string{"entity_id": "vol-1"}, &Owner{System: Mayastor, Kind: "replica", Volume: "vol-1"}},
		{"s1", map[string]string{"io-engine.entity_id": "vol-1", "io-engine.parent_id": "r-1"}, &Owner{System: Mayastor, Kind: "snapshot", Volume: "vol-1", ID: "r-1"}},
		{"s2", map[string]string{"io-engine.entity_id": "vol-1", "io-engine.discarded_snapshot": "true"}, &Owner{System: Mayastor, Kind: "discarded snapshot", Volume: "vol-1"}},
		{"c1", map[string]string{"io-engine.source_uuid": lvsUUID}, &Owner{System: Mayastor, Kind: "clone", ID: lvsUUID}},
		// xattrs win over a name that looks like another system's
		{"LVOL_3", map[string]string{"entity_id": "vol-2"}, &Owner{System: Mayastor, Kind: "replica", Volume: "vol-2"}},
		// unknown: never a guess
		{"replica-a", nil, nil},
		{"pvc-8a1b-r-0a1b2c3", nil, nil}, // 7 characters, not 8
		{"pvc-8a1b-r-0a1b2c3d-x", nil, nil},
		{"csi-not-a-uuid", nil, nil},
		{"LVOL_x1", nil, nil},
		{"lvol_1", nil, nil},
		{"bi-ubuntu-disk-notauuid", nil, nil},
		{"", nil, nil},
		{"vol", map[string]string{"entity_id": ""}, nil},
		{"vol", map[string]string{"other": "x"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, Of(c.name, c.xattrs))
		})
	}
}

func TestString(t *testing.T) {
	require.Equal(t, "longhorn snapshot (volume v, name s, id v-r-12345678)",
		Owner{System: Longhorn, Kind: "snapshot", Volume: "v", Name: "s", ID: "v-r-12345678"}.String())
	require.Equal(t, "simplyblock clone (id 9)", Owner{System: Simplyblock, Kind: "clone", ID: "9"}.String())
}

func TestValid(t *testing.T) {
	for _, s := range Systems {
		require.True(t, Valid(s))
	}
	require.False(t, Valid("Longhorn"))
	require.False(t, Valid(""))
}
