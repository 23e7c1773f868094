package sim

import (
	"errors"
	"fmt"
)

// RPCError is a JSON-RPC error answer, as the real target sends it.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// JSON-RPC 2.0 codes SPDK uses.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternalError  = -32603
)

// errno values (Linux) and their strerror texts, as SPDK answers them.
const (
	ePERM     = 1
	eNOENT    = 2
	eBUSY     = 16
	eEXIST    = 17
	eNODEV    = 19
	eINVAL    = 22
	eNOSPC    = 28
	eCANCELED = 125
)

var strerror = map[int]string{
	ePERM:     "Operation not permitted",
	eNOENT:    "No such file or directory",
	eBUSY:     "Device or resource busy",
	eEXIST:    "File exists",
	eNODEV:    "No such device",
	eINVAL:    "Invalid argument",
	eNOSPC:    "No space left on device",
	eCANCELED: "Operation canceled",
}

// errnoErr is the form `send_error_response(request, -errno, strerror(errno))`.
func errnoErr(errno int) *RPCError { return &RPCError{Code: -errno, Message: strerror[errno]} }

// internalErr is the form `send_error_response(request, INTERNAL_ERROR, strerror(errno))`.
func internalErr(errno int) *RPCError {
	return &RPCError{Code: codeInternalError, Message: strerror[errno]}
}

// invalidParamsErr is the form `send_error_response(request, INVALID_PARAMS, strerror(errno))`.
func invalidParamsErr(errno int) *RPCError {
	return &RPCError{Code: codeInvalidParams, Message: strerror[errno]}
}

var (
	errNoDev        = errnoErr(eNODEV)
	errDecodeFailed = &RPCError{Code: codeInternalError, Message: "spdk_json_decode_object failed"}
	errMethod       = &RPCError{Code: codeMethodNotFound, Message: "Method not found"}
)

// Errors of the model (not RPC answers); handlers map them to answers.
var (
	// ErrSocketInUse: another process answers on the RPC socket.
	ErrSocketInUse = errors.New("socket in use")
	// ErrNoSpace: no free cluster or md page left.
	ErrNoSpace = errors.New("no space left in the blobstore")
)
