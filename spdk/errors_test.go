package spdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var sentinels = []error{ErrNotFound, ErrBusy, ErrExists, ErrMethodNotFound, ErrInvalidParams}

func TestRPCErrorKind(t *testing.T) {
	cases := []struct {
		code int
		msg  string
		want error
	}{
		// Forms seen on the real v24.09 target (fixtures).
		{-32603, "Device or resource busy", ErrBusy},
		{-19, "No such device", ErrNotFound},
		{-32601, "Method not found", ErrMethodNotFound},
		{-17, "File exists", ErrExists},
		// Forms the handlers can send (vbdev_lvol_rpc.c).
		{19, "Unknown error -19", ErrNotFound}, // positive ENODEV
		{-2, "Lvol store lvs0 not found", ErrNotFound},
		{-32603, "No such device", ErrNotFound},
		{-32603, "No such file or directory", ErrNotFound},
		{-16, "Device or resource busy", ErrBusy},
		{16, "x", ErrBusy},
		{-32603, "File exists", ErrExists},
		{-32602, "Invalid parameters", ErrInvalidParams},
		{-32603, "spdk_json_decode_object failed", ErrInvalidParams},
		{-22, "Invalid clear_method parameter", ErrInvalidParams},
		{-32603, "Invalid argument", ErrInvalidParams},
		{-32603, " device or resource BUSY ", ErrBusy},
		// Not mapped.
		{-32603, "Cannot allocate memory", nil},
		{-12, "Cannot allocate memory", nil},
		{-32700, "Parse error", nil},
		{0, "", nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", tc.code, tc.msg), func(t *testing.T) {
			e := &RPCError{Code: tc.code, Message: tc.msg, Method: "m"}
			require.Equal(t, tc.want, e.Kind())
			wrapped := fmt.Errorf("outer: %w", e)
			for _, s := range sentinels {
				require.Equal(t, s == tc.want, errors.Is(wrapped, s), "errors.Is(%v)", s)
			}
			got, ok := AsRPCError(wrapped)
			require.True(t, ok)
			require.Equal(t, tc.code, got.Code)
			require.Contains(t, e.Error(), tc.msg)
			require.Contains(t, e.Error(), "m")
		})
	}
	_, ok := AsRPCError(ErrBusy)
	require.False(t, ok)
}

// TestRealErrorAnswers checks the answers captured from the real target map
// to the sentinel the scenario notes say they mean.
func TestRealErrorAnswers(t *testing.T) {
	type answer struct {
		Error *RPCError `json:"error"`
	}
	get := func(file string, path ...string) *RPCError {
		var v any
		require.NoError(t, json.Unmarshal(readFixture(t, file), &v))
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var a answer
		require.NoError(t, json.Unmarshal(b, &a))
		require.NotNil(t, a.Error, "%s %v", file, path)
		return a.Error
	}
	cases := []struct {
		err  *RPCError
		want error
	}{
		{get("resurrection.results.json", "delete"), ErrBusy},
		{get("resurrection.results.json", "retry"), ErrNotFound},
		{get("resurrection.results.json", "get_checksum_after"), ErrNotFound},
		{get("notify.stop-checksum.results.json", "01-stop-when-idle", "response"), ErrMethodNotFound},
		{get("shallow-copy.check_shallow_copy.json", "01-check-after-final-state", "response"), ErrNotFound},
		{get("reload-unsafe.summary.json", "delete_during_copy", "response"), ErrBusy},
		{get("reload-unsafe.summary.json", "bdev_aio_create_again", "response"), ErrExists},
	}
	for _, tc := range cases {
		require.ErrorIs(t, tc.err, tc.want, "%+v", tc.err)
	}
}

// TestEveryCapturedErrorIsMapped walks every fixture for error objects.
func TestEveryCapturedErrorIsMapped(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	require.NoError(t, err)
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["error"].(map[string]any); ok {
				if _, ok := e["code"]; ok {
					b, _ := json.Marshal(e)
					var re RPCError
					require.NoError(t, json.Unmarshal(b, &re))
					require.NotNil(t, re.Kind(), "unmapped %s", b)
					n++
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, f := range files {
		var v any
		require.NoError(t, json.Unmarshal(readFixture(t, filepath.Base(f)), &v))
		walk(v)
	}
	require.Greater(t, n, 30)
}
