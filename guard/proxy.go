package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/lvfsck/lvfsck/internal/procfs"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/spdk"
)

// Defaults of Config.
const (
	// DefaultMaxRequest bounds a request the guard buffers to look at; a
	// longer one (the target drops it anyway: its receive buffer is
	// spdk.MaxRequest) is streamed through unread.
	DefaultMaxRequest = 2 * spdk.MaxRequest
	// DefaultMaxTracked bounds the calls tracked per connection.
	DefaultMaxTracked = 1024
	// DefaultDrain bounds how long a connection whose client left (or a
	// guard shutting down) waits for the answers of calls in flight.
	DefaultDrain = time.Hour
	// DefaultCopyPoll: a shallow copy whose status nobody read for this
	// long is polled by the guard itself.
	DefaultCopyPoll = 2 * time.Second

	bufSize = 64 << 10
	headCap = 4 << 10
)

// BusyMessage is what spdk_tgt answers when a blob is busy; the guard
// answers the same, so every control plane already handles it.
const BusyMessage = "Device or resource busy"

// Config is one guard.
type Config struct {
	Target string // the real target's socket
	// DeleteWait > 0 holds a delete of a held lvol until its holders end
	// (at most this long), then forwards it; 0 refuses it at once.
	DeleteWait time.Duration
	Sink       Sink // nil: no journal
	Log        zerolog.Logger
	Metrics    *Metrics // nil: a fresh one
	MaxRequest int
	MaxTracked int
	Drain      time.Duration
	CopyPoll   time.Duration
	// StateFile keeps the long holds across a restart of the guard ("": not kept).
	StateFile string
	// Settle is how long a hold outlives the answer that ends it (0:
	// DefaultSettle; negative: not at all).
	Settle time.Duration
	// InheritedHold is how long a checksum taken over from a previous guard
	// (whose answer nobody will see) counts as running, from its start.
	InheritedHold time.Duration
}

// DefaultSettle: on the real target a delete sent as soon as a checksum
// answered found the snapshot still open.
const DefaultSettle = 250 * time.Millisecond

// DefaultInheritedHold: a checksum of a 2 GiB snapshot took 77 ms on the
// real target; ten minutes covers terabytes.
const DefaultInheritedHold = 10 * time.Minute

// Proxy is a running guard.
type Proxy struct {
	cfg     Config
	m       *Metrics
	tr      *Tracker
	control *spdk.Client // the guard's own calls (resolve, poll)
	log     zerolog.Logger
	inc     string // the target's incarnation, as the guard found it

	nextConn atomic.Uint64
	wg       sync.WaitGroup
	stopping chan struct{}
	mu       sync.Mutex
	conns    map[*pconn]struct{}
}

// New dials the target for the guard's own calls.
func New(ctx context.Context, cfg Config) (*Proxy, error) {
	if cfg.MaxRequest <= 0 {
		cfg.MaxRequest = DefaultMaxRequest
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.CopyPoll <= 0 {
		cfg.CopyPoll = DefaultCopyPoll
	}
	if cfg.Metrics == nil {
		cfg.Metrics = &Metrics{}
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.InheritedHold <= 0 {
		cfg.InheritedHold = DefaultInheritedHold
	}
	c, err := spdk.Dial(ctx, cfg.Target, spdk.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("guard: target %s: %w", cfg.Target, err)
	}
	p := &Proxy{cfg: cfg, m: cfg.Metrics, control: c, log: cfg.Log, tr: NewTracker(ClientResolver{C: c}),
		stopping: make(chan struct{}), conns: map[*pconn]struct{}{}}
	p.tr.settle = max(cfg.Settle, 0)
	if inc, err := c.Incarnation(ctx); err == nil {
		p.inc = inc.String()
	} else {
		p.log.Warn().Err(err).Msg("guard: target incarnation unknown; saved holds are not taken over")
	}
	if cfg.StateFile != "" && p.inc != "" {
		p.restore()
	}
	return p, nil
}

// Metrics are the guard's counters.
func (p *Proxy) Metrics() *Metrics { return p.m }

// Tracker is what the guard knows holds each lvol.
func (p *Proxy) Tracker() *Tracker { return p.tr }

// Listen opens a unix socket at path, replacing a stale socket file (one
// nobody answers on), never a live one.
func Listen(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("guard: %s is in use", path)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("guard: listen: %w", err)
	}
	return ln, nil
}

// Serve accepts clients on ln until ctx ends, then stops accepting,
// finishes the calls in flight (answers delivered, bounded by Drain) and
// returns. A held delete is answered busy at shutdown.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	pollCtx, stopPoll := context.WithCancel(context.Background())
	pollDone := make(chan struct{})
	go func() { defer close(pollDone); p.pollCopies(pollCtx) }()
	saveDone := make(chan struct{})
	if p.cfg.StateFile != "" {
		go func() { defer close(saveDone); p.saveLoop(pollCtx) }()
	} else {
		close(saveDone)
	}
	go func() {
		<-ctx.Done()
		close(p.stopping)
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.stopReading()
		}
		p.mu.Unlock()
	}()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("guard: accept: %w", aerr)
			}
			break
		}
		up, derr := net.Dial("unix", p.cfg.Target)
		if derr != nil {
			// Without a target there is nothing to guard: the client sees
			// what it would see without the guard, a closed connection.
			p.log.Warn().Err(derr).Msg("guard: target unreachable; client connection closed")
			nc.Close()
			continue
		}
		c := p.newConn(nc, up)
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		select {
		case <-p.stopping:
			c.stopReading()
		default:
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			c.run()
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
	}
	p.wg.Wait()
	stopPoll()
	<-pollDone
	<-saveDone
	p.control.Close()
	return err
}

// pollCopies asks the target about shallow copies whose status nobody has
// read for CopyPoll, so that a copy ends in the guard even when its client
// never asks.
func (p *Proxy) pollCopies(ctx context.Context) {
	t := time.NewTicker(p.cfg.CopyPoll / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, op := range p.tr.Copies(p.cfg.CopyPoll) {
			p.pollCopy(ctx, op)
		}
	}
}

func (p *Proxy) pollCopy(ctx context.Context, op uint64) {
	p.m.CopyPolls.Add(1)
	var raw json.RawMessage
	err := p.control.Call(ctx, "bdev_lvol_check_shallow_copy", map[string]uint64{"operation_id": op}, &raw)
	switch {
	case err == nil:
		p.tr.CopyStatus(op, raw, true)
	case errors.Is(err, spdk.ErrNotFound):
		p.tr.CopyGone(op)
	default:
		p.log.Debug().Err(err).Uint64("operation_id", op).Msg("guard: poll shallow copy")
	}
}

// call is one tracked request of a connection, until its answer.
type call struct {
	method string
	id     json.RawMessage
	name   string // the lvol a delete names
	uuid   string
	hold   *Hold
	del    *Delete // of a forwarded delete
	copyOp uint64  // of a check_shallow_copy
	start  time.Time
}

// pconn is one client connection and its own upstream connection.
type pconn struct {
	p      *Proxy
	id     uint64
	client net.Conn
	up     net.Conn
	log    zerolog.Logger

	wmu        sync.Mutex // client writes: one answer at a time
	clientGone atomic.Bool

	mu          sync.Mutex
	tracked     map[string]*call
	outstanding int
	upDone      bool
	closedUp    bool          // the guard closed the target connection before the target did
	changed     chan struct{} // closed and replaced when outstanding or upDone change

	stopOnce sync.Once
	stopped  chan struct{}
}

func (p *Proxy) newConn(client, up net.Conn) *pconn {
	id := p.nextConn.Add(1)
	p.m.Conns.Add(1)
	return &pconn{p: p, id: id, client: client, up: up, log: p.log.With().Uint64("conn", id).Logger(),
		tracked: map[string]*call{}, changed: make(chan struct{}), stopped: make(chan struct{})}
}

// stopReading ends the reading of new requests (shutdown); calls in flight
// still get their answers.
func (c *pconn) stopReading() {
	c.stopOnce.Do(func() {
		close(c.stopped)
		_ = c.client.SetReadDeadline(time.Unix(1, 0))
	})
}

func (c *pconn) run() {
	c.p.m.ConnsOpen.Add(1)
	defer c.p.m.ConnsOpen.Add(-1)
	downDone := make(chan struct{})
	go func() { defer close(downDone); c.down() }()
	c.upstream()
	c.mu.Lock()
	tracked := len(c.tracked)
	c.mu.Unlock()
	halfClosed := false
	select {
	case <-c.stopped:
	default:
		if tracked == 0 {
			halfClosed = true
			// The client is done and nothing it started holds a blob: the
			// target sees the end of the stream as it would without us, and
			// answers what it read first.
			if cw, ok := c.up.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}
	}
	// Wait for the answers of calls in flight: a checksum the client gave
	// up on still holds its snapshot until the target answers it.
	deadline := time.NewTimer(c.p.cfg.Drain)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		done := c.upDone || (!halfClosed && c.outstanding <= 0)
		ch := c.changed
		c.mu.Unlock()
		if done {
			break
		}
		select {
		case <-ch:
		case <-deadline.C:
			c.log.Warn().Msg("guard: calls still in flight after the drain bound; connection closed")
			done = true
		}
		if done {
			break
		}
	}
	c.mu.Lock()
	c.closedUp = !c.upDone
	c.mu.Unlock()
	c.up.Close()
	<-downDone
	c.client.Close()
	c.endTracked()
}

// endTracked ends the holds of calls that will never be answered here.
// When the target itself closed the connection (it stopped or crashed),
// their work ended with it; when the guard closed it (drain bound), a
// checksum still runs in the target and is kept as inherited.
func (c *pconn) endTracked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	targetGone := c.upDone && !c.closedUp
	for k, cl := range c.tracked {
		delete(c.tracked, k)
		if cl.del != nil {
			c.p.tr.EndDelete(cl.del)
		}
		h := cl.hold
		switch {
		case h == nil:
		case h.Kind == HoldCopy && c.p.tr.started(h):
			// a copy goes on after its start answer: it ends when it ends
		case h.Kind == HoldChecksum && !targetGone:
			c.p.inherit(h)
		default:
			c.p.tr.End(h)
		}
	}
}

func (c *pconn) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// upstream reads requests from the client and forwards them, frame by
// frame, in order.
func (c *pconn) upstream() {
	buf := make([]byte, bufSize)
	var fr Framer
	var frame []byte
	streaming, raw := false, false
	for {
		n, err := c.client.Read(buf)
		p := buf[:n]
		for len(p) > 0 {
			if raw {
				if !c.forward(p, false) {
					return
				}
				break
			}
			k, ended, ferr := fr.Scan(p)
			if ferr != nil {
				// Not JSON-RPC: the target answers it (or drops us) as it
				// would without the guard.
				c.p.m.Unframed.Add(1)
				c.log.Debug().Msg("guard: request stream not framed; passing it through raw")
				raw = true
				if !c.forward(append(frame, p...), false) {
					return
				}
				frame = nil
				break
			}
			switch {
			case streaming:
				if !c.forward(p[:k], false) {
					return
				}
				streaming = !ended
			default:
				frame = append(frame, p[:k]...)
				if ended {
					if !c.request(frame) {
						return
					}
					frame = frame[:0]
				} else if len(frame) > c.p.cfg.MaxRequest {
					if !c.forward(frame, bytes.Contains(frame, []byte(`"id"`))) {
						return
					}
					frame, streaming = frame[:0], true
				}
			}
			p = p[k:]
		}
		if err != nil {
			select {
			case <-c.stopped:
				// shutdown: a partial request is dropped, never half-sent
			default:
				if len(frame) > 0 {
					c.forward(frame, false) // the client's last bytes, as sent
				}
			}
			return
		}
	}
}

// forward writes b to the target; counted says b holds a request that will
// be answered. False: the target is gone.
func (c *pconn) forward(b []byte, counted bool) bool {
	if counted {
		c.mu.Lock()
		c.outstanding++
		c.mu.Unlock()
		c.p.m.Requests.Add(1)
	}
	if _, err := c.up.Write(b); err != nil {
		c.log.Debug().Err(err).Msg("guard: target write failed")
		return false
	}
	return true
}

type wireRequest struct {
	Method string          `json:"method"`
	ID     json.RawMessage `json:"id"`
	Params json.RawMessage `json:"params"`
}

// lockedNames lists, per locked-operation method, the params that name
// lvols the operation locks.
var lockedNames = map[string][]string{
	"bdev_lvol_snapshot":        {"lvol_name"},
	"bdev_lvol_clone":           {"snapshot_name"},
	"bdev_lvol_inflate":         {"name"},
	"bdev_lvol_decouple_parent": {"name"},
	"bdev_lvol_set_parent":      {"lvol_name", "parent_name"},
	"bdev_lvol_set_parent_bdev": {"lvol_name"},
	"bdev_lvol_resize":          {"name"},
}

// request handles one complete request frame. False: the target is gone.
func (c *pconn) request(frame []byte) bool {
	hasID := bytes.Contains(frame, []byte(`"id"`))
	if bytes.Contains(frame, []byte(spdk.MethodGuardTarget)) && c.targetQuery(frame) {
		return true
	}
	if !bytes.Contains(frame, []byte("bdev_lvol_")) {
		return c.forward(frame, hasID)
	}
	var req wireRequest
	if json.Unmarshal(frame, &req) != nil {
		return c.forward(frame, hasID) // malformed: the target answers it
	}
	if notification(req.ID) {
		// a notification: no answer to track; a held delete is dropped
		// silently, as the target would run it without a word
		if req.Method == "bdev_lvol_delete" && c.heldNotification(req.Params) {
			return true
		}
		return c.forward(frame, hasID)
	}
	var params map[string]json.RawMessage
	_ = json.Unmarshal(req.Params, &params)
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(params[k], &s)
		return s
	}
	cl := &call{method: req.Method, id: req.ID, start: time.Now()}
	switch req.Method {
	case "bdev_lvol_delete":
		return c.delete(frame, cl, str("name"))
	case "bdev_lvol_register_snapshot_checksum":
		cl.hold = c.begin(HoldChecksum, req.Method, str("name"))
	case "bdev_lvol_start_shallow_copy":
		cl.hold = c.begin(HoldCopy, req.Method, str("src_lvol_name"))
	case "bdev_lvol_check_shallow_copy":
		var op uint64
		if json.Unmarshal(params["operation_id"], &op) != nil {
			return c.forward(frame, hasID)
		}
		if res, ok := c.p.tr.TakeFinal(op); ok {
			// The guard read this copy's end itself and the target has
			// forgotten it: answer what the target answered.
			c.inject(answer(req.ID, res, nil))
			return true
		}
		cl.copyOp = op
	default:
		keys, ok := lockedNames[req.Method]
		if !ok {
			return c.forward(frame, hasID)
		}
		var names []string
		for _, k := range keys {
			if s := str(k); s != "" {
				names = append(names, s)
			}
		}
		cl.hold = c.begin(HoldLocked, req.Method, names...)
	}
	if !c.track(cl) && cl.hold != nil {
		c.p.tr.End(cl.hold)
	}
	return c.forward(frame, true)
}

func (c *pconn) begin(kind HoldKind, method string, names ...string) *Hold {
	var ns []string
	for _, n := range names {
		if n != "" {
			ns = append(ns, n)
		}
	}
	if len(ns) == 0 {
		return nil
	}
	c.p.m.Holds.Add(1)
	h := c.p.tr.Begin(kind, method, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.p.tr.WaitDeletes(ctx, h)
	return h
}

// heldNotification reports whether an id-less delete names a held lvol
// (and is therefore not forwarded).
func (c *pconn) heldNotification(params json.RawMessage) bool {
	var prm struct{ Name string }
	_ = json.Unmarshal(params, &prm)
	if c.p.tr.Len() == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs, uuid := c.p.tr.Holders(ctx, prm.Name)
	if len(hs) == 0 {
		return false
	}
	c.p.m.DeletesRefused.Add(1)
	c.log.Warn().Str("lvol", prm.Name).Msg("guard: delete notification (no id) of a held lvol dropped")
	c.p.record(journal.GuardRecord{At: time.Now(), Action: journal.GuardRefused, Method: "bdev_lvol_delete", Name: prm.Name,
		LvolUUID: uuid, Holders: c.p.tr.Describe(hs), Conn: c.id})
	return true
}

// track registers cl so that its answer is looked at; false when the
// connection tracks too many calls already.
func (c *pconn) track(cl *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tracked) >= c.p.cfg.MaxTracked {
		c.p.m.Untracked.Add(1)
		c.log.Warn().Str("method", cl.method).Msg("guard: too many calls in flight on one connection; not tracked")
		return false
	}
	c.tracked[idKey(cl.id)] = cl
	return true
}

// delete decides a bdev_lvol_delete: forward, refuse, or hold then forward.
func (c *pconn) delete(frame []byte, cl *call, name string) bool {
	p := c.p
	cl.name = name
	for waited := false; ; {
		d := p.tr.BeginDelete(name, cl.uuid)
		if p.tr.Len() == 0 {
			cl.del = d
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hs, uuid := p.tr.Holders(ctx, name)
		cancel()
		cl.uuid = uuid
		if len(hs) == 0 {
			cl.del = d
			break
		}
		// let holds that were waiting for this delete go ahead
		p.tr.EndDelete(d)
		rec := journal.GuardRecord{Method: cl.method, Name: name, LvolUUID: uuid, Holders: p.tr.Describe(hs),
			Conn: c.id, ReqID: string(cl.id)}
		if p.cfg.DeleteWait <= 0 || !c.wait(hs, rec, cl.start, !waited) {
			p.m.DeletesRefused.Add(1)
			rec.At, rec.Action = time.Now(), journal.GuardRefused
			rec.Code, rec.Message = spdk.CodeInternalError, BusyMessage
			rec.Waited = time.Since(cl.start)
			c.log.Warn().Str("lvol", name).Str("uuid", uuid).Strs("holders", rec.Holders).Msg("guard: delete of a held lvol refused busy; not forwarded")
			p.record(rec)
			c.inject(answer(cl.id, nil, &spdk.RPCError{Code: spdk.CodeInternalError, Message: BusyMessage}))
			return true
		}
		waited = true
		c.recheck(name)
		// look again: a new holder may have come while it waited
	}
	p.m.DeletesForwarded.Add(1)
	if !c.track(cl) {
		p.tr.EndDelete(cl.del)
	}
	return c.forward(frame, true)
}

// wait holds a delete until its holders end (true) or DeleteWait, counted
// from the delete's arrival, runs out or the guard stops (false).
func (c *pconn) wait(hs []*Hold, rec journal.GuardRecord, since time.Time, first bool) bool {
	p := c.p
	if first {
		p.m.DeletesDelayed.Add(1)
		rec.At, rec.Action = time.Now(), journal.GuardDelayed
		c.log.Info().Str("lvol", rec.Name).Strs("holders", rec.Holders).Dur("max", p.cfg.DeleteWait).Msg("guard: delete of a held lvol delayed until its holders end")
		p.record(rec)
	}
	t := time.NewTimer(time.Until(since.Add(p.cfg.DeleteWait)))
	defer t.Stop()
	for _, h := range hs {
		select {
		case <-h.Ended():
		case <-t.C:
			return false
		case <-p.stopping:
			return false
		}
	}
	return true
}

// recheck is the guarded delete's own look before a delayed delete goes
// out: the guard may have missed a holder (a checksum started before it
// ran, or by a client on the target's socket), so where the target offers
// it, a running checksum of the lvol is stopped first, as `lvfsck delete`
// does.
func (c *pconn) recheck(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	has, err := c.p.control.HasMethod(ctx, "bdev_lvol_stop_snapshot_checksum")
	if err != nil || !has {
		return
	}
	if err := c.p.control.StopSnapshotChecksum(ctx, name); err == nil {
		c.log.Info().Str("lvol", name).Msg("guard: stopped a checksum the guard had not seen before forwarding the delete")
	}
}

func (p *Proxy) record(r journal.GuardRecord) {
	if p.cfg.Sink != nil {
		p.cfg.Sink.Record(r)
	}
}

// targetQuery answers spdk.MethodGuardTarget itself (true): which target
// this client's upstream connection reaches, so that lvfsck behind the
// guard keys its journal by the target's run, not the guard's.
func (c *pconn) targetQuery(frame []byte) bool {
	var req wireRequest
	if json.Unmarshal(frame, &req) != nil || req.Method != spdk.MethodGuardTarget {
		return false
	}
	if notification(req.ID) {
		return true // a notification: nothing to answer
	}
	pid, err := spdk.PeerPID(c.up)
	var inc spdk.Incarnation
	if err == nil {
		inc, err = spdk.ReadIncarnation(procfs.Default, pid)
	}
	if err != nil {
		c.inject(answer(req.ID, nil, &spdk.RPCError{Code: spdk.CodeInternalError, Message: "lvfsck guard: target incarnation: " + err.Error()}))
		return true
	}
	res, _ := json.Marshal(spdk.GuardTarget{PID: inc.PID, Incarnation: inc.String()})
	c.inject(answer(req.ID, res, nil))
	return true
}

// notification: a request without an id, which gets no answer.
func notification(id json.RawMessage) bool { return len(id) == 0 || string(id) == "null" }

// answer builds one JSON-RPC answer as SPDK writes it.
func answer(id json.RawMessage, result json.RawMessage, e *spdk.RPCError) []byte {
	type wire struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result,omitempty"`
		Error   *spdk.RPCError  `json:"error,omitempty"`
	}
	b, _ := json.Marshal(wire{JSONRPC: "2.0", ID: id, Result: result, Error: e})
	return append(b, '\n')
}

// inject writes an answer of the guard's own to the client, between two
// answers of the target.
func (c *pconn) inject(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeClient(b)
}

// writeClient writes to the client; callers hold wmu. A client that went
// away stops getting bytes, but the answers still pass through the
// guard's tracking.
func (c *pconn) writeClient(b []byte) {
	if c.clientGone.Load() {
		return
	}
	if _, err := c.client.Write(b); err != nil {
		c.clientGone.Store(true)
		c.log.Debug().Err(err).Msg("guard: client write failed; draining answers")
	}
}

// down streams the target's answers to the client, frame by frame, looking
// at the head of each.
func (c *pconn) down() {
	buf := make([]byte, bufSize)
	head := make([]byte, 0, headCap)
	truncated := false
	var fr Framer
	locked, raw := false, false
	defer func() {
		if locked {
			c.wmu.Unlock()
		}
		c.mu.Lock()
		c.upDone = true
		c.signal()
		c.mu.Unlock()
		// the target is gone: the client learns it as it would without us
		if cw, ok := c.client.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		c.stopReading()
	}()
	for {
		n, err := c.up.Read(buf)
		p := buf[:n]
		for len(p) > 0 {
			if raw {
				c.inject(p)
				break
			}
			k, ended, ferr := fr.Scan(p)
			if ferr != nil {
				c.p.m.Unframed.Add(1)
				raw = true
				if !locked {
					c.wmu.Lock()
				}
				c.writeClient(p)
				c.wmu.Unlock()
				locked = false
				break
			}
			if !locked {
				c.wmu.Lock()
				locked = true
			}
			c.writeClient(p[:k])
			if room := headCap - len(head); k <= room {
				head = append(head, p[:k]...)
			} else {
				head, truncated = append(head, p[:room]...), true
			}
			if ended {
				c.wmu.Unlock()
				locked = false
				c.answered(head, truncated)
				head, truncated = head[:0], false
			} else if !fr.InValue() {
				c.wmu.Unlock()
				locked = false
			}
			p = p[k:]
		}
		if err != nil {
			return
		}
	}
}

// wireAnswer is an answer as the guard reads it.
type wireAnswer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *spdk.RPCError  `json:"error"`
}

// answered looks at one answer (its first headCap bytes; truncated: there
// was more).
func (c *pconn) answered(head []byte, truncated bool) {
	c.mu.Lock()
	c.outstanding--
	c.signal()
	n := len(c.tracked)
	c.mu.Unlock()
	if n == 0 {
		return
	}
	var a wireAnswer
	if truncated {
		id, ok := headID(head)
		if !ok {
			return
		}
		a.ID = id
	} else if json.Unmarshal(head, &a) != nil {
		return
	}
	c.mu.Lock()
	cl := c.tracked[idKey(a.ID)]
	delete(c.tracked, idKey(a.ID))
	c.mu.Unlock()
	if cl != nil {
		c.finish(cl, &a)
	}
}

func (c *pconn) finish(cl *call, a *wireAnswer) {
	p := c.p
	switch {
	case cl.method == "bdev_lvol_delete":
		p.tr.EndDelete(cl.del)
		p.m.DeleteAnswers.Add(1)
		rec := journal.GuardRecord{At: time.Now(), Action: journal.GuardAnswered, Method: cl.method, Name: cl.name,
			LvolUUID: cl.uuid, Conn: c.id, ReqID: string(cl.id), Waited: time.Since(cl.start)}
		ev, msg := c.log.Info(), "guard: delete answered by the target"
		if a.Error != nil {
			rec.Code, rec.Message = a.Error.Code, a.Error.Message
			if errors.Is(a.Error, spdk.ErrBusy) {
				// The target saw a holder the guard did not: the lvol is
				// now hidden (forced removal or zombie); `lvfsck check` finds it.
				p.m.DeleteBusy.Add(1)
				ev, msg = c.log.Error(), "guard: the target answered a forwarded delete busy: something the guard did not see held the lvol, which the target may now hide; run `lvfsck check`"
			}
		}
		ev.Str("lvol", cl.name).Int("code", rec.Code).Str("rpc_message", rec.Message).Msg(msg)
		p.record(rec)
	case cl.copyOp != 0:
		if a.Error != nil {
			if errors.Is(a.Error, spdk.ErrNotFound) {
				p.tr.CopyGone(cl.copyOp)
			}
			return
		}
		p.tr.CopyStatus(cl.copyOp, a.Result, false)
	case cl.hold != nil && cl.hold.Kind == HoldCopy:
		var r struct {
			OperationID *uint64 `json:"operation_id"`
		}
		if a.Error == nil && json.Unmarshal(a.Result, &r) == nil && r.OperationID != nil {
			p.tr.SetOp(cl.hold, *r.OperationID)
			return
		}
		p.tr.End(cl.hold)
	case cl.hold != nil:
		p.tr.End(cl.hold)
	}
}

// headID finds the top-level "id" of an answer from its first bytes.
func headID(head []byte) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(head))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if key, _ := k.(string); key == "id" {
			if dec.Decode(&v) != nil {
				return nil, false
			}
			return v, true
		}
		if dec.Decode(&v) != nil { // skip the value (a truncated one fails)
			return nil, false
		}
	}
	return nil, false
}

// idKey is an id's identity whatever its spelling (1, 1.0 and "1" differ;
// whitespace does not).
func idKey(id json.RawMessage) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(id))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return string(id)
	}
	return fmt.Sprintf("%T:%v", v, v)
}
