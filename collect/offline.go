package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lvfsck/lvfsck/spdk"
)

// Files names captured RPC answers, as found in a support bundle: each file
// holds the method's result, or the whole JSON-RPC response around it.
// Lvstores and Lvols are required; Bdevs and Notify may be empty.
type Files struct {
	Lvstores string // bdev_lvol_get_lvstores
	Lvols    string // bdev_lvol_get_lvols
	Bdevs    string // bdev_get_bdevs
	Notify   string // notify_get_notifications
}

// maxAnswerFile bounds a captured answer: the target itself caps one
// answer at 32 MiB.
const maxAnswerFile = 32 << 20

// ErrCaptured wraps every failure to read or decode a captured answer.
var ErrCaptured = errors.New("bad captured RPC answer")

// LoadFiles reads captured answers into Answers.
func LoadFiles(f Files) (Answers, error) {
	var a Answers
	if f.Lvstores == "" || f.Lvols == "" {
		return a, fmt.Errorf("%w: both the lvstores and the lvols answers are needed", ErrCaptured)
	}
	if err := decodeFile(f.Lvstores, &a.Lvstores); err != nil {
		return Answers{}, err
	}
	if err := decodeFile(f.Lvols, &a.Lvols); err != nil {
		return Answers{}, err
	}
	if f.Bdevs != "" {
		if err := decodeFile(f.Bdevs, &a.Bdevs); err != nil {
			return Answers{}, err
		}
		if a.Bdevs == nil {
			a.Bdevs = []spdk.Bdev{}
		}
	}
	if f.Notify != "" {
		if err := decodeFile(f.Notify, &a.Notifications); err != nil {
			return Answers{}, err
		}
		a.NotifyAvailable = true
		if len(a.Notifications) > maxNotifications {
			a.Notifications = a.Notifications[len(a.Notifications)-maxNotifications:]
		}
	}
	return a, nil
}

func decodeFile(path string, v any) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCaptured, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxAnswerFile+1))
	if err != nil {
		return fmt.Errorf("%w: read %s: %w", ErrCaptured, path, err)
	}
	if len(b) > maxAnswerFile {
		return fmt.Errorf("%w: %s is over %d bytes", ErrCaptured, path, maxAnswerFile)
	}
	if err := DecodeAnswer(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// DecodeAnswer decodes one captured answer into v (a pointer to a slice of
// the spdk type): either the bare result array, or a JSON-RPC response
// object {"jsonrpc", "id", "result"}; an error response, a null and an
// element that is not an object are refused.
func DecodeAnswer(b []byte, v any) error {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '{' {
		var resp struct {
			Result json.RawMessage  `json:"result"`
			Error  *json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(t, &resp); err != nil {
			return fmt.Errorf("%w: %w", ErrCaptured, err)
		}
		if resp.Error != nil {
			return fmt.Errorf("%w: an error response, not a result: %s", ErrCaptured, truncate(string(*resp.Error), 200))
		}
		if resp.Result == nil {
			return fmt.Errorf("%w: an object without a result", ErrCaptured)
		}
		t = resp.Result
	}
	// Every answer lvfsck reads is an array of objects. A null (the whole
	// answer, or one element) would decode as "none" or as a zero value:
	// an empty view taken for the target's.
	var elems []json.RawMessage
	if err := json.Unmarshal(t, &elems); err != nil {
		return fmt.Errorf("%w: %w", ErrCaptured, err)
	}
	if elems == nil {
		return fmt.Errorf("%w: null, not an array", ErrCaptured)
	}
	for i, e := range elems {
		if e := bytes.TrimSpace(e); len(e) == 0 || e[0] != '{' {
			return fmt.Errorf("%w: element %d is %s, not an object", ErrCaptured, i, truncate(string(e), 40))
		}
	}
	if err := json.Unmarshal(t, v); err != nil {
		return fmt.Errorf("%w: %w", ErrCaptured, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
