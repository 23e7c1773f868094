package spdk

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels. RPC answers are *RPCError values that match these with
// errors.Is whatever form the target used; transport failures wrap the
// transport sentinels.
var (
	// ErrNotFound: the named bdev, lvol, lvstore or operation does not exist.
	ErrNotFound = errors.New("spdk: not found")
	// ErrBusy: the target refused because the object is in use.
	ErrBusy = errors.New("spdk: busy")
	// ErrExists: the name is taken.
	ErrExists = errors.New("spdk: already exists")
	// ErrMethodNotFound: the target does not offer this method.
	ErrMethodNotFound = errors.New("spdk: method not found")
	// ErrInvalidParams: the target rejected the parameters.
	ErrInvalidParams = errors.New("spdk: invalid parameters")

	// ErrConnection: dialling, writing or reading the socket failed (target
	// down, restarted, connection reset or closed mid-answer), or a call on
	// the same connection timed out and took the connection down with it.
	ErrConnection = errors.New("spdk: connection failed")
	// ErrTooLarge: one answer exceeded the client's size bound, or a request
	// would not fit the target's receive buffer (MaxRequest; not sent).
	ErrTooLarge = errors.New("spdk: answer too large")
	// ErrProtocol: the target sent something that is not a JSON-RPC answer
	// to a pending call (garbage, an unknown id, a result of the wrong shape).
	ErrProtocol = errors.New("spdk: protocol error")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("spdk: client closed")
)

// JSON-RPC 2.0 reserved codes used by SPDK.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// errno values SPDK puts in "code", negated (and, in a few handlers, not).
const (
	errnoENOENT = 2
	errnoEBUSY  = 16
	errnoEEXIST = 17
	errnoENODEV = 19
	errnoEINVAL = 22
)

// RPCError is an error answer from the target.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Method is the method called; not part of the wire answer.
	Method string `json:"-"`
}

func (e *RPCError) Error() string {
	if e.Method == "" {
		return fmt.Sprintf("spdk rpc: %s (code %d)", e.Message, e.Code)
	}
	return fmt.Sprintf("spdk rpc %s: %s (code %d)", e.Method, e.Message, e.Code)
}

// Is makes errors.Is(err, ErrNotFound) (and the other answer sentinels)
// true for every form of that answer.
func (e *RPCError) Is(target error) bool {
	k := e.Kind()
	return k != nil && k == target
}

// Kind returns the sentinel this answer maps to, or nil when none fits.
//
// SPDK answers one condition in several forms: handlers that fail before
// calling into the lvol layer send the negated errno as the code
// ({-19, "No such device"}); completion callbacks send -32603 with
// strerror as the message ({-32603, "Device or resource busy"}); a few
// handlers send the errno positive. So the code decides when it is an
// errno, and for the generic codes the strerror message does.
func (e *RPCError) Kind() error {
	switch e.Code {
	case CodeMethodNotFound:
		return ErrMethodNotFound
	case CodeInvalidParams:
		return ErrInvalidParams
	case -errnoENODEV, errnoENODEV, -errnoENOENT, errnoENOENT:
		return ErrNotFound
	case -errnoEBUSY, errnoEBUSY:
		return ErrBusy
	case -errnoEEXIST, errnoEEXIST:
		return ErrExists
	case -errnoEINVAL, errnoEINVAL:
		return ErrInvalidParams
	}
	return kindFromMessage(e.Message)
}

// kindFromMessage maps strerror texts (glibc wording, which SPDK's
// spdk_strerror uses) and SPDK's own decode-failure text.
func kindFromMessage(msg string) error {
	switch strings.ToLower(strings.TrimSpace(msg)) {
	case "no such device", "no such file or directory":
		return ErrNotFound
	case "device or resource busy":
		return ErrBusy
	case "file exists":
		return ErrExists
	case "method not found":
		return ErrMethodNotFound
	case "invalid argument", "invalid parameters", "spdk_json_decode_object failed":
		return ErrInvalidParams
	}
	return nil
}

// AsRPCError returns the target's answer inside err, if there is one.
func AsRPCError(err error) (*RPCError, bool) {
	var re *RPCError
	ok := errors.As(err, &re)
	return re, ok
}
