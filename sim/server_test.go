package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/stretchr/testify/require"
)

// served is a target answering on a real unix socket.
type served struct {
	*rig
	sock string
	errc chan error
}

func serve(t *testing.T, cfg Config) *served {
	t.Helper()
	r := newRig(t, cfg)
	// Unix socket paths are short (108 bytes): not under t.TempDir().
	dir, err := os.MkdirTemp("", "simsock")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &served{rig: r, sock: filepath.Join(dir, "spdk.sock"), errc: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { s.errc <- r.tgt.Serve(ctx, s.sock) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.errc:
			require.NoError(t, err, "Serve ends cleanly")
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", s.sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 2*time.Second, 5*time.Millisecond)
	return s
}

// conn is a raw JSON-RPC connection (no framing, as rpc.py).
type conn struct {
	t   *testing.T
	c   net.Conn
	dec *json.Decoder
	id  int
}

func (s *served) dial() *conn {
	s.t.Helper()
	c, err := net.Dial("unix", s.sock)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { c.Close() })
	return &conn{t: s.t, c: c, dec: json.NewDecoder(c)}
}

type wireResp struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *RPCError       `json:"error"`
}

func (c *conn) send(method string, params any) int {
	c.t.Helper()
	c.id++
	req := map[string]any{"jsonrpc": "2.0", "method": method, "id": c.id}
	if params != nil {
		req["params"] = params
	}
	b, err := json.Marshal(req)
	require.NoError(c.t, err)
	_, err = c.c.Write(b)
	require.NoError(c.t, err)
	return c.id
}

func (c *conn) recv() wireResp {
	c.t.Helper()
	require.NoError(c.t, c.c.SetReadDeadline(time.Now().Add(5*time.Second)))
	var r wireResp
	require.NoError(c.t, c.dec.Decode(&r))
	return r
}

func (c *conn) call(method string, params any) wireResp {
	c.t.Helper()
	id := c.send(method, params)
	r := c.recv()
	require.JSONEq(c.t, itoa(id), string(r.ID))
	require.Equal(c.t, "2.0", r.JSONRPC)
	return r
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestServerStreamAndErrors(t *testing.T) {
	s := serve(t, Config{})
	c := s.dial()
	// Two requests in one write, split oddly: a stream with no framing.
	_, err := c.c.Write([]byte(`{"jsonrpc":"2.0","method":"spdk_get_version","id":1}{"jsonrpc":"2.0",`))
	require.NoError(t, err)
	_, err = c.c.Write([]byte(`"method":"notify_get_types","id":"x"}`))
	require.NoError(t, err)
	r1, r2 := c.recv(), c.recv()
	require.JSONEq(t, `1`, string(r1.ID))
	require.JSONEq(t, `"x"`, string(r2.ID))
	require.JSONEq(t, `["fsdev_register","fsdev_unregister","bdev_register","bdev_unregister"]`, string(r2.Result))

	r := c.call("bdev_lvol_stop_snapshot_checksum", map[string]any{"name": "x"})
	require.Equal(t, &RPCError{-32601, "Method not found"}, r.Error)
	_, err = c.c.Write([]byte(`{"jsonrpc":"2.0","method":7,"id":9}`))
	require.NoError(t, err)
	r = c.recv()
	require.Equal(t, codeInvalidRequest, r.Error.Code)

	// Garbage: parse error, then the connection is closed.
	_, err = c.c.Write([]byte(`}{`))
	require.NoError(t, err)
	r = c.recv()
	require.Equal(t, &RPCError{-32700, "Parse error"}, r.Error)
	var more wireResp
	require.Error(t, c.dec.Decode(&more))

	// A request over the 32 KiB bound: the connection closes unanswered.
	big := s.dial()
	_, _ = big.c.Write([]byte(`{"jsonrpc":"2.0","method":"x","params":{"a":"` + strings.Repeat("a", 40<<10) + `"}}`))
	require.NoError(t, big.c.SetReadDeadline(time.Now().Add(5*time.Second)))
	require.Error(t, big.dec.Decode(&more), "closed (EOF or reset)")
	// Just under it is fine.
	ok := s.dial()
	r = ok.call("bdev_get_bdevs", map[string]any{"name": strings.Repeat("b", 30<<10)})
	require.Equal(t, errNoDev, r.Error)
}

// TestAnswersMatchCapturedShapes drives the sim over its socket through
// every method the fixtures captured and compares each answer's shape
// (field names and JSON types) with the real target's answers.
func TestAnswersMatchCapturedShapes(t *testing.T) {
	union, inter := capturedShapes(t)
	s := serve(t, Config{OpDuration: 100 * time.Millisecond})
	second := filepath.Join(t.TempDir(), "second.img")
	require.NoError(t, os.WriteFile(second, make([]byte, 16<<20), 0o644))
	c := s.dial()
	got := map[string][]json.RawMessage{}
	call := func(method string, params any) json.RawMessage {
		r := c.call(method, params)
		require.Nil(t, r.Error, "%s: %v", method, r.Error)
		got[method] = append(got[method], r.Result)
		return r.Result
	}
	call("spdk_get_version", nil)
	call("framework_wait_init", nil)
	call("rpc_get_methods", nil)
	call("notify_get_types", nil)
	call("bdev_aio_create", map[string]any{"name": "aio1", "filename": second, "block_size": 4096})
	call("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs0", "cluster_sz": 1 << 20})
	call("bdev_lvol_create", map[string]any{"lvol_name": "vol-thin", "size_in_mib": 16, "thin_provision": true, "lvs_name": "lvs0"})
	call("bdev_lvol_create", map[string]any{"lvol_name": "vol-thick", "size_in_mib": 8, "thin_provision": false, "lvs_name": "lvs0"})
	call("sim_lvol_write", map[string]any{"name": "lvs0/vol-thin", "offset": 0, "length": 3 << 20})
	call("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs0/vol-thin", "snapshot_name": "snap1"})
	call("bdev_lvol_clone", map[string]any{"snapshot_name": "lvs0/snap1", "clone_name": "clone1"})
	call("bdev_lvol_set_xattr", map[string]any{"name": "lvs0/vol-thick", "xattr_name": "longhorn.io/owner", "xattr_value": "replica-a"})
	call("bdev_lvol_get_xattr", map[string]any{"name": "lvs0/vol-thick", "xattr_name": "longhorn.io/owner"})
	call("bdev_lvol_resize", map[string]any{"name": "lvs0/vol-thick", "size_in_mib": 12})
	call("bdev_lvol_create", map[string]any{"lvol_name": "vol-old-name", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs0"})
	call("bdev_lvol_rename", map[string]any{"old_name": "lvs0/vol-old-name", "new_name": "vol-renamed"})
	call("bdev_lvol_create", map[string]any{"lvol_name": "ro", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs0"})
	call("bdev_lvol_set_read_only", map[string]any{"name": "lvs0/ro"})
	call("bdev_lvol_get_lvstores", nil)
	call("bdev_lvol_get_lvols", nil)
	call("bdev_get_bdevs", nil)
	call("bdev_wait_for_examine", nil)
	call("nvmf_get_subsystems", nil)
	call("nvmf_create_transport", map[string]any{"trtype": "TCP"})
	call("nvmf_create_subsystem", map[string]any{"nqn": testNQN, "allow_any_host": true})
	call("nvmf_get_subsystems", nil)
	call("nvmf_subsystem_add_ns", map[string]any{"nqn": testNQN, "namespace": map[string]any{"bdev_name": "lvs0/vol-thick"}})
	call("nvmf_get_subsystems", nil)
	call("bdev_get_bdevs", nil)
	call("nvmf_subsystem_add_listener", map[string]any{"nqn": testNQN, "listen_address": map[string]any{
		"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "4420"}})
	call("nvmf_get_subsystems", nil)
	call("nvmf_subsystem_remove_ns", map[string]any{"nqn": testNQN, "nsid": 1})
	call("nvmf_delete_subsystem", map[string]any{"nqn": testNQN})
	call("bdev_get_iostat", nil)
	call("bdev_get_iostat", map[string]any{"name": "aio0"})
	call("bdev_aio_delete", map[string]any{"name": "aio1"})
	call("bdev_lvol_register_snapshot_checksum", map[string]any{"name": "lvs0/snap1"})
	call("bdev_lvol_get_snapshot_checksum", map[string]any{"name": "lvs0/snap1"})
	call("bdev_lvol_create", map[string]any{"lvol_name": "dst", "size_in_mib": 16, "thin_provision": true, "lvs_name": "lvs0"})
	var op struct {
		OperationID int `json:"operation_id"`
	}
	require.NoError(t, json.Unmarshal(call("bdev_lvol_start_shallow_copy", map[string]any{"src_lvol_name": "lvs0/snap1", "dst_bdev_name": "lvs0/dst"}), &op))
	for {
		var st spdk.ShallowCopyStatus
		require.NoError(t, json.Unmarshal(call("bdev_lvol_check_shallow_copy", map[string]any{"operation_id": op.OperationID}), &st))
		if st.State != "in progress" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	call("bdev_lvol_create", map[string]any{"lvol_name": "vol-gone", "size_in_mib": 4, "thin_provision": true, "lvs_name": "lvs0"})
	call("bdev_lvol_delete", map[string]any{"name": "lvs0/vol-gone"})
	call("notify_get_notifications", nil)
	call("spdk_kill_instance", map[string]any{"sig_name": "SIGINT"})

	compareWithCaptures(t, s.tgt, got, union, inter)
	select {
	case <-s.tgt.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("spdk_kill_instance SIGINT did not stop the target")
	}
}

// compareWithCaptures compares the shapes of the sim's answers, method by
// method, with what the real target answered in the captures: every
// captured method the sim offers must have been exercised.
func compareWithCaptures(t *testing.T, tgt *Target, got map[string][]json.RawMessage, union, inter map[string]map[string]bool) {
	compared := 0
	for method, answers := range got {
		if union[method] == nil {
			continue // not captured from the real target
		}
		all := map[string]bool{}
		for _, a := range answers {
			sh, err := shape(a)
			require.NoError(t, err)
			for k := range sh {
				all[k] = true
			}
		}
		compareShapes(t, method, all, union[method], inter[method])
		compared++
	}
	// Every method the sim offers that the real target answered is compared.
	for _, m := range tgt.Methods() {
		if union[m] != nil {
			_, ok := got[m]
			require.True(t, ok, "captured method %s not exercised", m)
		}
	}
	require.GreaterOrEqual(t, compared, 24, "methods compared with captures")
	for _, m := range []string{"bdev_get_bdevs", "bdev_lvol_get_lvols", "bdev_lvol_get_lvstores", "nvmf_get_subsystems"} {
		captured := elementShapes(t, m)
		for _, a := range got[m] {
			requireSameElementShape(t, m, a, captured)
		}
	}
}

// TestConcurrentClients: many connections creating, listing and deleting
// at once (run with -race), and a 65th connection waits for a free slot.
func TestConcurrentClients(t *testing.T) {
	s := serve(t, Config{Size: 256 << 20})
	c := s.dial()
	require.Nil(t, c.call("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs", "cluster_sz": 1 << 20}).Error)
	const workers = 8
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		cw := s.dial()
		go func(w int) {
			for i := 0; i < 10; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				for _, step := range []struct {
					m string
					p any
				}{
					{"bdev_lvol_create", map[string]any{"lvol_name": name, "size_in_mib": 2, "thin_provision": i%2 == 0, "lvs_name": "lvs"}},
					{"bdev_lvol_get_lvols", nil},
					{"bdev_get_bdevs", nil},
					{"bdev_lvol_delete", map[string]any{"name": "lvs/" + name}},
				} {
					if r := cw.call(step.m, step.p); r.Error != nil {
						errs <- fmt.Errorf("%s %s: %v", step.m, name, r.Error)
						return
					}
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < workers; w++ {
		require.NoError(t, <-errs)
	}
	var lvs []spdk.Lvstore
	require.NoError(t, json.Unmarshal(c.call("bdev_lvol_get_lvstores", nil).Result, &lvs))
	require.Equal(t, lvs[0].TotalDataClusters, lvs[0].FreeClusters, "every cluster came back")

	// 64 connections are served; the 65th waits in the backlog.
	held := make([]net.Conn, 0, maxConns)
	for len(held) < maxConns-workers-1 { // c and the workers hold the rest
		cn, err := net.Dial("unix", s.sock)
		require.NoError(t, err)
		held = append(held, cn)
		defer cn.Close()
	}
	extra := s.dial()
	extra.send("spdk_get_version", nil)
	require.NoError(t, extra.c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	var r wireResp
	require.Error(t, extra.dec.Decode(&r), "no slot: no answer yet")
	held[0].Close()
	extra.dec = json.NewDecoder(extra.c) // a Decoder keeps its first error
	require.NoError(t, extra.c.SetReadDeadline(time.Now().Add(5*time.Second)))
	require.NoError(t, extra.dec.Decode(&r), "answered once a slot frees")
}

func TestFlavorMethodLists(t *testing.T) {
	var real []string
	readJSON(t, fixtures+"notify.rpc_get_methods.json", &real)
	inReal := map[string]bool{}
	for _, m := range real {
		inReal[m] = true
	}
	lists := map[string][]string{}
	for _, f := range []string{FlavorLonghornV2409, FlavorLonghorn, FlavorUpstream} {
		h, listed, err := methodsFor(f)
		require.NoError(t, err)
		for _, m := range listed {
			require.NotNil(t, h[m], "%s lists %s without implementing it", f, m)
		}
		_, simOnly := h["sim_lvol_write"]
		require.True(t, simOnly)
		require.NotContains(t, listed, "sim_lvol_write")
		lists[f] = listed
	}
	for _, m := range lists[FlavorLonghornV2409] {
		require.True(t, inReal[m], "%s is not offered by the real v24.09 target", m)
	}
	// In the real answer's order.
	pos := map[string]int{}
	for i, m := range real {
		pos[m] = i
	}
	for i := 1; i < len(lists[FlavorLonghornV2409]); i++ {
		prev, cur := lists[FlavorLonghornV2409][i-1], lists[FlavorLonghornV2409][i]
		require.Less(t, pos[prev], pos[cur], "%s listed before %s", prev, cur)
	}
	// What guarded deletion and repair --reload use, in every flavour
	// (upstream SPDK has them too).
	for _, f := range []string{FlavorLonghornV2409, FlavorLonghorn, FlavorUpstream} {
		for _, m := range []string{"nvmf_get_subsystems", "nvmf_create_subsystem", "nvmf_delete_subsystem",
			"nvmf_subsystem_add_ns", "nvmf_subsystem_remove_ns", "nvmf_subsystem_add_listener",
			"nvmf_create_transport", "bdev_get_iostat", "bdev_aio_delete", "bdev_aio_create"} {
			require.Contains(t, lists[f], m, f)
		}
	}
	require.NotContains(t, lists[FlavorLonghornV2409], "bdev_lvol_stop_snapshot_checksum")
	require.Contains(t, lists[FlavorLonghorn], "bdev_lvol_stop_snapshot_checksum")
	require.Len(t, lists[FlavorLonghorn], len(lists[FlavorLonghornV2409])+1)
	for m := range longhornOnly {
		require.NotContains(t, lists[FlavorUpstream], m)
	}
	require.Contains(t, lists[FlavorUpstream], "bdev_lvol_start_shallow_copy")
	_, _, err := methodsFor("nope")
	require.Error(t, err)
}

func TestSocketInUse(t *testing.T) {
	s := serve(t, Config{})
	other, err := New(Config{})
	require.NoError(t, err)
	defer other.Crash()
	err = other.Serve(context.Background(), s.sock)
	require.ErrorIs(t, err, ErrSocketInUse)
	// The first one still answers.
	require.Nil(t, s.dial().call("spdk_get_version", nil).Error)
}
