package journal

import (
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// maxValueLen bounds what we decode from the database: our records are a
// few hundred bytes; anything huge is damage, not data.
const maxValueLen = 1 << 20

func getJSON(txn *badger.Txn, key string, v any) (bool, error) {
	it, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s: %w", key, err)
	}
	if it.ValueSize() > maxValueLen {
		return false, fmt.Errorf("get %s: value of %d bytes exceeds %d", key, it.ValueSize(), maxValueLen)
	}
	err = it.Value(func(b []byte) error { return json.Unmarshal(b, v) })
	if err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func has(txn *badger.Txn, key string) (bool, error) {
	_, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s: %w", key, err)
	}
	return true, nil
}

func putJSON(txn *badger.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := txn.Set([]byte(key), b); err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	return nil
}

// scan calls fn for every key under prefix, in key order, starting at
// start (a full key, or "" for the whole prefix). fn gets the value only
// when withValues is set. Returning errStop from fn ends the scan quietly.
func scan(txn *badger.Txn, prefix, start string, withValues bool, fn func(key string, val []byte) error) error {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = withValues
	opt.Prefix = []byte(prefix)
	it := txn.NewIterator(opt)
	defer it.Close()
	seek := prefix
	if start > prefix {
		seek = start
	}
	for it.Seek([]byte(seek)); it.ValidForPrefix([]byte(prefix)); it.Next() {
		item := it.Item()
		k := string(item.Key())
		var val []byte
		if withValues {
			if item.ValueSize() > maxValueLen {
				return fmt.Errorf("scan %s: value of %d bytes exceeds %d", k, item.ValueSize(), maxValueLen)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read %s: %w", k, err)
			}
			val = v
		}
		if err := fn(k, val); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

var errStop = errors.New("stop scan")

// scanItems calls fn with every item under prefix, values not prefetched:
// fn reads (or compares) the value in place, without a copy.
func scanItems(txn *badger.Txn, prefix string, fn func(key string, item *badger.Item) error) error {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Prefix = []byte(prefix)
	it := txn.NewIterator(opt)
	defer it.Close()
	for it.Seek([]byte(prefix)); it.ValidForPrefix([]byte(prefix)); it.Next() {
		if err := fn(string(it.Item().Key()), it.Item()); err != nil {
			return err
		}
	}
	return nil
}

// scanJSON decodes every value under prefix into a fresh T.
func scanJSON[T any](txn *badger.Txn, prefix string, fn func(key string, v T) error) error {
	return scan(txn, prefix, "", true, func(k string, b []byte) error {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		return fn(k, v)
	})
}

// readAll decodes every record under prefix, in key order; what names the
// list in an error.
func readAll[T any](j *Journal, prefix, what string) ([]T, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	var out []T
	err := j.db.View(func(txn *badger.Txn) error {
		return scanJSON(txn, prefix, func(_ string, v T) error {
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// lastKey returns the greatest key under prefix, or "".
func lastKey(txn *badger.Txn, prefix string) string {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Reverse = true
	opt.Prefix = []byte(prefix)
	it := txn.NewIterator(opt)
	defer it.Close()
	// In reverse, Seek finds the greatest key <= the seek key; 0xff sorts
	// after every text key under prefix.
	it.Seek(append([]byte(prefix), 0xff))
	if !it.ValidForPrefix([]byte(prefix)) {
		return ""
	}
	return string(it.Item().KeyCopy(nil))
}

// op is one write in a batch.
type op struct {
	key string
	val []byte // nil: delete
}

// writeBatch applies ops in as few transactions as badger allows. It is not
// atomic across transactions; callers order ops so that a crash halfway
// leaves the journal consistent (markers last), and every such write is
// idempotent when repeated.
func (j *Journal) writeBatch(ops []op) error {
	for len(ops) > 0 {
		txn := j.db.NewTransaction(true)
		n := 0
		for ; n < len(ops); n++ {
			var err error
			if ops[n].val == nil {
				err = txn.Delete([]byte(ops[n].key))
			} else {
				err = txn.Set([]byte(ops[n].key), ops[n].val)
			}
			if errors.Is(err, badger.ErrTxnTooBig) {
				break
			}
			if err != nil {
				txn.Discard()
				return fmt.Errorf("write %s: %w", ops[n].key, err)
			}
		}
		if n == 0 {
			txn.Discard()
			return fmt.Errorf("write %s: single entry too big for a transaction", ops[0].key)
		}
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("commit %d writes: %w", n, err)
		}
		ops = ops[n:]
	}
	return nil
}

func setOp(key string, v any) (op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return op{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return op{key: key, val: b}, nil
}

func delOp(key string) op { return op{key: key} }

// emptyVal marks index keys; non-nil so writeBatch does not take it for a
// delete.
var emptyVal = []byte{}

// unmarshal decodes one stored record, bounding its size first.
func unmarshal(b []byte, v any) error {
	if len(b) > maxValueLen {
		return fmt.Errorf("record of %d bytes exceeds %d", len(b), maxValueLen)
	}
	return json.Unmarshal(b, v)
}
