package guard

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// frames returns the end offsets the framer finds in b fed in pieces of
// size step, and whether it broke.
func frames(b []byte, step int) (ends []int, broken bool) {
	var f Framer
	off := 0
	for off < len(b) {
		piece := b[off:min(off+step, len(b))]
		for len(piece) > 0 {
			n, ended, err := f.Scan(piece)
			if err != nil {
				return ends, true
			}
			off += n
			piece = piece[n:]
			if ended {
				ends = append(ends, off)
			}
		}
	}
	return ends, false
}

func TestFramer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		ends   []int
		broken bool
	}{
		{"back to back", `{"a":1}{"b":[2]}`, []int{7, 16}, false},
		{"whitespace between", " {}\n\t[1] ", []int{3, 8}, false},
		{"braces in strings", `{"s":"}{\"}"}`, []int{13}, false},
		{"escaped backslash ends string", `{"s":"\\"}{}`, []int{10, 12}, false},
		{"unfinished", `{"a":{`, nil, false},
		{"scalar at top", `12`, nil, true},
		{"string at top", `"x"`, nil, true},
		{"close at top", `}`, nil, true},
		{"garbage after", `{}x`, []int{2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 2, 3, 1000} {
				ends, broken := frames([]byte(tc.in), step)
				require.Equal(t, tc.ends, ends, "step %d", step)
				require.Equal(t, tc.broken, broken, "step %d", step)
			}
		})
	}
}

// FuzzFramer: the framer finds the same boundaries whatever the pieces the
// stream comes in, and on a stream of valid JSON objects and arrays the
// boundaries json.Decoder finds.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","method":"bdev_lvol_delete","id":1,"params":{"name":"lvs/a"}}{"id":2}`,
		`{"s":"\\\"}{"} [1,[2,{"x":"]"}]]`, `{`, `}{`, `"`, ` `, `[]{}`, "{\"a\":\"\\u00e9\"}\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		// the answer-head decoders take any bytes without panicking
		_, _ = headID(b)
		_ = idKey(b)
		whole, brokeWhole := frames(b, len(b)+1)
		split, brokeSplit := frames(b, int(step)%17+1)
		require.Equal(t, whole, split)
		require.Equal(t, brokeWhole, brokeSplit)

		// Against encoding/json: decode values one by one while they are
		// objects or arrays; each must end where the framer said.
		dec := json.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil || (v[0] != '{' && v[0] != '[') {
				break
			}
			require.Greater(t, len(whole), i, "json.Decoder found value %d, the framer did not", i)
			require.Equal(t, int(dec.InputOffset()), whole[i], "end of value %d", i)
		}
	})
}

// BenchmarkFramer: the guard scans every answer byte; a 1000-lvol
// bdev_lvol_get_lvols answer as the real target sent it.
func BenchmarkFramer(b *testing.B) {
	res, err := os.ReadFile("../testdata/fixtures/many-lvols.bdev_lvol_get_lvols.json")
	require.NoError(b, err)
	ans := []byte(`{"jsonrpc":"2.0","id":1,"result":` + string(res) + "}")
	b.SetBytes(int64(len(ans)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var f Framer
		for p := ans; len(p) > 0; {
			n, _, err := f.Scan(p[:min(len(p), 64<<10)])
			if err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/answer")
}
