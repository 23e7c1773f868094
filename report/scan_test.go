package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/scanner"
)

func scanView() *scanner.View {
	return &scanner.View{
		Device: "/dev/x", Size: 1 << 30, Mode: scanner.ModeClean,
		Lvstore: scanner.Lvstore{Name: "lvs", UUID: "u", Clean: true, ClusterSize: 1 << 20, Loads: finding.LoadOK},
		Blobs: []scanner.BlobInfo{
			{ID: 1, IsLvol: true, LvolName: "snap", LvolUUID: "s", IsSnapshot: true, ReadOnly: true, Thin: true, AllocatedClusters: 4},
			{ID: 3, IsLvol: true, LvolName: "b-clone", LvolUUID: "c2", Parent: 1, Thin: true},
			{ID: 2, IsLvol: true, LvolName: "a-clone", LvolUUID: "c1", Parent: 1, Thin: true, AllocatedClusters: 1},
			{ID: 4, IsLvol: true, LvolName: "evil\x1b[31m", Loads: finding.LoadSkip},
			{ID: 5}, // not an lvol (the super blob)
		},
	}
}

func TestWriteScanText(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteScanText(&b, scanView(), ExitOK, "test", TextOptions{}))
	out := b.String()
	require.Contains(t, out, "lvstore lvs  uuid u\n")
	require.Contains(t, out, "lvols (4, 5 MiB allocated)")
	// Clones beneath their snapshot, by name.
	i, j, k := strings.Index(out, "snap "), strings.Index(out, "├─ a-clone"), strings.Index(out, "└─ b-clone")
	require.True(t, i >= 0 && i < j && j < k, out)
	require.Contains(t, out, `"evil\x1b[31m"`, "names from disk are quoted")
	require.Contains(t, out, "does NOT load")
	require.NotContains(t, out, "\x1b[", "no escape sequence from data, no color unasked")
}

// A parent cycle is a finding, not an endless tree.
func TestWriteScanTextCycle(t *testing.T) {
	v := scanView()
	v.Blobs = []scanner.BlobInfo{{ID: 1, IsLvol: true, LvolName: "a", Parent: 2}, {ID: 2, IsLvol: true, LvolName: "b", Parent: 1}}
	var b strings.Builder
	require.NoError(t, WriteScanText(&b, v, ExitOK, "test", TextOptions{}))
	require.Contains(t, b.String(), "lvols (2, ")
}

func TestWriteScanJSON(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteScanJSON(&b, scanView(), ExitUncorrected, "v9"))
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &doc))
	require.Equal(t, ScanSchema, doc["schema"])
	require.Equal(t, "v9", doc["lvfsck_version"])
	require.Equal(t, float64(ExitUncorrected), doc["exit_code"])
	require.Equal(t, "/dev/x", doc["device"], "the view's fields are at the top level")
}
