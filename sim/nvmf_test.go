package sim

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/stretchr/testify/require"
)

const testNQN = "nqn.2016-06.io.spdk:test"

// export creates the TCP transport and subsystem testNQN (as the capture
// did) and adds bdev name as a namespace; it returns the nsid.
func (r *rig) export(name string) uint32 {
	r.t.Helper()
	if _, e := r.call("nvmf_get_subsystems", map[string]any{"nqn": testNQN}); e != nil {
		r.ok("nvmf_create_transport", map[string]any{"trtype": "TCP"}, nil)
		r.ok("nvmf_create_subsystem", map[string]any{"nqn": testNQN, "allow_any_host": true}, nil)
	}
	var nsid uint32
	r.ok("nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": name}}, &nsid)
	return nsid
}

func (r *rig) subsystems() []subsystemJSON {
	r.t.Helper()
	var out []subsystemJSON
	r.ok("nvmf_get_subsystems", nil, &out)
	return out
}

func (r *rig) bdev(name string) (bdevJSON, *RPCError) {
	r.t.Helper()
	var out []bdevJSON
	b, e := r.call("bdev_get_bdevs", map[string]any{"name": name})
	if e != nil {
		return bdevJSON{}, e
	}
	require.NoError(r.t, json.Unmarshal(b, &out))
	require.Len(r.t, out, 1)
	return out[0], nil
}

// TestNvmfExportShape: the answers of an export, value for value where the
// capture fixes them (reload.exported.nvmf_get_subsystems.json): the
// discovery subsystem first, namespace bdev_name, name and uuid = the
// lvol's uuid, nguid its upper-case hex; the lvol bdev claimed
// exclusive_write (reload.transcript, bdev_get_bdevs after add_ns).
func TestNvmfExportShape(t *testing.T) {
	r := newRig(t, Config{})
	_, volUUID, _ := r.setup()
	require.Equal(t, []subsystemJSON{{NQN: DiscoveryNQN, Subtype: "Discovery",
		ListenAddresses: []listenAddrJSON{}, AllowAnyHost: true, Hosts: []spdk.NvmfHost{}}}, r.subsystems(),
		"a target without any NVMe-oF setup still has the discovery subsystem")
	require.Equal(t, uint32(1), r.export("lvs-r/vol"))

	got, e := r.call("nvmf_get_subsystems", nil)
	require.Nil(t, e)
	raw, err := readFixture("reload.exported.nvmf_get_subsystems.json")
	require.NoError(t, err)
	want := strings.ReplaceAll(string(raw), "c76b8c0d-fb78-41cd-bf19-81c310158929", volUUID)
	want = strings.ReplaceAll(want, "C76B8C0DFB7841CDBF1981C310158929", strings.ToUpper(strings.ReplaceAll(volUUID, "-", "")))
	require.JSONEq(t, want, string(got))

	b, e := r.bdev("lvs-r/vol")
	require.Nil(t, e)
	require.True(t, b.Claimed)
	require.Equal(t, "exclusive_write", b.ClaimType)
	snap, _ := r.bdev("lvs-r/snap")
	require.False(t, snap.Claimed)
	require.Empty(t, snap.ClaimType)
	aio, _ := r.bdev("aio0")
	require.Equal(t, "read_many_write_one", aio.ClaimType)

	// A listener is recorded as the real target dumps it.
	r.ok("nvmf_subsystem_add_listener", map[string]any{"nqn": testNQN, "listen_address": map[string]any{
		"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "4420"}}, nil)
	require.Equal(t, []listenAddrJSON{{"TCP", "IPv4", "127.0.0.1", "4420"}}, r.subsystems()[1].ListenAddresses)

	// Removing the namespace releases the claim; deleting the subsystem
	// leaves the discovery subsystem.
	r.ok("nvmf_subsystem_remove_ns", map[string]any{"nqn": testNQN, "nsid": 1}, nil)
	b, _ = r.bdev("lvs-r/vol")
	require.False(t, b.Claimed)
	r.export("lvs-r/vol")
	r.ok("nvmf_delete_subsystem", map[string]any{"nqn": testNQN}, nil)
	require.Len(t, r.subsystems(), 1)
	b, _ = r.bdev("lvs-r/vol")
	require.False(t, b.Claimed, "deleting the subsystem released its namespaces")
}

func readFixture(name string) ([]byte, error) { return os.ReadFile(fixtures + name) }

// TestNvmfErrors: the error answers of lib/nvmf/nvmf_rpc.c.
func TestNvmfErrors(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	r.export("lvs-r/vol")
	invalid := &RPCError{Code: codeInvalidParams, Message: "Invalid parameters"}
	for _, tc := range []struct {
		name   string
		method string
		params any
		want   *RPCError
	}{
		{"duplicate subsystem", "nvmf_create_subsystem", map[string]any{"nqn": testNQN},
			&RPCError{Code: codeInternalError, Message: "Unable to create subsystem " + testNQN}},
		{"subsystem without nqn", "nvmf_create_subsystem", map[string]any{"allow_any_host": true}, invalid},
		{"bad nqn", "nvmf_create_subsystem", map[string]any{"nqn": "test"},
			&RPCError{Code: codeInternalError, Message: "Unable to create subsystem test"}},
		{"add ns to unknown subsystem", "nvmf_subsystem_add_ns", map[string]any{"nqn": "nqn.x:none", "namespace": map[string]any{"bdev_name": "lvs-r/snap"}}, invalid},
		{"add ns of unknown bdev", "nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "nope"}}, invalid},
		{"add ns of a claimed lvol", "nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs-r/vol"}}, invalid},
		{"add ns of the lvstore's base bdev", "nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "aio0"}}, invalid},
		{"add ns with a used nsid", "nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs-r/snap", "nsid": 1}}, invalid},
		{"add ns with unknown namespace key", "nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs-r/snap", "x": 1}}, invalid},
		{"add ns with a bad nguid", "nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs-r/snap", "nguid": "xyz"}}, invalid},
		{"remove unknown nsid", "nvmf_subsystem_remove_ns", map[string]any{"nqn": testNQN, "nsid": 9}, invalid},
		{"delete unknown subsystem", "nvmf_delete_subsystem", map[string]any{"nqn": "nqn.x:none"}, invalid},
		{"get unknown subsystem", "nvmf_get_subsystems", map[string]any{"nqn": "nqn.x:none"}, errNoDev},
		{"listener without transport", "nvmf_subsystem_add_listener", map[string]any{"nqn": testNQN, "listen_address": map[string]any{"trtype": "RDMA", "traddr": "10.0.0.1", "trsvcid": "4420"}}, invalid},
		{"second TCP transport", "nvmf_create_transport", map[string]any{"trtype": "tcp"},
			&RPCError{Code: codeInternalError, Message: "Transport type 'tcp' already exists"}},
		{"PCIe transport", "nvmf_create_transport", map[string]any{"trtype": "PCIe", "max_queue_depth": 128},
			&RPCError{Code: codeInvalidParams, Message: "Invalid transport type 'PCIe'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, e := r.call(tc.method, tc.params)
			require.Equal(t, tc.want, e)
		})
	}
	// Nothing of that changed the export.
	s := r.subsystems()
	require.Len(t, s, 2)
	require.Len(t, *s[1].Namespaces, 1)
}

// TestDeleteExportedLvol: SPDK's bdev_lvol_delete has no claim check
// (vbdev_lvol_destroy → spdk_bdev_unregister, which asks the NVMe-oF
// namespace's descriptor to close: nvmf_ns_hot_remove), so deleting an
// exported lvol succeeds and its namespace silently goes with it. A delete
// refused before the unregister (two clones) keeps the namespace.
func TestDeleteExportedLvol(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	r.export("lvs-r/bystander")
	r.export("lvs-r/snap")
	r.ok("bdev_lvol_clone", map[string]any{"snapshot_name": "lvs-r/snap", "clone_name": "c2"}, nil)
	_, e := r.call("bdev_lvol_delete", map[string]any{"name": "lvs-r/snap"})
	require.Equal(t, internalErr(ePERM), e, "two clones: refused before the unregister")
	require.Len(t, *r.subsystems()[1].Namespaces, 2)

	before := r.log.String()
	r.ok("bdev_lvol_delete", map[string]any{"name": "lvs-r/bystander"}, nil)
	ns := *r.subsystems()[1].Namespaces
	require.Len(t, ns, 1)
	require.Equal(t, r.lvolUUID("snap"), ns[0].BdevName)
	require.NotContains(t, r.log.String()[len(before):], "nvmf", "no log line about the namespace")
	_, ok := r.lvol("bystander")
	require.False(t, ok)
}

// TestAioDeleteDropsNamespaces: bdev_aio_delete removes every namespace of
// its lvstore's lvols, silently, and the reload does not bring them back
// (reload.exported-after-aio-delete.nvmf_get_subsystems.json).
func TestAioDeleteDropsNamespaces(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	r.export("lvs-r/vol")
	before := r.log.String()
	r.ok("bdev_aio_delete", map[string]any{"name": "aio0"}, nil)
	got, e := r.call("nvmf_get_subsystems", nil)
	require.Nil(t, e)
	want, err := readFixture("reload.exported-after-aio-delete.nvmf_get_subsystems.json")
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
	for _, l := range strings.Split(r.log.String()[len(before):], "\n") {
		require.NotContains(t, l, "nvmf", "silent")
	}
	r.ok("bdev_aio_create", map[string]any{"name": "aio0", "filename": r.image, "block_size": 4096}, nil)
	require.Empty(t, *r.subsystems()[1].Namespaces, "the reload does not re-export")
	b, _ := r.bdev("lvs-r/vol")
	require.False(t, b.Claimed)
	require.Equal(t, uint32(1), r.export("lvs-r/vol"), "re-added as the capture did")
}

// TestNvmfNotPersisted: NVMe-oF configuration lives in memory only.
func TestNvmfNotPersisted(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	r.export("lvs-r/vol")
	r.restart(true)
	require.Len(t, r.subsystems(), 1)
	b, _ := r.bdev("lvs-r/vol")
	require.False(t, b.Claimed)
}

// TestNvmfNamespaceIDs: a uuid parameter names the namespace, the nguid
// stays the bdev's uuid unless given (spdk_nvmf_subsystem_add_ns_ext).
func TestNvmfNamespaceIDs(t *testing.T) {
	r := newRig(t, Config{})
	r.setup()
	r.export("lvs-r/vol")
	const u = "0b3c1d2e-0000-4000-8000-000000000001"
	var nsid uint32
	r.ok("nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs-r/snap", "uuid": u, "nsid": 7}}, &nsid)
	require.Equal(t, uint32(7), nsid)
	r.ok("nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs-r/bystander", "nguid": "00112233445566778899aabbccddeeff"}}, &nsid)
	require.Equal(t, uint32(2), nsid, "the lowest free nsid")
	ns := *r.subsystems()[1].Namespaces
	require.Equal(t, []uint32{1, 2, 7}, []uint32{ns[0].NSID, ns[1].NSID, ns[2].NSID}, "by nsid")
	snap := r.lvolUUID("snap")
	require.Equal(t, nsJSON{NSID: 7, BdevName: snap, Name: snap, NGUID: hexID(snap), UUID: u}, ns[2])
	require.Equal(t, "00112233445566778899AABBCCDDEEFF", ns[1].NGUID)
}
