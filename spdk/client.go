package spdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultSocket is where spdk_tgt listens unless told otherwise (as rpc.py).
	DefaultSocket = "/var/tmp/spdk.sock"
	// DefaultMaxAnswer bounds one answer. 1000 lvols are ~0.4 MB of
	// bdev_lvol_get_lvols; bdev_get_bdevs is ~2 KB per bdev.
	DefaultMaxAnswer int64 = 64 << 20
	// MaxRequest is the size of spdk_tgt's receive buffer
	// (SPDK_JSONRPC_RECV_BUF_SIZE): a longer request fills it and the target
	// drops the connection without an answer, so the client refuses it.
	MaxRequest = 32 << 10
	// DefaultTimeout applies to a call whose ctx has no deadline (rpc.py's default).
	DefaultTimeout = 60 * time.Second
	// DefaultLongTimeout applies instead to calls that answer only when their
	// work is done (RegisterSnapshotChecksum) and whose ctx has no deadline.
	DefaultLongTimeout = time.Hour
)

type options struct {
	maxAnswer   int64
	timeout     time.Duration
	longTimeout time.Duration
}

// Option configures a Client.
type Option func(*options)

// WithMaxAnswerSize bounds the bytes of one answer (n > 0).
func WithMaxAnswerSize(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxAnswer = n
		}
	}
}

// WithTimeout sets the deadline of calls whose ctx has none (d > 0).
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithLongTimeout sets the deadline of long calls whose ctx has none (d > 0).
func WithLongTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.longTimeout = d
		}
	}
}

// Client talks to one spdk_tgt socket. It is safe for concurrent use: calls
// share one connection and are matched to answers by id, so a slow call
// (a checksum registration) does not hold up others. A call whose ctx
// expires returns at once and drops the connection (its answer may never
// come, and a target that missed one deadline is not trusted with the
// rest): other calls in flight on it fail with ErrConnection, and the next
// call dials again. Give long calls their own Client if that matters.
// After the target restarts, the next call dials transparently.
type Client struct {
	path   string
	opts   options
	nextID atomic.Uint64

	mu     sync.Mutex // guards cur, closed, dials
	cur    *conn
	closed bool
	dials  uint64

	methodsMu  sync.Mutex
	methods    map[string]struct{}
	methodsGen uint64
}

// Dial connects to the spdk_tgt socket at socketPath (DefaultSocket if
// empty). The connection is made now, so a missing target is reported here.
func Dial(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	if socketPath == "" {
		socketPath = DefaultSocket
	}
	c := &Client{path: socketPath, opts: options{
		maxAnswer:   DefaultMaxAnswer,
		timeout:     DefaultTimeout,
		longTimeout: DefaultLongTimeout,
	}}
	for _, o := range opts {
		o(&c.opts)
	}
	if _, _, err := c.conn(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// DialWait dials until the target accepts (a target starting up has no
// socket yet) or ctx ends, trying every interval (default 50 ms).
func DialWait(ctx context.Context, socketPath string, interval time.Duration, opts ...Option) (*Client, error) {
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c, err := Dial(ctx, socketPath, opts...)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// Path is the socket the client dials.
func (c *Client) Path() string { return c.path }

// Dials counts the connections made so far (1 after Dial; more after redials).
func (c *Client) Dials() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

// Close drops the connection; calls in flight fail, later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cur != nil {
		c.cur.fail(ErrClosed)
		c.cur = nil
	}
	return nil
}

// conn returns a live connection, dialling if there is none; fresh tells
// whether it was dialled by this call.
func (c *Client) conn(ctx context.Context) (cn *conn, fresh bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false, ErrClosed
	}
	if c.cur != nil && !c.cur.broken() {
		return c.cur, false, nil
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, false, fmt.Errorf("%w: dial %s: %w", ErrConnection, c.path, err)
	}
	c.cur = newConn(nc, c.opts.maxAnswer)
	c.dials++
	return c.cur, true, nil
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	ID      uint64 `json:"id"`
	Params  any    `json:"params,omitempty"`
}

// Call sends method with params (nil: no "params" member, which some SPDK
// methods require) and decodes the answer's result into result (nil:
// discard). Error answers are *RPCError; transport failures wrap
// ErrConnection, ErrTooLarge or ErrProtocol; an expired ctx wraps ctx.Err().
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	return c.call(ctx, c.opts.timeout, method, params, result)
}

func (c *Client) call(ctx context.Context, defTimeout time.Duration, method string, params, result any) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("spdk %s: %w", method, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defTimeout)
		defer cancel()
	}
	id := c.nextID.Add(1)
	req, err := json.Marshal(request{JSONRPC: "2.0", Method: method, ID: id, Params: params})
	if err != nil {
		return fmt.Errorf("spdk %s: encode request: %w", method, err)
	}
	if len(req) > MaxRequest {
		return fmt.Errorf("spdk %s: %w: request of %d bytes exceeds the target's %d-byte receive buffer", method, ErrTooLarge, len(req), MaxRequest)
	}
	for attempt := 0; ; attempt++ {
		cn, fresh, err := c.conn(ctx)
		if err != nil {
			return fmt.Errorf("spdk %s: %w", method, err)
		}
		ch, err := cn.register(id)
		if err != nil {
			if attempt == 0 {
				continue // broke between conn() and register(): dial again
			}
			return fmt.Errorf("spdk %s: %w", method, err)
		}
		if err := cn.write(ctx, req); err != nil {
			cn.unregister(id)
			if ctx.Err() != nil {
				cn.fail(fmt.Errorf("%w: write of %s (id %d) timed out", ErrConnection, method, id))
				return fmt.Errorf("spdk %s: send request: %w", method, ctx.Err())
			}
			cn.fail(fmt.Errorf("%w: write: %w", ErrConnection, err))
			if !fresh && attempt == 0 {
				// A reused connection whose peer went away (target restarted
				// while we idled): the target never read this request, so
				// sending it on a new connection cannot run it twice.
				continue
			}
			return fmt.Errorf("spdk %s: %w: write request: %w", method, ErrConnection, err)
		}
		select {
		case r := <-ch:
			return finish(method, r, result)
		case <-ctx.Done():
			cn.fail(fmt.Errorf("%w: call %s (id %d) got no answer in time; connection dropped", ErrConnection, method, id))
			return fmt.Errorf("spdk %s: no answer: %w", method, ctx.Err())
		}
	}
}

func finish(method string, r reply, result any) error {
	switch {
	case r.err != nil:
		return fmt.Errorf("spdk %s: %w", method, r.err)
	case r.rpcErr != nil:
		e := *r.rpcErr
		e.Method = method
		return &e
	case result == nil:
		return nil
	}
	if err := json.Unmarshal(r.result, result); err != nil {
		return fmt.Errorf("spdk %s: %w: decode result: %w", method, ErrProtocol, err)
	}
	return nil
}

// reply is what the reader hands a waiting call.
type reply struct {
	result json.RawMessage
	rpcErr *RPCError
	err    error
}

// conn is one socket plus its reader goroutine.
type conn struct {
	nc   net.Conn
	wsem chan struct{} // one writer at a time, acquirable with a ctx

	mu      sync.Mutex
	pending map[uint64]chan reply
	err     error // set once, when the connection is done for
}

func newConn(nc net.Conn, maxAnswer int64) *conn {
	c := &conn{nc: nc, wsem: make(chan struct{}, 1), pending: map[uint64]chan reply{}}
	go c.readLoop(maxAnswer)
	return c
}

func (c *conn) broken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

func (c *conn) register(id uint64) (chan reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	ch := make(chan reply, 1) // buffered: the reader never blocks on a caller
	c.pending[id] = ch
	return ch, nil
}

func (c *conn) unregister(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, id)
}

// fail marks the connection dead, closes it and fails every pending call
// with err. Only the first call has an effect.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	p := c.pending
	c.pending = nil
	c.mu.Unlock()
	_ = c.nc.Close()
	for _, ch := range p {
		ch <- reply{err: err}
	}
}

func (c *conn) write(ctx context.Context, b []byte) error {
	select {
	case c.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.wsem }()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	_, err := c.nc.Write(b)
	return err
}

// wireResponse is one answer as sent.
type wireResponse struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

func (c *conn) readLoop(maxAnswer int64) {
	br := &boundedReader{r: c.nc}
	dec := json.NewDecoder(br)
	for {
		// The bound counts from where this answer starts; bytes of the next
		// answer read ahead count too, which only matters near the bound.
		br.limit = dec.InputOffset() + maxAnswer
		var m wireResponse
		if err := dec.Decode(&m); err != nil {
			c.fail(readError(err, maxAnswer))
			return
		}
		if err := c.dispatch(&m); err != nil {
			c.fail(err)
			return
		}
	}
}

func readError(err error, maxAnswer int64) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%w: an answer exceeded %d bytes", ErrTooLarge, maxAnswer)
	case errors.As(err, &se), errors.As(err, &te):
		return fmt.Errorf("%w: undecodable answer: %w", ErrProtocol, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: target closed the connection", ErrConnection)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: connection closed in the middle of an answer: %w", ErrConnection, err)
	}
	return fmt.Errorf("%w: read: %w", ErrConnection, err)
}

// dispatch hands an answer to its call; an error means the stream can no
// longer be trusted.
func (c *conn) dispatch(m *wireResponse) error {
	if len(m.ID) == 0 || string(m.ID) == "null" {
		if m.Error != nil {
			// The target could not parse a request (or read its id).
			return fmt.Errorf("%w: answer without id: %w", ErrProtocol, m.Error)
		}
		return fmt.Errorf("%w: answer without id", ErrProtocol)
	}
	id, err := strconv.ParseUint(string(m.ID), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: answer id %.40q is not a request id", ErrProtocol, m.ID)
	}
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if !ok {
		// Ids of abandoned calls die with their connection, so an unknown
		// id means the peer is not answering what we asked.
		return fmt.Errorf("%w: answer for id %d, which no call is waiting for", ErrProtocol, id)
	}
	switch {
	case m.Error != nil:
		ch <- reply{rpcErr: m.Error}
	case m.Result == nil:
		ch <- reply{err: fmt.Errorf("%w: answer with neither result nor error", ErrProtocol)}
	default:
		ch <- reply{result: m.Result}
	}
	return nil
}

// boundedReader fails once more than limit bytes have been read in total.
type boundedReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n >= b.limit {
		return 0, ErrTooLarge
	}
	if rem := b.limit - b.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := b.r.Read(p)
	b.n += int64(k)
	return k, err
}
