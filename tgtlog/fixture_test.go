package tgtlog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/stretchr/testify/require"
)

const fixtures = "../testdata/fixtures"

// fixtureLogs are every spdk_tgt log captured from the real target.
var fixtureLogs = []string{"resurrection", "notify", "shallow-copy", "reload", "reload-unsafe", "tags-dirty.recovery",
	"fixed-busy", "fixed-busy.reload-wedge", "fixed-shallow"}

func parseFixture(t testing.TB, name string, o Options) ([]Record, Stats) {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, name+".spdk_tgt.log"))
	require.NoError(t, err)
	defer f.Close()
	recs, st, err := Parse(f, o)
	require.NoError(t, err)
	return recs, st
}

// TestFixtureGolden pins every record extracted from each real log, one
// JSON object a line, with the stats last.
func TestFixtureGolden(t *testing.T) {
	for _, name := range fixtureLogs {
		t.Run(name, func(t *testing.T) {
			recs, st := parseFixture(t, name, Options{})
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			for _, r := range recs {
				require.NoError(t, enc.Encode(r))
			}
			require.NoError(t, enc.Encode(st))
			testfix.Golden(t, filepath.Join("testdata", name+".records.golden"), b.Bytes())
		})
	}
}

// TestFixtureForcedRemovalLvol checks the attribution against what the
// capture knows independently: the manifest's persisted_not_live lvol is
// the one whose delete was forced.
func TestFixtureForcedRemovalLvol(t *testing.T) {
	for _, tc := range []struct{ log, manifest string }{
		{"resurrection", "resurrection-pending-live"},
		{"notify", "notify-pending-live"},
		{"shallow-copy", "shallow-copy-pending-live"},
	} {
		t.Run(tc.log, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(fixtures, tc.manifest+".manifest.json"))
			require.NoError(t, err)
			var m struct {
				PersistedNotLive []struct{ Name, UUID string } `json:"persisted_not_live"`
			}
			require.NoError(t, json.Unmarshal(raw, &m))
			require.Len(t, m.PersistedNotLive, 1)
			want := m.PersistedNotLive[0].UUID

			recs, st := parseFixture(t, tc.log, Options{})
			require.Zero(t, st.Unattributed)
			var forced, open int
			for _, r := range recs {
				switch r.Kind {
				case ForcedRemoval:
					forced++
					require.Equal(t, want, r.LvolUUID)
					require.Contains(t, r.Via, "closed, just before")
				case CannotRemoveOpenSnapshot:
					open++
					require.Equal(t, want, r.LvolUUID)
				}
			}
			require.Equal(t, 1, forced)
			require.Equal(t, 1, open)
			// Only the resurrection capture logs the restart after it.
			var back []int
			for _, r := range recs {
				if r.Kind == LvolLoaded && r.ForcedLine > 0 {
					require.Equal(t, want, r.LvolUUID)
					back = append(back, r.Line)
				}
			}
			if tc.log == "resurrection" {
				require.Equal(t, []int{35}, back)
			} else {
				require.Empty(t, back)
			}
		})
	}
}

// TestFixtureReload: the reload capture shows the forced removal, the
// lvstore unloaded on the hot remove, the lvol loaded again and then deleted
// for real, twice (two target runs).
func TestFixtureReload(t *testing.T) {
	recs, _ := parseFixture(t, "reload", Options{})
	byKind := map[Kind][]Record{}
	for _, r := range recs {
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	require.Len(t, byKind[TargetStart], 2)
	require.Equal(t, []int{2157, 2176}, []int{byKind[TargetStart][0].PID, byKind[TargetStart][1].PID})
	require.Len(t, byKind[ForcedRemoval], 2)
	for i, fr := range byKind[ForcedRemoval] {
		require.Equal(t, i+1, fr.Run)
		var loaded, deleted bool
		for _, r := range recs {
			if r.LvolUUID == fr.LvolUUID && r.Line > fr.Line {
				loaded = loaded || r.Kind == LvolLoaded
				deleted = deleted || r.Kind == LvolDeleted && loaded
				require.Equal(t, fr.Line, r.ForcedLine, "line %d", r.Line)
			}
		}
		require.True(t, loaded && deleted, "run %d: %s back after the reload, then deleted", i+1, fr.LvolUUID)
	}
	for _, r := range byKind[LvstoreUnload][:1] {
		require.Equal(t, "lvs-r", r.Lvstore)
	}
}

func TestFixtureReloadUnsafe(t *testing.T) {
	recs, _ := parseFixture(t, "reload-unsafe", Options{})
	var kinds []Kind
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
		if r.Kind == UnloadOpenBlobs {
			require.Equal(t, "lvs-r", r.Lvstore)
		}
		if r.Kind == BdevNameExists {
			require.Equal(t, "aio0", r.Bdev)
			require.False(t, r.AboutLvol())
		}
	}
	require.Contains(t, kinds, UnloadOpenBlobs)
	require.Contains(t, kinds, UnregisterFailed)
}

func TestFixtureRecovery(t *testing.T) {
	recs, _ := parseFixture(t, "tags-dirty.recovery", Options{Context: true})
	var blobs []uint64
	var loaded int
	for _, r := range recs {
		switch r.Kind {
		case RecoveryBlob:
			blobs = append(blobs, r.BlobID)
		case LvolLoaded:
			loaded++
		}
	}
	require.Equal(t, []uint64{1 << 32, 1<<32 | 1, 1<<32 | 3, 1<<32 | 6, 1<<32 | 7, 1<<32 | 0x261}, blobs)
	require.Equal(t, 5, loaded)
	require.Equal(t, RecoveryStart, recs[1].Kind)
}

// TestFixtureFixedBusy: a target with Longhorn's fix logs "Error -16
// deleting lvol NAME" instead of the forced removal; the record names the
// hidden lvol by its uuid (the close just before) and by its name, and the
// shutdown that never finished shows as unload-lvols-pending.
func TestFixtureFixedBusy(t *testing.T) {
	const backup = "9061297a-245a-47ec-8f4f-b765b642546d"
	recs, st := parseFixture(t, "fixed-busy", Options{})
	require.Zero(t, st.Unattributed)
	var kept, pending, forced int
	for _, r := range recs {
		switch r.Kind {
		case DeleteBusyKept:
			kept++
			require.Equal(t, backup, r.LvolUUID)
			require.Equal(t, "backup-1", r.LvolName)
		case UnloadLvolsPending:
			pending++
		case ForcedRemoval:
			forced++
		}
	}
	require.Equal(t, 1, kept)
	require.Equal(t, 1, pending)
	require.Zero(t, forced)
}
