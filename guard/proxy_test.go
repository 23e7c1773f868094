package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/spdk"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// memSink keeps records for tests.
type memSink struct {
	mu   sync.Mutex
	recs []journal.GuardRecord
}

func (s *memSink) Record(r journal.GuardRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
}

func (s *memSink) actions() []journal.GuardAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []journal.GuardAction
	for _, r := range s.recs {
		out = append(out, r.Action)
	}
	return out
}

type running struct {
	Sock string
	P    *Proxy
	Sink *memSink
	stop context.CancelFunc
	done chan error
}

// startGuard runs a guard in front of target until the test ends.
func startGuard(t testing.TB, target string, cfg Config) *running {
	t.Helper()
	dir, err := os.MkdirTemp("", "grd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "g.sock")
	cfg.Target = target
	if cfg.Drain == 0 {
		cfg.Drain = 5 * time.Second // a failed test must not wait an hour for a call it left hanging
	}
	sink := &memSink{}
	if cfg.Sink == nil {
		cfg.Sink = sink
	}
	if cfg.Log.GetLevel() == zerolog.DebugLevel && false {
		cfg.Log = zerolog.Nop()
	}
	p, err := New(context.Background(), cfg)
	require.NoError(t, err)
	ln, err := Listen(sock)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Sock: sock, P: p, Sink: sink, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Stop is SIGTERM: it returns once Serve has.
func (r *running) Stop(t testing.TB) {
	r.stop()
	select {
	case err, ok := <-r.done:
		if ok {
			require.NoError(t, err)
			close(r.done)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("guard did not stop")
	}
}

// heldTarget is a fake target that lists lvols (fakeLvols), answers
// deletes, and answers the held method only once release is closed.
func heldTarget(t *testing.T, held string, lvols map[string]string, clones ...map[string][]string) (*rpctest.Server, chan struct{}) {
	s := rpctest.Start(t)
	fakeLvols(s, lvols, clones...)
	release := make(chan struct{})
	s.Handle(held, trueOnRelease(release))
	s.HandleResult("bdev_lvol_delete", true)
	return s, release
}

// fakeLvols answers bdev_get_bdevs {"name"} for lvols: alias or uuid.
// clones maps a snapshot alias to its clones' names.
func fakeLvols(s *rpctest.Server, lvols map[string]string, clones ...map[string][]string) {
	s.Handle("bdev_get_bdevs", func(_ context.Context, params json.RawMessage) (any, error) {
		var p struct{ Name string }
		_ = json.Unmarshal(params, &p)
		for alias, u := range lvols {
			if p.Name == alias || p.Name == u {
				lv := map[string]any{"lvol_store_uuid": "ls"}
				if len(clones) > 0 {
					lv["clones"] = clones[0][alias]
				}
				return []map[string]any{{"name": u, "aliases": []string{alias}, "uuid": u,
					"driver_specific": map[string]any{"lvol": lv}}}, nil
			}
		}
		return nil, &rpctest.Error{Code: -19, Message: "No such device"}
	})
}

func dialRaw(t testing.TB, sock string) (net.Conn, *json.Decoder) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, json.NewDecoder(c)
}

type ans struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *spdk.RPCError  `json:"error"`
}

func read(t testing.TB, c net.Conn, dec *json.Decoder) ans {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var a ans
	require.NoError(t, dec.Decode(&a))
	return a
}

// TestPassThroughBytes: what the client reads through the guard is, byte
// for byte, what it reads from the target; requests back to back, split
// anywhere, any method.
func TestPassThroughBytes(t *testing.T) {
	s := rpctest.Start(t)
	big := strings.Repeat("x", 1<<20) // an answer of many read buffers streams through
	s.HandleResult("spdk_get_version", map[string]any{"version": "SPDK v24.09", "fields": map[string]int{"major": 24}})
	s.HandleResult("big", big)
	s.HandleResult("unknown_method_of_a_newer_spdk", []int{1, 2, 3})
	g := startGuard(t, s.Path, Config{})
	reqs := `{"jsonrpc":"2.0","method":"spdk_get_version","id":1}` + "\n\t " +
		`{"jsonrpc":"2.0","method":"big","id":"s\"}"}{"jsonrpc":"2.0","method":"unknown_method_of_a_newer_spdk","id":[3],"params":{"a":"}{"}}`
	get := func(sock string) []byte {
		c, err := net.Dial("unix", sock)
		require.NoError(t, err)
		defer c.Close()
		for i := 0; i < len(reqs); i += 7 { // split mid-frame, mid-string
			_, err := c.Write([]byte(reqs[i:min(i+7, len(reqs))]))
			require.NoError(t, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var out []byte
		var f Framer
		buf := make([]byte, 64<<10)
		for frames := 0; frames < 3; {
			n, err := c.Read(buf)
			out = append(out, buf[:n]...)
			for p := buf[:n]; len(p) > 0; {
				k, ended, ferr := f.Scan(p)
				require.NoError(t, ferr)
				if ended {
					frames++
				}
				p = p[k:]
			}
			require.NoError(t, err)
		}
		return out
	}
	direct, proxied := get(s.Path), get(g.Sock)
	require.Greater(t, len(direct), 1<<20)
	// the fake target answers in completion order, as SPDK does: compare
	// the answers, each byte for byte
	require.ElementsMatch(t, splitFrames(t, direct), splitFrames(t, proxied))
}

func splitFrames(t testing.TB, b []byte) []string {
	var f Framer
	var out []string
	for len(b) > 0 {
		n, ended, err := f.Scan(b)
		require.NoError(t, err)
		require.True(t, ended)
		out = append(out, string(b[:n]))
		b = b[n:]
	}
	return out
}

// TestChecksumHoldsDelete: a delete of a snapshot whose checksum is in
// flight is answered busy by the guard, with the client's id, and never
// reaches the target; by uuid too; another lvol's delete goes through;
// after the checksum's answer the same delete is forwarded.
func TestChecksumHoldsDelete(t *testing.T) {
	s, release := heldTarget(t, "bdev_lvol_register_snapshot_checksum", map[string]string{"lvs/snap": "u-snap", "lvs/other": "u-other"})
	g := startGuard(t, s.Path, Config{})

	cs, csDec := dialRaw(t, g.Sock)
	sent(t, s, cs, "bdev_lvol_register_snapshot_checksum", 1, `{"jsonrpc":"2.0","method":"bdev_lvol_register_snapshot_checksum","id":1,"params":{"name":"lvs/snap"}}`)

	d, dDec := dialRaw(t, g.Sock)
	for _, tc := range []struct{ id, name string }{{`"del-1"`, "lvs/snap"}, {`7`, "u-snap"}} {
		_, err := fmt.Fprintf(d, `{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":%s,"params":{"name":%q}}`, tc.id, tc.name)
		require.NoError(t, err)
		a := read(t, d, dDec)
		require.JSONEq(t, tc.id, string(a.ID))
		require.NotNil(t, a.Error, tc.name)
		require.Equal(t, spdk.CodeInternalError, a.Error.Code)
		require.Equal(t, BusyMessage, a.Error.Message)
	}
	_, err := d.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","params":{"name":"lvs/snap"}}`)) // no id
	require.NoError(t, err)
	require.Eventually(t, func() bool { return g.P.Metrics().DeletesRefused.Load() == 3 }, 5*time.Second, time.Millisecond)
	require.Zero(t, s.Calls("bdev_lvol_delete"), "a refused delete never reaches the target")
	_, err = d.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":8,"params":{"name":"lvs/other"}}`))
	require.NoError(t, err)
	a := read(t, d, dDec)
	require.JSONEq(t, "true", string(a.Result))

	close(release)
	a = read(t, cs, csDec)
	require.JSONEq(t, "true", string(a.Result))
	require.Eventually(t, func() bool { return g.P.Tracker().Len() == 0 }, 5*time.Second, time.Millisecond)
	_, err = d.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":9,"params":{"name":"lvs/snap"}}`))
	require.NoError(t, err)
	a = read(t, d, dDec)
	require.JSONEq(t, "9", string(a.ID))
	require.JSONEq(t, "true", string(a.Result))
	require.Eventually(t, func() bool { return len(g.Sink.actions()) == 5 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []journal.GuardAction{journal.GuardRefused, journal.GuardRefused, journal.GuardRefused, journal.GuardAnswered, journal.GuardAnswered}, g.Sink.actions())
	require.Equal(t, int64(3), g.P.Metrics().DeletesRefused.Load())
	require.Equal(t, "u-snap", g.Sink.recs[0].LvolUUID)
}

// TestDeleteWait: with DeleteWait the delete is held until the checksum's
// answer, then forwarded; a holder that outlives DeleteWait gets busy.
func TestDeleteWait(t *testing.T) {
	s, release := heldTarget(t, "bdev_lvol_register_snapshot_checksum", map[string]string{"lvs/snap": "u-snap"})
	g := startGuard(t, s.Path, Config{DeleteWait: time.Second})
	cs, csDec := dialRaw(t, g.Sock)
	checksum := func(id int) {
		sent(t, s, cs, "bdev_lvol_register_snapshot_checksum", id, fmt.Sprintf(`{"jsonrpc":"2.0","method":"bdev_lvol_register_snapshot_checksum","id":%d,"params":{"name":"lvs/snap"}}`, id))
	}
	checksum(1)
	d, dDec := dialRaw(t, g.Sock)
	t0 := time.Now()
	_, err := d.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":1,"params":{"name":"lvs/snap"}}`))
	require.NoError(t, err)
	a := read(t, d, dDec)
	require.NotNil(t, a.Error, "held past DeleteWait: busy")
	require.GreaterOrEqual(t, time.Since(t0), time.Second)
	require.Zero(t, s.Calls("bdev_lvol_delete"))

	_, err = d.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":2,"params":{"name":"lvs/snap"}}`))
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	close(release)
	a = read(t, d, dDec)
	require.JSONEq(t, "true", string(a.Result), "forwarded once the checksum ended")
	require.Equal(t, 1, s.Calls("bdev_lvol_delete"))
	read(t, cs, csDec)
	require.Eventually(t, func() bool { return len(g.Sink.actions()) == 4 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []journal.GuardAction{journal.GuardDelayed, journal.GuardRefused, journal.GuardDelayed, journal.GuardAnswered}, g.Sink.actions())
}

// TestShallowCopyPolledByGuard: a copy holds its source until the guard's
// own poll reads "complete"; the client's later check gets that status
// (the target forgets a finished copy once its end is read).
func TestShallowCopyPolledByGuard(t *testing.T) {
	s := rpctest.Start(t)
	fakeLvols(s, map[string]string{"lvs/snap": "u-snap"})
	var mu sync.Mutex
	state, read1 := "in progress", false
	s.HandleResult("bdev_lvol_start_shallow_copy", map[string]int{"operation_id": 5})
	s.Handle("bdev_lvol_check_shallow_copy", func(context.Context, json.RawMessage) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if read1 {
			return nil, &rpctest.Error{Code: -19, Message: "operation id '5' does not exist"}
		}
		if state == "complete" {
			read1 = true
		}
		return map[string]any{"copied_clusters": 1, "total_clusters": 1, "state": state}, nil
	})
	s.HandleResult("bdev_lvol_delete", true)
	g := startGuard(t, s.Path, Config{CopyPoll: 50 * time.Millisecond})
	c, dec := dialRaw(t, g.Sock)
	_, err := c.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_start_shallow_copy","id":1,"params":{"src_lvol_name":"lvs/snap","dst_bdev_name":"slow0"}}`))
	require.NoError(t, err)
	a := read(t, c, dec)
	require.JSONEq(t, `{"operation_id":5}`, string(a.Result))
	_, err = c.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":2,"params":{"name":"u-snap"}}`))
	require.NoError(t, err)
	a = read(t, c, dec)
	require.NotNil(t, a.Error)
	require.Equal(t, BusyMessage, a.Error.Message)

	mu.Lock()
	state = "complete"
	mu.Unlock()
	require.Eventually(t, func() bool { return g.P.Tracker().Len() == 0 }, 5*time.Second, 5*time.Millisecond, "the guard's poll ends the copy")
	_, err = c.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_check_shallow_copy","id":3,"params":{"operation_id":5}}`))
	require.NoError(t, err)
	a = read(t, c, dec)
	require.JSONEq(t, "3", string(a.ID))
	require.Nil(t, a.Error, "the client still reads the end the guard read for it")
	require.Contains(t, string(a.Result), `"complete"`)
	_, err = c.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":4,"params":{"name":"lvs/snap"}}`))
	require.NoError(t, err)
	a = read(t, c, dec)
	require.JSONEq(t, "true", string(a.Result))
}

// TestLockedOpsAndRename: a resize in flight holds its lvol; the hold
// follows the lvol's uuid, so a delete under a new name is refused too.
func TestLockedOpsAndRename(t *testing.T) {
	s := rpctest.Start(t)
	lv := map[string]string{"lvs/a": "u-a"}
	var mu sync.Mutex
	s.Handle("bdev_get_bdevs", func(_ context.Context, params json.RawMessage) (any, error) {
		var p struct{ Name string }
		_ = json.Unmarshal(params, &p)
		mu.Lock()
		defer mu.Unlock()
		for alias, u := range lv {
			if p.Name == alias || p.Name == u {
				return []map[string]any{{"name": u, "uuid": u, "aliases": []string{alias}, "driver_specific": map[string]any{"lvol": map[string]any{}}}}, nil
			}
		}
		return nil, &rpctest.Error{Code: -19, Message: "No such device"}
	})
	release := make(chan struct{})
	s.Handle("bdev_lvol_resize", trueOnRelease(release))
	s.HandleResult("bdev_lvol_delete", true)
	g := startGuard(t, s.Path, Config{})
	r, rDec := dialRaw(t, g.Sock)
	sent(t, s, r, "bdev_lvol_resize", 1, `{"jsonrpc":"2.0","method":"bdev_lvol_resize","id":1,"params":{"name":"lvs/a","size_in_mib":8}}`)
	// The hold resolves its names in the background: the rename comes
	// after the guard learnt the uuid (Holders waits for that).
	hs, _ := g.P.Tracker().Holders(context.Background(), "lvs/a")
	require.Len(t, hs, 1)
	mu.Lock()
	delete(lv, "lvs/a")
	lv["lvs/b"] = "u-a" // renamed (by a client the guard does not see)
	mu.Unlock()
	d, dDec := dialRaw(t, g.Sock)
	_, err := d.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":1,"params":{"name":"lvs/b"}}`))
	require.NoError(t, err)
	a := read(t, d, dDec)
	require.NotNil(t, a.Error)
	close(release)
	read(t, r, rDec)
}

// TestMalformedForwarded: bytes that are not JSON-RPC go to the target,
// which answers them; the guard passes its answer through.
func TestMalformedForwarded(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleError("bdev_lvol_delete", -32602, "Invalid parameters")
	g := startGuard(t, s.Path, Config{})
	for _, bad := range []string{`{"method": bdev_lvol_delete}`, `nonsense`, `{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":1,"params":"x"}`} {
		t.Run(bad, func(t *testing.T) {
			direct := rawExchange(t, s.Path, bad)
			proxied := rawExchange(t, g.Sock, bad)
			require.NotEmpty(t, direct)
			require.Equal(t, direct, proxied)
		})
	}
}

// rawExchange sends b and reads what comes back until the peer closes or
// stays silent for a while.
func rawExchange(t *testing.T, sock, b string) string {
	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(b))
	require.NoError(t, err)
	var out []byte
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

// TestClientGoneMidCall: a client that leaves while its checksum runs does
// not end the hold: the target still runs the checksum, and the guard
// waits for its answer.
func TestClientGoneMidCall(t *testing.T) {
	s := rpctest.Start(t)
	fakeLvols(s, map[string]string{"lvs/snap": "u-snap"})
	release := make(chan struct{})
	s.Handle("bdev_lvol_register_snapshot_checksum", trueOnRelease(release))
	g := startGuard(t, s.Path, Config{})
	c, err := net.Dial("unix", g.Sock)
	require.NoError(t, err)
	sent(t, s, c, "bdev_lvol_register_snapshot_checksum", 1, `{"jsonrpc":"2.0","method":"bdev_lvol_register_snapshot_checksum","id":1,"params":{"name":"lvs/snap"}}`)
	c.Close()
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, 1, g.P.Tracker().Len(), "the checksum still runs")
	close(release)
	require.Eventually(t, func() bool { return g.P.Tracker().Len() == 0 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return g.P.Metrics().ConnsOpen.Load() == 0 }, 5*time.Second, time.Millisecond)
}

// TestTargetGoneMidCall: the target dropping the connection mid-call
// reaches the client as a closed connection, and ends the call's hold.
func TestTargetGoneMidCall(t *testing.T) {
	s := rpctest.Start(t)
	fakeLvols(s, map[string]string{"lvs/snap": "u-snap"})
	s.HandleResult("bdev_lvol_register_snapshot_checksum", true)
	s.SetFault("bdev_lvol_register_snapshot_checksum", rpctest.Fault{Kind: rpctest.FaultTruncate})
	g := startGuard(t, s.Path, Config{})
	c, dec := dialRaw(t, g.Sock)
	_, err := c.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_register_snapshot_checksum","id":1,"params":{"name":"lvs/snap"}}`))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var a ans
	require.Error(t, dec.Decode(&a))
	require.Eventually(t, func() bool { return g.P.Tracker().Len() == 0 }, 5*time.Second, time.Millisecond)
}

// TestShutdownFinishesInFlight: on stop the guard accepts no one new, but
// a call in flight gets its answer.
func TestShutdownFinishesInFlight(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("slow", "done")
	s.SetFault("slow", rpctest.Fault{Kind: rpctest.FaultDelay, Delay: 300 * time.Millisecond})
	g := startGuard(t, s.Path, Config{})
	c, dec := dialRaw(t, g.Sock)
	sent(t, s, c, "slow", 1, `{"jsonrpc":"2.0","method":"slow","id":1}`)
	stopped := make(chan struct{})
	go func() { g.Stop(t); close(stopped) }()
	require.Eventually(t, func() bool {
		c2, err := net.Dial("unix", g.Sock)
		if err == nil {
			c2.Close()
		}
		return err != nil
	}, 5*time.Second, 5*time.Millisecond, "no longer accepting")
	a := read(t, c, dec)
	require.JSONEq(t, `"done"`, string(a.Result))
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the in-flight call ended")
	}
}

// TestConcurrentCallsOneConnection: calls pipelined on one connection all
// get their answers, matched by id, in the order the target sent them.
func TestConcurrentCallsOneConnection(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("echo", func(_ context.Context, p json.RawMessage) (any, error) { return p, nil })
	g := startGuard(t, s.Path, Config{})
	c, err := net.Dial("unix", g.Sock)
	require.NoError(t, err)
	defer c.Close()
	w := bufio.NewWriter(c)
	const n = 500
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, `{"jsonrpc":"2.0","method":"echo","id":%d,"params":{"i":%d}}`, i, i)
	}
	require.NoError(t, w.Flush())
	dec := json.NewDecoder(c)
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		a := read(t, c, dec)
		var p struct{ I int }
		require.NoError(t, json.Unmarshal(a.Result, &p))
		require.Equal(t, string(a.ID), fmt.Sprint(p.I))
		seen[string(a.ID)] = true
	}
	require.Len(t, seen, n)
}

// TestRestartKeepsHolds: a guard that stops while a copy runs and a
// checksum is in flight leaves them in its state file; the next guard (same
// target run) takes them over: the copy until its poll reads the end, the
// checksum for InheritedHold.
func TestRestartKeepsHolds(t *testing.T) {
	s := rpctest.Start(t)
	fakeLvols(s, map[string]string{"lvs/snap": "u-snap", "lvs/csnap": "u-csnap"})
	var mu sync.Mutex
	state := "in progress"
	s.HandleResult("bdev_lvol_start_shallow_copy", map[string]int{"operation_id": 5})
	s.Handle("bdev_lvol_check_shallow_copy", func(context.Context, json.RawMessage) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return map[string]any{"copied_clusters": 1, "total_clusters": 2, "state": state}, nil
	})
	s.Handle("bdev_lvol_register_snapshot_checksum", func(ctx context.Context, _ json.RawMessage) (any, error) {
		<-ctx.Done() // answers never: the guard stops first
		return true, nil
	})
	s.HandleResult("bdev_lvol_delete", true)
	stateFile := filepath.Join(t.TempDir(), "guard-holds.json")

	g1 := startGuard(t, s.Path, Config{StateFile: stateFile, Drain: 100 * time.Millisecond, CopyPoll: time.Hour})
	c, dec := dialRaw(t, g1.Sock)
	_, err := c.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_start_shallow_copy","id":1,"params":{"src_lvol_name":"lvs/snap","dst_bdev_name":"slow0"}}`))
	require.NoError(t, err)
	read(t, c, dec)
	sent(t, s, c, "bdev_lvol_register_snapshot_checksum", 1, `{"jsonrpc":"2.0","method":"bdev_lvol_register_snapshot_checksum","id":2,"params":{"name":"lvs/csnap"}}`)
	g1.Stop(t)

	g2 := startGuard(t, s.Path, Config{StateFile: stateFile, CopyPoll: 50 * time.Millisecond, InheritedHold: time.Second})
	require.Equal(t, 2, g2.P.Tracker().Len(), "both holds taken over")
	d, dDec := dialRaw(t, g2.Sock)
	for i, name := range []string{"lvs/snap", "u-csnap"} {
		_, err = fmt.Fprintf(d, `{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":%d,"params":{"name":%q}}`, i, name)
		require.NoError(t, err)
		a := read(t, d, dDec)
		require.NotNil(t, a.Error, name)
	}
	mu.Lock()
	state = "complete"
	mu.Unlock()
	require.Eventually(t, func() bool { return g2.P.Tracker().Len() == 0 }, 5*time.Second, 10*time.Millisecond,
		"the copy ends by the poll, the inherited checksum by its bound")
	_, err = d.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":9,"params":{"name":"lvs/csnap"}}`))
	require.NoError(t, err)
	require.JSONEq(t, "true", string(read(t, d, dDec).Result))
}

// TestCloneOpHoldsSnapshotDelete: deleting a snapshot merges it into its
// one clone, which SPDK refuses busy while the clone has an operation in
// flight: the guard refuses it too. Another snapshot goes through.
func TestCloneOpHoldsSnapshotDelete(t *testing.T) {
	s, release := heldTarget(t, "bdev_lvol_inflate", map[string]string{"lvs/snap": "u-snap", "lvs/vol": "u-vol", "lvs/other": "u-other"},
		map[string][]string{"lvs/snap": {"vol"}})
	g := startGuard(t, s.Path, Config{})
	r, rDec := dialRaw(t, g.Sock)
	sent(t, s, r, "bdev_lvol_inflate", 1, `{"jsonrpc":"2.0","method":"bdev_lvol_inflate","id":1,"params":{"name":"u-vol"}}`)
	d, dDec := dialRaw(t, g.Sock)
	for _, tc := range []struct {
		name string
		busy bool
	}{{"lvs/snap", true}, {"lvs/other", false}} {
		_, err := fmt.Fprintf(d, `{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":1,"params":{"name":%q}}`, tc.name)
		require.NoError(t, err)
		a := read(t, d, dDec)
		require.Equal(t, tc.busy, a.Error != nil, tc.name)
	}
	close(release)
	read(t, r, rDec)
}

// TestHoldWaitsForDeleteInFlight: a checksum of an lvol whose delete the
// guard already let through waits for the delete's answer: the target may
// run two connections' requests in either order, and a checksum started
// first would make the delete busy.
func TestHoldWaitsForDeleteInFlight(t *testing.T) {
	s := rpctest.Start(t)
	fakeLvols(s, map[string]string{"lvs/snap": "u-snap"})
	release := make(chan struct{})
	s.Handle("bdev_lvol_delete", trueOnRelease(release))
	s.HandleResult("bdev_lvol_register_snapshot_checksum", true)
	g := startGuard(t, s.Path, Config{})
	d, dDec := dialRaw(t, g.Sock)
	sent(t, s, d, "bdev_lvol_delete", 1, `{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":1,"params":{"name":"lvs/snap"}}`)
	c, cDec := dialRaw(t, g.Sock)
	_, err := c.Write([]byte(`{"jsonrpc":"2.0","method":"bdev_lvol_register_snapshot_checksum","id":2,"params":{"name":"u-snap"}}`))
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	require.Zero(t, s.Calls("bdev_lvol_register_snapshot_checksum"), "held back while the delete is in flight")
	close(release)
	require.JSONEq(t, "true", string(read(t, d, dDec).Result))
	require.JSONEq(t, "true", string(read(t, c, cDec).Result))
	require.Equal(t, 1, s.Calls("bdev_lvol_register_snapshot_checksum"))
}

// trueOnRelease is a handler that answers true once release is closed (or
// the call is abandoned): an operation the test holds in flight.
func trueOnRelease(release <-chan struct{}) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, _ json.RawMessage) (any, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return true, nil
	}
}

// sent writes req on c and waits until the target has had n calls of
// method: the guard forwarded it.
func sent(t *testing.T, s *rpctest.Server, c io.Writer, method string, n int, req string) {
	t.Helper()
	_, err := io.WriteString(c, req)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s.Calls(method) == n }, 5*time.Second, time.Millisecond)
}
