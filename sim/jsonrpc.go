package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
)

// request is one decoded JSON-RPC request.
type request struct {
	Method string
	ID     json.RawMessage // nil for a notification
	Params json.RawMessage // nil when absent or null
}

// deferred is a handler result answered later (a call that answers when its
// operation is done, like bdev_lvol_register_snapshot_checksum).
type deferred func() (any, *RPCError)

// noAnswer is a handler result that sends nothing (SIGKILL).
type noAnswer struct{}

// thenRun is a handler result whose fn runs once the answer is written
// (spdk_kill_instance SIGINT answers, then the target stops).
type thenRun struct {
	res any
	fn  func()
}

type handler func(t *Target, r *request) (any, *RPCError)

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result"`
}

type errResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   *RPCError       `json:"error"`
}

// limitReader fails once more than max bytes were read since the last reset,
// bounding one request without framing.
type limitReader struct {
	r   io.Reader
	n   int64
	max int64
}

var errRequestTooLarge = errors.New("request too large")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.max {
		return 0, errRequestTooLarge
	}
	if int64(len(p)) > l.max-l.n {
		p = p[:l.max-l.n]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// serveConn reads a stream of JSON values (SPDK has no framing) and answers
// each. A parse error answers -32700 and closes, as SPDK cannot resync.
func (t *Target) serveConn(c net.Conn) {
	var wmu sync.Mutex
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	write := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			b, _ = json.Marshal(errResponse{JSONRPC: "2.0", ID: json.RawMessage("null"),
				Error: &RPCError{Code: codeInternalError, Message: err.Error()}})
		}
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = c.Write(b)
	}
	lr := &limitReader{r: c, max: t.cfg.MaxRequest}
	dec := json.NewDecoder(lr)
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		lr.n = int64(dec.Buffered().(*bytes.Reader).Len())
		if err != nil {
			// A request that overflows spdk_tgt's 32 KiB receive buffer
			// makes it read 0 bytes and take the connection as closed: no
			// answer. Malformed JSON gets a parse error, then the close.
			var se *json.SyntaxError
			if errors.As(err, &se) {
				write(errResponse{JSONRPC: "2.0", ID: json.RawMessage("null"),
					Error: &RPCError{Code: codeParseError, Message: "Parse error"}})
			}
			return
		}
		req, rerr := parseRequest(raw)
		if rerr != nil {
			id := json.RawMessage("null")
			if req != nil && req.ID != nil {
				id = req.ID
			}
			write(errResponse{JSONRPC: "2.0", ID: id, Error: rerr})
			continue
		}
		res, herr := t.call(req)
		if d, ok := res.(deferred); ok {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, herr := d()
				if _, ok := res.(noAnswer); ok {
					return
				}
				t.answer(write, req, res, herr)
			}()
			continue
		}
		if _, ok := res.(noAnswer); ok {
			continue
		}
		if tr, ok := res.(thenRun); ok {
			t.answer(write, req, tr.res, herr)
			tr.fn()
			continue
		}
		t.answer(write, req, res, herr)
	}
}

func (t *Target) answer(write func(any), req *request, res any, herr *RPCError) {
	if req.ID == nil {
		return // a notification gets no answer
	}
	if herr != nil {
		write(errResponse{JSONRPC: "2.0", ID: req.ID, Error: herr})
		return
	}
	write(response{JSONRPC: "2.0", ID: req.ID, Result: res})
}

// parseRequest validates a request object as SPDK's jsonrpc server does.
func parseRequest(raw json.RawMessage) (*request, *RPCError) {
	invalid := &RPCError{Code: codeInvalidRequest, Message: "Invalid request"}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid
	}
	req := &request{}
	if id, ok := m["id"]; ok {
		switch firstByte(id) {
		case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			req.ID = id
		default:
			return nil, invalid
		}
	}
	if v, ok := m["jsonrpc"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || s != "2.0" {
			return req, invalid
		}
	}
	mv, ok := m["method"]
	if !ok || json.Unmarshal(mv, &req.Method) != nil {
		return req, invalid
	}
	if p, ok := m["params"]; ok {
		switch firstByte(p) {
		case 'n':
		case '{', '[':
			req.Params = p
		default:
			return req, invalid
		}
	}
	return req, nil
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// call dispatches one request.
func (t *Target) call(r *request) (any, *RPCError) {
	h, ok := t.methods[r.Method]
	if !ok {
		return nil, errMethod
	}
	return h(t, r)
}

// decode decodes params into v as spdk_json_decode_object: unknown keys and
// missing required ones fail. required lists the keys that must be present.
// locked is the path most methods share: decode the params into a P (the
// required keys present, unknown keys refused; a P with a decodeError
// method answers that instead), fill P's defaults, then run body with the
// target's lock held.
func locked[P any](body func(t *Target, r *request, p *P) (any, *RPCError), required ...string) handler {
	return func(t *Target, r *request) (any, *RPCError) {
		p := new(P)
		if e := decode(r, p, required...); e != nil {
			if d, ok := any(p).(interface{ decodeError() *RPCError }); ok {
				return nil, d.decodeError()
			}
			return nil, e
		}
		if d, ok := any(p).(interface{ defaults() }); ok {
			d.defaults()
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		return body(t, r, p)
	}
}

// nameParams are the params of the methods that take only a bdev name.
type nameParams struct {
	Name string `json:"name"`
}

func decode(r *request, v any, required ...string) *RPCError {
	if r.Params == nil {
		if len(required) > 0 {
			return errDecodeFailed
		}
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Params, &m); err != nil {
		return errDecodeFailed
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return errDecodeFailed
		}
	}
	d := json.NewDecoder(bytes.NewReader(r.Params))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return errDecodeFailed
	}
	return nil
}
