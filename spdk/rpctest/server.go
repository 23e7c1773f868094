// Package rpctest is a small JSON-RPC 2.0 server on a unix socket that
// speaks like spdk_tgt (unframed JSON values, answers matched by id, each
// request handled concurrently), with per-method fault injection, for
// testing clients against misbehaving targets.
package rpctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Handler answers one request. A returned *Error is sent as the error
// answer; any other error as code -32603 with its text (as SPDK does).
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Error is a JSON-RPC error answer.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// FaultKind says how to misbehave.
type FaultKind int

const (
	FaultNone     FaultKind = iota
	FaultDelay              // answer normally after Fault.Delay
	FaultGarbage            // send Fault.Garbage (or non-JSON bytes) instead of the answer
	FaultTruncate           // send the first half of the answer, then close the connection
	FaultClose              // close the connection without answering
	FaultOversize           // answer with a string result of Fault.Size bytes
	FaultWrongID            // answer with an id no one asked for
	FaultNoAnswer           // never answer; the connection stays open
)

// Fault is injected into the answers of a method.
type Fault struct {
	Kind    FaultKind
	Delay   time.Duration
	Size    int
	Garbage []byte
	// Once clears the fault after its first use.
	Once bool
}

// Server is the test server. Its zero value is not usable; call New or Start.
type Server struct {
	Path string

	mu       sync.Mutex
	handlers map[string]Handler
	faults   map[string]Fault
	calls    map[string]int
	ln       net.Listener
	conns    map[net.Conn]chan struct{}
	wg       sync.WaitGroup
}

// TB is the part of testing.TB that Start needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Start listens on a fresh short path (unix socket paths are limited to
// 108 bytes, which t.TempDir can exceed) and closes at test cleanup.
func Start(t TB) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "rpct")
	if err != nil {
		t.Fatalf("rpctest: %v", err)
	}
	s, err := New(filepath.Join(dir, "spdk.sock"))
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("rpctest: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		_ = os.RemoveAll(dir)
	})
	return s
}

// New listens on path.
func New(path string) (*Server, error) {
	s := &Server{
		Path:     path,
		handlers: map[string]Handler{},
		faults:   map[string]Fault{},
		calls:    map[string]int{},
		conns:    map[net.Conn]chan struct{}{},
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) listen() error {
	_ = os.Remove(s.Path)
	ln, err := net.Listen("unix", s.Path)
	if err != nil {
		return fmt.Errorf("rpctest: listen %s: %w", s.Path, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
	return nil
}

// Handle sets the handler of method.
func (s *Server) Handle(method string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[method] = h
}

// HandleResult answers method with a fixed result (a json.RawMessage is
// sent verbatim).
func (s *Server) HandleResult(method string, result any) {
	s.Handle(method, func(context.Context, json.RawMessage) (any, error) { return result, nil })
}

// HandleError answers method with a fixed error.
func (s *Server) HandleError(method string, code int, message string) {
	s.Handle(method, func(context.Context, json.RawMessage) (any, error) {
		return nil, &Error{Code: code, Message: message}
	})
}

// SetFault injects f into the answers of method ("" = every method without
// a fault of its own). FaultNone clears it.
func (s *Server) SetFault(method string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Kind == FaultNone {
		delete(s.faults, method)
		return
	}
	s.faults[method] = f
}

// Calls counts the requests received for method.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Conns is the number of open connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// DropConns closes every connection and keeps listening.
func (s *Server) DropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, done := range s.conns {
		_ = c.Close()
		close(done)
		delete(s.conns, c)
	}
}

// Close stops listening, closes every connection and waits for the
// server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	s.DropConns()
	s.wg.Wait()
	return nil
}

// Restart is a target restart: every connection drops, then the server
// listens again on the same path with the same handlers.
func (s *Server) Restart() error {
	if err := s.Close(); err != nil {
		return err
	}
	return s.listen()
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		done := make(chan struct{})
		s.mu.Lock()
		if s.ln != ln {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = done
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c, done)
	}
}

func (s *Server) closeConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if done, ok := s.conns[c]; ok {
		_ = c.Close()
		close(done)
		delete(s.conns, c)
	}
}

type wireRequest struct {
	Method string          `json:"method"`
	ID     json.RawMessage `json:"id"`
	Params json.RawMessage `json:"params"`
}

type wireAnswer struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

func (s *Server) serve(c net.Conn, done chan struct{}) {
	defer s.wg.Done()
	var wmu sync.Mutex
	write := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-done
		cancel()
	}()
	var handlers sync.WaitGroup
	defer func() {
		// Close first: that cancels ctx, which handlers waiting on it need.
		s.closeConn(c)
		cancel()
		handlers.Wait()
	}()
	dec := json.NewDecoder(c)
	for {
		var req wireRequest
		if err := dec.Decode(&req); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				b, _ := json.Marshal(wireAnswer{JSONRPC: "2.0", ID: json.RawMessage("null"),
					Error: &Error{Code: -32700, Message: "Parse error"}})
				write(b)
			}
			return
		}
		s.mu.Lock()
		s.calls[req.Method]++
		h, ok := s.handlers[req.Method]
		f, hasFault := s.faults[req.Method]
		if !hasFault {
			f, hasFault = s.faults[""]
			if hasFault && f.Once {
				delete(s.faults, "")
			}
		} else if f.Once {
			delete(s.faults, req.Method)
		}
		s.mu.Unlock()
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			s.answer(ctx, c, write, req, h, ok, f)
		}()
	}
}

func (s *Server) answer(ctx context.Context, c net.Conn, write func([]byte), req wireRequest, h Handler, ok bool, f Fault) {
	ans := wireAnswer{JSONRPC: "2.0", ID: req.ID}
	if len(ans.ID) == 0 {
		ans.ID = json.RawMessage("null")
	}
	switch {
	case !ok:
		ans.Error = &Error{Code: -32601, Message: "Method not found"}
	default:
		res, err := h(ctx, req.Params)
		var re *Error
		switch {
		case errors.As(err, &re):
			ans.Error = re
		case err != nil:
			ans.Error = &Error{Code: -32603, Message: err.Error()}
		case res == nil:
			ans.Result = json.RawMessage("null")
		default:
			ans.Result = res
		}
	}
	switch f.Kind {
	case FaultDelay:
		select {
		case <-time.After(f.Delay):
		case <-ctx.Done():
			return
		}
	case FaultGarbage:
		g := f.Garbage
		if g == nil {
			g = []byte("\x00\xffnot json}{")
		}
		write(g)
		return
	case FaultClose:
		s.closeConn(c)
		return
	case FaultNoAnswer:
		<-ctx.Done()
		return
	case FaultOversize:
		ans.Error = nil
		ans.Result = string(bytes.Repeat([]byte("x"), f.Size))
	case FaultWrongID:
		ans.ID = json.RawMessage("987654321")
	}
	var b []byte
	var err error
	if raw, ok := ans.Result.(json.RawMessage); ok && ans.Error == nil {
		// Verbatim (captured answers): skip Marshal's re-compaction, so
		// benchmarks measure the client rather than this server.
		b = fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":%s}`, ans.ID, raw)
	} else {
		b, err = json.Marshal(ans)
	}
	if err != nil {
		ans.Result, ans.Error = nil, &Error{Code: -32603, Message: "rpctest: " + err.Error()}
		b, _ = json.Marshal(ans)
	}
	if f.Kind == FaultTruncate {
		write(b[:len(b)/2])
		s.closeConn(c)
		return
	}
	write(b)
}
