package spdk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

const fixtures = "../testdata/fixtures"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	return b
}

// decodeStrict decodes b into v rejecting unknown members, then checks that
// v re-encodes to the same JSON value: a member the types lose (unknown
// inside a custom decoder, or dropped by omitzero) fails the test too.
func decodeStrict(t testing.TB, name string, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), name)
	out, err := json.Marshal(v)
	require.NoError(t, err, name)
	var want, got any
	require.NoError(t, json.Unmarshal(b, &want), name)
	require.NoError(t, json.Unmarshal(out, &got), name)
	require.Equal(t, want, got, "%s: re-encoded answer differs", name)
}

func globFixtures(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(fixtures, pattern))
	require.NoError(t, err)
	require.NotEmpty(t, m, pattern)
	return m
}

func TestDecodeEveryCapturedView(t *testing.T) {
	cases := []struct {
		pattern string
		new     func() any
	}{
		{"*.bdev_lvol_get_lvstores.json", func() any { return new([]Lvstore) }},
		{"*.bdev_lvol_get_lvols.json", func() any { return new([]Lvol) }},
		{"*.bdev_get_bdevs.json", func() any { return new([]Bdev) }},
		{"*.nvmf_get_subsystems.json", func() any { return new([]NvmfSubsystem) }},
		{"*.notify_get_notifications.json", func() any { return new([]Notification) }},
		{"notify.notify_get_types.json", func() any { return new([]string) }},
		{"notify.rpc_get_methods.json", func() any { return new([]string) }},
	}
	for _, tc := range cases {
		for _, path := range globFixtures(t, tc.pattern) {
			t.Run(filepath.Base(path), func(t *testing.T) {
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				decodeStrict(t, path, b, tc.new())
			})
		}
	}
}

// transcriptEntry is one request/answer pair of a *.transcript.json.
type transcriptEntry struct {
	Request struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	} `json:"request"`
	Response struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	} `json:"response"`
}

// resultTypes maps a method to the type its result decodes into.
var resultTypes = map[string]func() any{
	"spdk_get_version":             func() any { return new(Version) },
	"bdev_lvol_get_lvstores":       func() any { return new([]Lvstore) },
	"bdev_lvol_get_lvols":          func() any { return new([]Lvol) },
	"bdev_get_bdevs":               func() any { return new([]Bdev) },
	"nvmf_get_subsystems":          func() any { return new([]NvmfSubsystem) },
	"notify_get_notifications":     func() any { return new([]Notification) },
	"notify_get_types":             func() any { return new([]string) },
	"rpc_get_methods":              func() any { return new([]string) },
	"bdev_lvol_check_shallow_copy": func() any { return new(ShallowCopyStatus) },
	"bdev_lvol_get_snapshot_checksum": func() any {
		return new(struct {
			Checksum uint64 `json:"checksum"`
		})
	},
	"bdev_lvol_start_shallow_copy": func() any {
		return new(struct {
			OperationID uint32 `json:"operation_id"`
		})
	},
	"bdev_lvol_delete":      func() any { return new(bool) },
	"bdev_aio_delete":       func() any { return new(bool) },
	"bdev_aio_create":       func() any { return new(string) },
	"bdev_lvol_create":      func() any { return new(string) },
	"bdev_lvol_snapshot":    func() any { return new(string) },
	"bdev_lvol_clone":       func() any { return new(string) },
	"nvmf_subsystem_add_ns": func() any { return new(uint32) },
}

func TestDecodeEveryTranscriptAnswer(t *testing.T) {
	seen := map[string]int{}
	noAnswer := 0
	for _, path := range globFixtures(t, "*.transcript.json") {
		var entries []transcriptEntry
		require.NoError(t, json.Unmarshal(readFixture(t, filepath.Base(path)), &entries), path)
		for i, e := range entries {
			m := e.Request.Method
			if e.Response.Result == nil && e.Response.Error == nil {
				// reload-unsafe: bdev_aio_delete while a blob was held
				// open never answered.
				noAnswer++
				continue
			}
			if e.Response.Error != nil {
				require.NotNil(t, e.Response.Error.Kind(), "%s #%d %s: unmapped error %+v", path, i, m, e.Response.Error)
				continue
			}
			mk, ok := resultTypes[m]
			if !ok {
				continue
			}
			v := mk()
			decodeStrict(t, path+"#"+m, e.Response.Result, v)
			seen[m]++
		}
	}
	for m := range resultTypes {
		require.Positive(t, seen[m], "no captured answer of %s", m)
	}
	require.Equal(t, 1, noAnswer)
}

func TestResurrectionViews(t *testing.T) {
	names := func(file string) map[string]Lvol {
		var lvols []Lvol
		decodeStrict(t, file, readFixture(t, file), &lvols)
		m := map[string]Lvol{}
		for _, l := range lvols {
			m[l.Name] = l
		}
		return m
	}
	before := names("resurrection.before-delete.bdev_lvol_get_lvols.json")
	after := names("resurrection.after-delete.bdev_lvol_get_lvols.json")
	restart := names("resurrection.after-restart.bdev_lvol_get_lvols.json")

	require.Contains(t, before, "backup-1")
	require.True(t, before["backup-1"].IsSnapshot)
	require.NotContains(t, after, "backup-1", "forced removal drops the snapshot from the view")
	require.Contains(t, restart, "backup-1")
	require.Equal(t, before["backup-1"].UUID, restart["backup-1"].UUID, "it comes back with its uuid")
	require.True(t, after["replica-a"].IsClone, "the clone still says it is one")
	require.Equal(t, "lvs-r/replica-a", after["replica-a"].Alias)
	require.Equal(t, "lvs-r", after["replica-a"].Lvs.Name)
	require.Nil(t, after["replica-a"].NumAllocatedClusters, "v24.09 get_lvols has no num_allocated_clusters")

	var bdevs []Bdev
	decodeStrict(t, "bdevs", readFixture(t, "resurrection.after-delete.bdev_get_bdevs.json"), &bdevs)
	var clone *Bdev
	for i := range bdevs {
		if slices.Contains(bdevs[i].Aliases, "lvs-r/replica-a") {
			clone = &bdevs[i]
		}
	}
	require.NotNil(t, clone)
	require.NotNil(t, clone.DriverSpecific.Lvol)
	require.True(t, clone.DriverSpecific.Lvol.Clone)
	require.Empty(t, clone.DriverSpecific.Lvol.BaseSnapshot, "a clone whose snapshot was force-removed has no base_snapshot")

	decodeStrict(t, "bdevs", readFixture(t, "resurrection.before-delete.bdev_get_bdevs.json"), &bdevs)
	for _, b := range bdevs {
		if slices.Contains(b.Aliases, "lvs-r/replica-a") {
			require.Equal(t, "backup-1", b.DriverSpecific.Lvol.BaseSnapshot)
		}
		if slices.Contains(b.Aliases, "lvs-r/backup-1") {
			require.True(t, b.DriverSpecific.Lvol.Snapshot)
			require.Equal(t, []string{"replica-a"}, b.DriverSpecific.Lvol.Clones)
		}
		if b.Name == "aio0" {
			require.NotNil(t, b.DriverSpecific.Aio)
			require.Equal(t, "/var/lib/spdk/disks/resurrection.img", b.DriverSpecific.Aio.Filename)
			require.True(t, b.Claimed)
			require.NotEmpty(t, b.ClaimType)
		}
	}
}

func TestNotifyRing(t *testing.T) {
	var ev []Notification
	decodeStrict(t, "n", readFixture(t, "notify.after-delete.notify_get_notifications.json"), &ev)
	require.Len(t, ev, 12)
	for i, e := range ev {
		require.Equal(t, uint64(i), e.ID, "ids are dense from 0 in a run")
	}
	const snap = "5ae2d848-da40-4d18-8f6c-64cb6802a968"
	last := ev[len(ev)-1]
	require.Equal(t, Notification{Type: NotifyBdevUnregister, Ctx: snap, ID: 11}, last)

	decodeStrict(t, "n", readFixture(t, "notify.after-restart.notify_get_notifications.json"), &ev)
	require.Equal(t, uint64(0), ev[0].ID, "ids restart at 0")
	for _, e := range ev {
		require.Equal(t, NotifyBdevRegister, e.Type)
	}
	require.Contains(t, ctxs(ev), snap, "the resurrected snapshot registers again")
	require.Equal(t, "aio0", ev[len(ev)-1].Ctx, "lvol bdevs register before their base bdev")
}

func ctxs(ev []Notification) []string {
	out := make([]string, len(ev))
	for i, e := range ev {
		out[i] = e.Ctx
	}
	return out
}

func TestExportedNamespace(t *testing.T) {
	var subs []NvmfSubsystem
	decodeStrict(t, "s", readFixture(t, "reload.exported.nvmf_get_subsystems.json"), &subs)
	require.Len(t, subs, 2)
	require.Equal(t, "Discovery", subs[0].Subtype)
	require.Nil(t, subs[0].Namespaces)
	ns := subs[1].Namespaces
	require.Len(t, ns, 1)
	require.Equal(t, ns[0].BdevName, ns[0].UUID, "an lvol namespace names the bdev by the lvol uuid")

	decodeStrict(t, "s", readFixture(t, "reload.exported-after-aio-delete.nvmf_get_subsystems.json"), &subs)
	require.NotNil(t, subs[1].Namespaces)
	require.Empty(t, subs[1].Namespaces, "the aio delete dropped the namespace silently")
}

func TestManyLvols(t *testing.T) {
	var lvols []Lvol
	decodeStrict(t, "m", readFixture(t, "many-lvols.bdev_lvol_get_lvols.json"), &lvols)
	require.Len(t, lvols, 1000)
	require.Equal(t, "r0000", lvols[0].Name)
	for _, l := range lvols {
		require.True(t, l.IsThinProvisioned)
	}
}

func TestIostatAndShallowCopyCaptures(t *testing.T) {
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(readFixture(t, "iostat.bdev_get_iostat.json"), &raw))
	var all, aio Iostat
	decodeStrict(t, "all", raw["bdev_get_iostat"], &all)
	decodeStrict(t, "aio", raw["bdev_get_iostat {name: aio0}"], &aio)
	require.Equal(t, uint64(2100000000), all.TickRate)
	require.Len(t, aio.Bdevs, 1)
	require.Equal(t, "aio0", aio.Bdevs[0].Name)
	require.Positive(t, aio.Bdevs[0].BytesWritten)
	var gone RPCError
	require.NoError(t, json.Unmarshal(raw["bdev_get_iostat {name: lvs-r/snap-x} after its forced removal"], &gone))
	require.ErrorIs(t, &gone, ErrNotFound)

	var sc struct {
		Polls struct {
			Polls []struct {
				Response struct {
					Result json.RawMessage `json:"result"`
				} `json:"response"`
			} `json:"polls"`
		} `json:"all-polls"`
		TooSmall struct {
			Response struct {
				Result json.RawMessage `json:"result"`
			} `json:"response"`
		} `json:"04-run2-check-too-small-dst"`
	}
	require.NoError(t, json.Unmarshal(readFixture(t, "shallow-copy.check_shallow_copy.json"), &sc))
	var st ShallowCopyStatus
	for _, p := range sc.Polls.Polls {
		decodeStrict(t, "poll", p.Response.Result, &st)
	}
	require.Equal(t, ShallowCopyStatus{CopiedClusters: 96, TotalClusters: 96, State: ShallowCopyComplete}, st)
	st = ShallowCopyStatus{}
	decodeStrict(t, "too-small", sc.TooSmall.Response.Result, &st)
	require.Equal(t, ShallowCopyError, st.State)
	require.Equal(t, "Invalid argument", st.Error)
}

func TestDriverSpecificKeepsUnknownModules(t *testing.T) {
	in := `{"nvme":[{"pci_address":"0000:00:04.0"}],"lvol":{"lvol_store_uuid":"u","base_bdev":"b","thin_provision":true,"num_allocated_clusters":3,"snapshot":false,"clone":false,"esnap_clone":false}}`
	var d DriverSpecific
	require.NoError(t, json.Unmarshal([]byte(in), &d))
	require.Contains(t, d.Other, "nvme")
	require.Equal(t, uint64(3), d.Lvol.NumAllocatedClusters)
	out, err := json.Marshal(d)
	require.NoError(t, err)
	require.JSONEq(t, in, string(out))

	require.Error(t, json.Unmarshal([]byte(`{"lvol":{"thin_provision":"yes"}}`), &d))
	require.Error(t, json.Unmarshal([]byte(`[]`), &d))
}
