package testfix

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// Manifest is a fixture's NAME.manifest.json: what the real target listed
// for the captured image (see testdata/fixtures/README.md). Each test reads
// the members it checks.
type Manifest struct {
	Lvstores         []ManifestLvstore `json:"lvstores"`
	Lvols            []ManifestLvol    `json:"lvols"`
	PersistedNotLive []ManifestRef     `json:"persisted_not_live"`
}

// ManifestLvstore is one lvstore of a Manifest.
type ManifestLvstore struct {
	UUID              string `json:"uuid"`
	Name              string `json:"name"`
	ClusterSize       uint64 `json:"cluster_size"`
	TotalDataClusters uint64 `json:"total_data_clusters"`
	FreeClusters      uint64 `json:"free_clusters"`
}

// ManifestLvol is one lvol of a Manifest; BaseSnapshot is nil when the
// target named none.
type ManifestLvol struct {
	Name         string   `json:"name"`
	UUID         string   `json:"uuid"`
	Thin         bool     `json:"thin"`
	Snapshot     bool     `json:"snapshot"`
	Clone        bool     `json:"clone"`
	SizeBytes    uint64   `json:"size_bytes"`
	BaseSnapshot *string  `json:"base_snapshot"`
	Clones       []string `json:"clones"`
}

// ManifestRef names an lvol persisted on disk but not live at capture.
type ManifestRef struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
}

// ReadManifest decodes the manifest at path.
func ReadManifest(t testing.TB, path string) Manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m Manifest
	require.NoError(t, json.Unmarshal(b, &m), path)
	return m
}
