package reconcile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/internal/testfix"
)

const fixtures = "../testdata/fixtures"

// Local shapes of the captured RPC answers (only the fields used here).
type (
	rpcLvol struct {
		Alias      string `json:"alias"`
		UUID       string `json:"uuid"`
		Name       string `json:"name"`
		Thin       bool   `json:"is_thin_provisioned"`
		Snapshot   bool   `json:"is_snapshot"`
		Clone      bool   `json:"is_clone"`
		EsnapClone bool   `json:"is_esnap_clone"`
		Degraded   bool   `json:"is_degraded"`
		Lvs        struct {
			Name string `json:"name"`
			UUID string `json:"uuid"`
		} `json:"lvs"`
	}
	rpcLvstore struct {
		UUID        string `json:"uuid"`
		Name        string `json:"name"`
		BaseBdev    string `json:"base_bdev"`
		ClusterSize uint64 `json:"cluster_size"`
	}
	rpcBdev struct {
		Name           string   `json:"name"`
		Aliases        []string `json:"aliases"`
		NumBlocks      uint64   `json:"num_blocks"`
		BlockSize      uint64   `json:"block_size"`
		DriverSpecific struct {
			Lvol *struct {
				LvstoreUUID       string   `json:"lvol_store_uuid"`
				Thin              bool     `json:"thin_provision"`
				AllocatedClusters uint64   `json:"num_allocated_clusters"`
				Snapshot          bool     `json:"snapshot"`
				Clone             bool     `json:"clone"`
				BaseSnapshot      string   `json:"base_snapshot"`
				Clones            []string `json:"clones"`
				EsnapClone        bool     `json:"esnap_clone"`
			} `json:"lvol"`
			AIO *struct {
				Filename string `json:"filename"`
			} `json:"aio"`
		} `json:"driver_specific"`
	}
	rpcNotify struct {
		Type string `json:"type"`
		Ctx  string `json:"ctx"`
		ID   uint64 `json:"id"`
	}
)

func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v), name)
}

// liveFrom builds the live view from the captured answers of one moment
// (prefix "notify.after-delete"); notifyFile is "" when there is no ring.
func liveFrom(t *testing.T, prefix, notifyFile string) Live {
	var (
		lvols []rpcLvol
		lvss  []rpcLvstore
		bdevs []rpcBdev
		live  Live
	)
	loadJSON(t, prefix+".bdev_lvol_get_lvols.json", &lvols)
	loadJSON(t, prefix+".bdev_lvol_get_lvstores.json", &lvss)
	loadJSON(t, prefix+".bdev_get_bdevs.json", &bdevs)
	byName := make(map[string]rpcBdev, len(bdevs))
	for _, b := range bdevs {
		byName[b.Name] = b
	}
	for _, s := range lvss {
		ls := LiveLvstore{UUID: s.UUID, Name: s.Name, BaseBdev: s.BaseBdev, ClusterSize: s.ClusterSize}
		if b, ok := byName[s.BaseBdev]; ok && b.DriverSpecific.AIO != nil {
			ls.Device = b.DriverSpecific.AIO.Filename
		}
		live.Lvstores = append(live.Lvstores, ls)
	}
	for _, l := range lvols {
		ll := LiveLvol{UUID: l.UUID, Name: l.Name, Alias: l.Alias, LvstoreUUID: l.Lvs.UUID, LvstoreName: l.Lvs.Name,
			Thin: l.Thin, Snapshot: l.Snapshot, Clone: l.Clone, EsnapClone: l.EsnapClone, Degraded: l.Degraded}
		// An lvol bdev is named by its uuid.
		if b, ok := byName[l.UUID]; ok && b.DriverSpecific.Lvol != nil {
			d := b.DriverSpecific.Lvol
			ll.ParentReported, ll.BaseSnapshot, ll.Clones = true, d.BaseSnapshot, d.Clones
			ll.SizeBytes = b.NumBlocks * b.BlockSize
		}
		live.Lvols = append(live.Lvols, ll)
	}
	if notifyFile != "" {
		var evs []rpcNotify
		loadJSON(t, notifyFile, &evs)
		live.NotifyAvailable = true
		for _, e := range evs {
			live.Notifications = append(live.Notifications, Notify{ID: e.ID, Type: e.Type, Ctx: e.Ctx})
		}
	}
	return live
}

// persistedFrom hand-builds the persisted view of a "*-pending-live" image:
// the manifest's live lvols plus persisted_not_live, with the attributes and
// parent links that bdev_get_bdevs showed before the delete (a forced
// removal writes nothing to disk, so the blobs still say that).
func persistedFrom(t *testing.T, manifestFile, beforeBdevs string) *Persisted {
	m := testfix.ReadManifest(t, filepath.Join(fixtures, manifestFile))
	var bdevs []rpcBdev
	loadJSON(t, beforeBdevs, &bdevs)
	require.Len(t, m.Lvstores, 1)
	ls := m.Lvstores[0]
	p := &Persisted{Lvstores: []PersistedLvstore{{UUID: ls.UUID, Name: ls.Name, Device: "image", ClusterSize: ls.ClusterSize, Readable: true, Loads: finding.LoadOK}}}
	type nu struct{ name, uuid string }
	var all []nu
	for _, l := range m.Lvols {
		all = append(all, nu{l.Name, l.UUID})
	}
	for _, l := range m.PersistedNotLive {
		all = append(all, nu{l.Name, l.UUID})
	}
	blobOf := make(map[string]uint64, len(all))
	for i, l := range all {
		blobOf[l.name] = 1<<32 | uint64(i+1)
	}
	byUUID := make(map[string]rpcBdev, len(bdevs))
	for _, b := range bdevs {
		byUUID[b.Name] = b
	}
	for _, l := range all {
		b, ok := byUUID[l.uuid]
		require.True(t, ok, "%s not in %s", l.name, beforeBdevs)
		d := b.DriverSpecific.Lvol
		require.NotNil(t, d)
		p.Lvols = append(p.Lvols, PersistedLvol{
			LvstoreUUID: ls.UUID, BlobID: blobOf[l.name], Name: l.name, UUID: l.uuid,
			SizeBytes: b.NumBlocks * b.BlockSize, Thin: d.Thin, ReadOnly: d.Snapshot,
			IsSnapshot: d.Snapshot, IsClone: d.Clone,
			ParentBlobID: blobOf[d.BaseSnapshot], ParentName: d.BaseSnapshot,
			Loads: finding.LoadOK, AllocatedClusters: d.AllocatedClusters,
			Pages: []uint32{uint32(blobOf[l.name])},
		})
	}
	return p
}

func TestCheckFixtures(t *testing.T) {
	cases := []struct {
		name     string
		manifest string // *-pending-live manifest; "" = no device read
		before   string // views before the delete, for the persisted attributes
		views    string
		notify   string
		history  History
		inc      Incarnation
		want     []want
		evidence []string // evidence keys of the first wanted finding
	}{
		{
			name: "notify-pending-live", manifest: "notify-pending-live.manifest.json", before: "notify.before-delete",
			views: "notify.after-delete", notify: "notify.after-delete.notify_get_notifications.json",
			want:     []want{{CodePendingResurrection, finding.Error, "5ae2d848-da40-4d18-8f6c-64cb6802a968"}},
			evidence: []string{EvDisk, EvLive, EvNotify},
		},
		{
			name: "resurrection-pending-live", manifest: "resurrection-pending-live.manifest.json", before: "resurrection.before-delete",
			views:    "resurrection.after-delete",
			want:     []want{{CodePendingResurrection, finding.Error, "877aaf96-4cfd-4d02-85f9-f345a1de9362"}},
			evidence: []string{EvDisk, EvLive},
		},
		{
			name: "shallow-copy-pending-live", manifest: "shallow-copy-pending-live.manifest.json", before: "shallow-copy.before-delete",
			views:    "shallow-copy.after-delete",
			want:     []want{{CodePendingResurrection, finding.Error, "4d8ee0bf-9fd9-4ee2-8aa0-f62ec664755a"}},
			evidence: []string{EvDisk, EvLive},
		},
		{
			// Negatives on real captures: views and disk agree.
			name: "notify-before-delete", manifest: "notify-pending-live.manifest.json", before: "notify.before-delete",
			views: "notify.before-delete",
		},
		{
			name: "shallow-copy-after-restart-no-history", manifest: "shallow-copy-pending-live.manifest.json", before: "shallow-copy.before-delete",
			views: "shallow-copy.after-restart",
		},
		{
			name: "notify-rpc-only", views: "notify.after-delete", notify: "notify.after-delete.notify_get_notifications.json",
			want: []want{
				{CodeCloneLostBaseSnapshot, finding.Error, "cab61897-1d40-4dd8-9fb3-350e7c43404f"},
				{CodeDiskNotRead, finding.Warning, ""},
			},
			evidence: []string{EvLive},
		},
		{
			name: "notify-after-restart", manifest: "notify-pending-live.manifest.json", before: "notify.before-delete",
			views: "notify.after-restart", notify: "notify.after-restart.notify_get_notifications.json",
			history: &MemHistory{Deletes: map[string][]DeleteRecord{"5ae2d848-da40-4d18-8f6c-64cb6802a968": {
				{IntentAt: t0, Result: ResultForcedRemoval, Incarnation: inc1, Alias: "lvs-r/snap-x"},
			}}},
			inc:      Incarnation{ID: inc2},
			want:     []want{{CodeResurrected, finding.Error, "5ae2d848-da40-4d18-8f6c-64cb6802a968"}},
			evidence: []string{EvDisk, EvLive, EvJournal},
		},
		{
			// bdev_aio_delete + bdev_aio_create reloaded the lvstore in the
			// same target run: the force-removed snapshot is back without a
			// restart, and still resurrected.
			name: "reload-after-aio-recreate", views: "reload.after-aio-recreate",
			history: &MemHistory{Deletes: map[string][]DeleteRecord{"e35bbdab-6f21-46ac-9f99-7635c853ee8b": {
				{IntentAt: t0, Result: ResultForcedRemoval, Incarnation: inc1, Alias: "lvs-r/snap-x"},
			}}},
			inc: Incarnation{ID: inc1},
			want: []want{
				{CodeResurrected, finding.Error, "e35bbdab-6f21-46ac-9f99-7635c853ee8b"},
				{CodeDiskNotRead, finding.Warning, ""},
			},
			evidence: []string{EvJournal, EvLive},
		},
		{
			name: "reload-after-delete-rpc-only", views: "reload.after-delete",
			want: []want{
				{CodeCloneLostBaseSnapshot, finding.Error, "5b8b43e1-bfa9-43d2-8467-671cf1389382"},
				{CodeDiskNotRead, finding.Warning, ""},
			},
			evidence: []string{EvLive},
		},
		{
			name: "resurrection-after-restart", manifest: "resurrection-pending-live.manifest.json", before: "resurrection.before-delete",
			views: "resurrection.after-restart",
			history: &MemHistory{Seen: map[string]map[string]bool{inc1: {"877aaf96-4cfd-4d02-85f9-f345a1de9362": true}},
				Gone: map[string]Disappearance{"877aaf96-4cfd-4d02-85f9-f345a1de9362": {Incarnation: inc1, LastSeen: t0}}},
			inc:      Incarnation{ID: inc2},
			want:     []want{{CodeResurrected, finding.Error, "877aaf96-4cfd-4d02-85f9-f345a1de9362"}},
			evidence: []string{EvJournal},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Live: liveFrom(t, tc.views, tc.notify), History: tc.history, Incarnation: tc.inc}
			if tc.manifest != "" {
				in.Persisted = persistedFrom(t, tc.manifest, tc.before+".bdev_get_bdevs.json")
			}
			got := Check(in)
			exp := make([]string, len(tc.want))
			for i, w := range tc.want {
				exp[i] = w.String()
			}
			require.ElementsMatch(t, exp, wants(got), "findings:\n%s", render(got))
			if len(tc.want) > 0 {
				f := only(t, got, tc.want[0].code)
				for _, k := range tc.evidence {
					require.NotEmpty(t, f.Evidence[k], "evidence %q: %v", k, f.Evidence)
				}
			}
			invariants(t, got)
			golden(t, filepath.Join("testdata", tc.name+".golden.json"), got)
		})
	}
}

func golden(t *testing.T, path string, fs []finding.Finding) {
	t.Helper()
	b, err := json.MarshalIndent(fs, "", "  ")
	require.NoError(t, err)
	testfix.Golden(t, path, append(b, '\n'))
}
