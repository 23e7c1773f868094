package spdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/spdk"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

const fixtures = "../testdata/fixtures"

func fixture(t testing.TB, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	return b
}

// echo answers with its params.
func echo(_ context.Context, p json.RawMessage) (any, error) {
	if p == nil {
		return json.RawMessage("null"), nil
	}
	return p, nil
}

func dial(t testing.TB, s *rpctest.Server, opts ...spdk.Option) *spdk.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := spdk.Dial(ctx, s.Path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func short(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCallRoundTrip(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("echo", echo)
	c := dial(t, s)

	var out map[string]int
	require.NoError(t, c.Call(short(t, time.Second), "echo", map[string]int{"a": 1}, &out))
	require.Equal(t, map[string]int{"a": 1}, out)

	// nil params: no "params" member at all (spdk_get_version rejects {}).
	var raw json.RawMessage
	require.NoError(t, c.Call(short(t, time.Second), "echo", nil, &raw))
	require.Equal(t, "null", string(raw))

	// nil result: the answer is discarded.
	require.NoError(t, c.Call(short(t, time.Second), "echo", 1, nil))
	require.Equal(t, 3, s.Calls("echo"))
	require.Equal(t, uint64(1), c.Dials())
}

func TestResultOfWrongShapeIsProtocolError(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("m", "a string")
	c := dial(t, s)
	var n int
	err := c.Call(short(t, time.Second), "m", nil, &n)
	require.ErrorIs(t, err, spdk.ErrProtocol)
	// The stream is intact: the connection stays.
	var str string
	require.NoError(t, c.Call(short(t, time.Second), "m", nil, &str))
	require.Equal(t, uint64(1), c.Dials())
}

func TestErrorAnswers(t *testing.T) {
	cases := []struct {
		code int
		msg  string
		want error
	}{
		{-32603, "Device or resource busy", spdk.ErrBusy},
		{-19, "No such device", spdk.ErrNotFound},
		{-17, "File exists", spdk.ErrExists},
		{-32602, "Invalid parameters", spdk.ErrInvalidParams},
	}
	s := rpctest.Start(t)
	c := dial(t, s)
	for _, tc := range cases {
		s.HandleError("bdev_lvol_delete", tc.code, tc.msg)
		err := c.DeleteLvol(short(t, time.Second), "lvs-r/backup-1")
		require.ErrorIs(t, err, tc.want)
		re, ok := spdk.AsRPCError(err)
		require.True(t, ok)
		require.Equal(t, spdk.RPCError{Code: tc.code, Message: tc.msg, Method: "bdev_lvol_delete"}, *re)
	}
	// A method the target lacks (no handler): -32601.
	err := c.StopSnapshotChecksum(short(t, time.Second), "lvs-r/snap-x")
	require.ErrorIs(t, err, spdk.ErrMethodNotFound)
	require.Equal(t, uint64(1), c.Dials(), "error answers keep the connection")
}

// TestFaults drives every fault of the test server: each call must end
// promptly with a clear error, and the next call must work on a new connection.
func TestFaults(t *testing.T) {
	cases := []struct {
		name    string
		fault   rpctest.Fault
		want    error // sentinel or context error
		newConn bool
	}{
		{"delay beyond deadline", rpctest.Fault{Kind: rpctest.FaultDelay, Delay: 2 * time.Second}, context.DeadlineExceeded, true},
		{"garbage", rpctest.Fault{Kind: rpctest.FaultGarbage}, spdk.ErrProtocol, true},
		{"garbage that looks like JSON", rpctest.Fault{Kind: rpctest.FaultGarbage, Garbage: []byte(`[1,2,3]`)}, spdk.ErrProtocol, true},
		{"error without id", rpctest.Fault{Kind: rpctest.FaultGarbage, Garbage: []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`)}, spdk.ErrProtocol, true},
		{"string id", rpctest.Fault{Kind: rpctest.FaultGarbage, Garbage: []byte(`{"id":"1","result":true}`)}, spdk.ErrProtocol, true},
		{"neither result nor error", rpctest.Fault{Kind: rpctest.FaultGarbage, Garbage: []byte(`{"id":2}`)}, spdk.ErrProtocol, false},
		{"truncated then closed", rpctest.Fault{Kind: rpctest.FaultTruncate}, spdk.ErrConnection, true},
		{"closed without answer", rpctest.Fault{Kind: rpctest.FaultClose}, spdk.ErrConnection, true},
		{"answer over the bound", rpctest.Fault{Kind: rpctest.FaultOversize, Size: 1 << 20}, spdk.ErrTooLarge, true},
		{"wrong id", rpctest.Fault{Kind: rpctest.FaultWrongID}, spdk.ErrProtocol, true},
		{"no answer", rpctest.Fault{Kind: rpctest.FaultNoAnswer}, context.DeadlineExceeded, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := rpctest.Start(t)
			s.Handle("echo", echo)
			c := dial(t, s, spdk.WithMaxAnswerSize(64<<10))
			require.NoError(t, c.Call(short(t, time.Second), "echo", 1, nil))

			f := tc.fault
			f.Once = true
			s.SetFault("echo", f)
			start := time.Now()
			// This is the client's second call: id 2.
			err := c.Call(short(t, 300*time.Millisecond), "echo", 2, nil)
			require.Error(t, err)
			require.ErrorIs(t, err, tc.want, "%v", err)
			require.Less(t, time.Since(start), 5*time.Second, "the call must not hang (its timeout is 300 ms; the margin is for -race on a loaded machine)")

			var n int
			require.NoError(t, c.Call(short(t, time.Second), "echo", 3, &n), "the next call works")
			require.Equal(t, 3, n)
			if tc.newConn {
				require.Equal(t, uint64(2), c.Dials())
			} else {
				require.Equal(t, uint64(1), c.Dials())
			}
		})
	}
}

func TestRequestOverTargetBufferNotSent(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("bdev_lvol_set_xattr", echo)
	c := dial(t, s)
	big := strings.Repeat("v", spdk.MaxRequest)
	err := c.SetXattr(short(t, time.Second), "lvs/l", "k", big)
	require.ErrorIs(t, err, spdk.ErrTooLarge)
	require.Equal(t, 0, s.Calls("bdev_lvol_set_xattr"))
	require.NoError(t, c.Call(short(t, time.Second), "bdev_lvol_set_xattr", "small", nil), "the connection is intact")
}

func TestDelayWithinDeadline(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("echo", echo)
	s.SetFault("echo", rpctest.Fault{Kind: rpctest.FaultDelay, Delay: 30 * time.Millisecond})
	c := dial(t, s)
	var n int
	require.NoError(t, c.Call(short(t, time.Second), "echo", 7, &n))
	require.Equal(t, 7, n)
}

func TestDefaultTimeoutApplies(t *testing.T) {
	s := rpctest.Start(t)
	s.SetFault("", rpctest.Fault{Kind: rpctest.FaultNoAnswer})
	c := dial(t, s, spdk.WithTimeout(50*time.Millisecond), spdk.WithLongTimeout(80*time.Millisecond))
	start := time.Now()
	err := c.Call(context.Background(), "anything", nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	err = c.RegisterSnapshotChecksum(context.Background(), "lvs-r/snap-x")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second, "bounded by the 50 and 80 ms defaults, not the call's own context")
}

func TestCancelledContext(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("echo", echo)
	c := dial(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.Call(ctx, "echo", 1, nil), context.Canceled)
	require.Equal(t, 0, s.Calls("echo"), "a dead context sends nothing")
}

func TestTimeoutFailsOtherCallsOnTheConnection(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("slow", func(ctx context.Context, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	c := dial(t, s)
	errc := make(chan error, 1)
	go func() { errc <- c.Call(short(t, 5*time.Second), "slow", nil, nil) }()
	require.Eventually(t, func() bool { return s.Calls("slow") == 1 }, time.Second, time.Millisecond)
	err := c.Call(short(t, 50*time.Millisecond), "slow", nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case err := <-errc:
		require.ErrorIs(t, err, spdk.ErrConnection, "the connection was dropped under it")
	case <-time.After(time.Second):
		t.Fatal("the other call hangs")
	}
}

func TestDialErrors(t *testing.T) {
	_, err := spdk.Dial(short(t, time.Second), filepath.Join(t.TempDir(), "none.sock"))
	require.ErrorIs(t, err, spdk.ErrConnection)

	s := rpctest.Start(t)
	c := dial(t, s)
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Call(short(t, time.Second), "x", nil, nil), spdk.ErrClosed)
}

func TestDialWait(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("spdk_get_version", fixtureVersion(t))
	require.NoError(t, s.Close())
	go func() {
		time.Sleep(80 * time.Millisecond)
		_ = s.Restart()
	}()
	c, err := spdk.DialWait(short(t, 2*time.Second), s.Path, 10*time.Millisecond)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.GetVersion(short(t, time.Second))
	require.NoError(t, err)

	_, err = spdk.DialWait(short(t, 50*time.Millisecond), filepath.Join(t.TempDir(), "none"), 0)
	require.ErrorIs(t, err, spdk.ErrConnection)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestReconnectAfterRestart(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("spdk_get_version", fixtureVersion(t))
	c := dial(t, s)
	v, err := c.GetVersion(short(t, time.Second))
	require.NoError(t, err)
	require.Equal(t, 24, v.Fields.Major)

	require.NoError(t, s.Restart())
	// Transparent: the idle connection died with the target; this call dials.
	v, err = c.GetVersion(short(t, time.Second))
	require.NoError(t, err)
	require.Equal(t, "1975133e9", v.Fields.Commit)
	require.Equal(t, uint64(2), c.Dials())

	// Target down: a clear connection error, no hang; up again: works.
	require.NoError(t, s.Close())
	_, err = c.GetVersion(short(t, time.Second))
	require.ErrorIs(t, err, spdk.ErrConnection)
	require.NoError(t, s.Restart())
	_, err = c.GetVersion(short(t, time.Second))
	require.NoError(t, err)
}

// TestStaleConnectionRetried covers the race the reader has not seen yet:
// the server drops the connection and the next write meets a dead peer.
func TestStaleConnectionRetried(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("echo", echo)
	c := dial(t, s)
	for i := range 20 {
		s.DropConns()
		var n int
		require.NoError(t, c.Call(short(t, time.Second), "echo", i, &n))
		require.Equal(t, i, n)
	}
}

func fixtureVersion(t *testing.T) json.RawMessage {
	var entries []struct {
		Request struct {
			Method string `json:"method"`
		} `json:"request"`
		Response struct {
			Result json.RawMessage `json:"result"`
		} `json:"response"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "notify.transcript.json"), &entries))
	for _, e := range entries {
		if e.Request.Method == "spdk_get_version" {
			return e.Response.Result
		}
	}
	t.Fatal("no spdk_get_version in the transcript")
	return nil
}

// TestConcurrentCalls multiplexes calls whose answers come back out of
// order; each caller must get its own answer.
func TestConcurrentCalls(t *testing.T) {
	s := rpctest.Start(t)
	s.Handle("echo", func(ctx context.Context, p json.RawMessage) (any, error) {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		return p, nil
	})
	c := dial(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 16*40)
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				want := fmt.Sprintf("g%d-%d", g, i)
				var got string
				if err := c.Call(short(t, 5*time.Second), "echo", want, &got); err != nil {
					errs <- err
					return
				}
				if got != want {
					errs <- fmt.Errorf("got %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, uint64(1), c.Dials())
}

// TestLongCallDoesNotBlockOthers: a checksum registration answers only
// when done; other calls on the same client go on meanwhile.
func TestLongCallDoesNotBlockOthers(t *testing.T) {
	s := rpctest.Start(t)
	release := make(chan struct{})
	s.Handle("bdev_lvol_register_snapshot_checksum", func(ctx context.Context, _ json.RawMessage) (any, error) {
		select {
		case <-release:
			return true, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	s.HandleResult("spdk_get_version", fixtureVersion(t))
	c := dial(t, s)
	done := make(chan error, 1)
	go func() { done <- c.RegisterSnapshotChecksum(short(t, 5*time.Second), "lvs-r/snap-x") }()
	for range 5 {
		_, err := c.GetVersion(short(t, time.Second))
		require.NoError(t, err)
	}
	close(release)
	require.NoError(t, <-done)
}

func TestIncarnationOfPeer(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s := rpctest.Start(t)
	c := dial(t, s)
	inc, err := c.Incarnation(short(t, time.Second))
	require.NoError(t, err)
	self, err := spdk.ReadIncarnation("/proc", os.Getpid())
	require.NoError(t, err)
	require.Equal(t, self, inc, "the test server runs in this process")
	again, err := c.Incarnation(short(t, time.Second))
	require.NoError(t, err)
	require.Equal(t, inc.String(), again.String(), "stable key")
}

func TestErrorsAreNotConfused(t *testing.T) {
	// A transport failure must not look like an answer.
	s := rpctest.Start(t)
	s.SetFault("", rpctest.Fault{Kind: rpctest.FaultClose})
	c := dial(t, s)
	err := c.DeleteLvol(short(t, time.Second), "x")
	require.ErrorIs(t, err, spdk.ErrConnection)
	for _, e := range []error{spdk.ErrNotFound, spdk.ErrBusy, spdk.ErrProtocol, spdk.ErrTooLarge} {
		require.False(t, errors.Is(err, e), "%v", e)
	}
	_, ok := spdk.AsRPCError(err)
	require.False(t, ok)
}
