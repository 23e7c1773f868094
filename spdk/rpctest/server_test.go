package rpctest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

func rawConn(t *testing.T, s *rpctest.Server) (net.Conn, *json.Decoder) {
	t.Helper()
	c, err := net.Dial("unix", s.Path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(2*time.Second)))
	return c, json.NewDecoder(bufio.NewReader(c))
}

type answer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *rpctest.Error  `json:"error"`
}

func TestServerSpeaksLikeSPDK(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("m", json.RawMessage(`{"a": [1, 2]}`))
	s.Handle("fails", func(context.Context, json.RawMessage) (any, error) { return nil, io.ErrUnexpectedEOF })
	c, dec := rawConn(t, s)

	// Unframed values, back to back, no separator.
	_, err := c.Write([]byte(`{"jsonrpc":"2.0","method":"m","id":7}{"jsonrpc":"2.0","method":"nope","id":8}{"jsonrpc":"2.0","method":"fails","id":9}`))
	require.NoError(t, err)
	got := map[string]answer{}
	for range 3 {
		var a answer
		require.NoError(t, dec.Decode(&a))
		got[string(a.ID)] = a
	}
	require.JSONEq(t, `{"a":[1,2]}`, string(got["7"].Result))
	require.Equal(t, &rpctest.Error{Code: -32601, Message: "Method not found"}, got["8"].Error)
	require.Equal(t, -32603, got["9"].Error.Code)
	require.Equal(t, 1, s.Calls("m"))
	require.Equal(t, 1, s.Calls("nope"))

	// Garbage: a parse error with a null id, then the connection closes.
	_, err = c.Write([]byte(`{"method":}`))
	require.NoError(t, err)
	var a answer
	require.NoError(t, dec.Decode(&a))
	require.Equal(t, "null", string(a.ID))
	require.Equal(t, -32700, a.Error.Code)
	require.ErrorIs(t, dec.Decode(&a), io.EOF)
}

func TestServerFaultOnceAndRestart(t *testing.T) {
	s := rpctest.Start(t)
	s.HandleResult("m", true)
	s.SetFault("m", rpctest.Fault{Kind: rpctest.FaultWrongID, Once: true})
	c, dec := rawConn(t, s)
	for i, want := range []string{"987654321", "2"} {
		_, err := c.Write([]byte(`{"method":"m","id":2}`))
		require.NoError(t, err)
		var a answer
		require.NoError(t, dec.Decode(&a))
		require.Equal(t, want, string(a.ID), "call %d", i)
	}
	require.Equal(t, 1, s.Conns())

	require.NoError(t, s.Restart())
	var a answer
	require.Error(t, dec.Decode(&a), "restart drops connections")
	c2, dec2 := rawConn(t, s)
	_, err := c2.Write([]byte(`{"method":"m","id":3}`))
	require.NoError(t, err)
	require.NoError(t, dec2.Decode(&a))
	require.Equal(t, "true", string(a.Result), "handlers survive a restart")
}
