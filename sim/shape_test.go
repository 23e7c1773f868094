package sim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// shape returns the set of "path:type" of a JSON value: object keys by
// name, array elements as "[]" (all elements merged), types as JSON's.
// Values (uuids, times, counts) do not matter; names and types do.
func shape(raw json.RawMessage) (map[string]bool, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	walkShape(v, "$", out)
	return out, nil
}

func walkShape(v any, path string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		out[path+":object"] = true
		for k, e := range x {
			walkShape(e, path+"."+k, out)
		}
	case []any:
		out[path+":array"] = true
		for _, e := range x {
			walkShape(e, path+"[]", out)
		}
	case string:
		out[path+":string"] = true
	case float64:
		out[path+":number"] = true
	case bool:
		out[path+":bool"] = true
	case nil:
		out[path+":null"] = true
	}
}

func TestShape(t *testing.T) {
	s, err := shape(json.RawMessage(`{"a":[{"b":1},{"b":2,"c":"x"}],"d":true,"e":null}`))
	require.NoError(t, err)
	require.Equal(t, map[string]bool{
		"$:object": true, "$.a:array": true, "$.a[]:object": true, "$.a[].b:number": true,
		"$.a[].c:string": true, "$.d:bool": true, "$.e:null": true,
	}, s)
	_, err = shape(json.RawMessage(`{`))
	require.Error(t, err)
}

// capturedShapes reads every transcript in the fixtures: per method, the
// union of result shapes and their intersection (what every answer had).
func capturedShapes(t *testing.T) (union, inter map[string]map[string]bool) {
	t.Helper()
	answers := transcriptResults(t)
	require.NotEmpty(t, answers)
	union, inter = map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, a := range answers {
		m := a.method
		s, err := shape(a.result)
		require.NoError(t, err)
		if isEmptyArray(s) {
			continue // an empty list says nothing about its elements
		}
		if union[m] == nil {
			union[m], inter[m] = map[string]bool{}, copySet(s)
		}
		for k := range s {
			union[m][k] = true
		}
		for k := range inter[m] {
			if !s[k] {
				delete(inter[m], k)
			}
		}
	}
	return union, inter
}

// answer is one successful call of a captured transcript.
type answer struct {
	method string
	result json.RawMessage
}

// transcriptResults reads every *.transcript.json of the fixtures and
// returns its calls that have a result, in file and call order.
func transcriptResults(t *testing.T) []answer {
	t.Helper()
	files, err := filepath.Glob("../testdata/fixtures/*.transcript.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []answer
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var tr []struct {
			Request struct {
				Method string `json:"method"`
			} `json:"request"`
			Response *struct {
				Result json.RawMessage `json:"result"`
			} `json:"response"`
		}
		require.NoError(t, json.Unmarshal(b, &tr), f)
		for _, e := range tr {
			if e.Response != nil && e.Response.Result != nil {
				out = append(out, answer{e.Request.Method, e.Response.Result})
			}
		}
	}
	return out
}

func isEmptyArray(s map[string]bool) bool { return len(s) == 1 && s["$:array"] }

func copySet(s map[string]bool) map[string]bool {
	c := make(map[string]bool, len(s))
	for k := range s {
		c[k] = true
	}
	return c
}

func keys(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// compareShapes: the sim invents no field or type the real target did not
// answer, and answers every field the real target always answered.
func compareShapes(t *testing.T, method string, got map[string]bool, union, inter map[string]bool) {
	t.Helper()
	var extra, missing []string
	for k := range got {
		if !union[k] {
			extra = append(extra, k)
		}
	}
	for k := range inter {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	require.Empty(t, extra, "%s: fields the real target never answered", method)
	require.Empty(t, missing, "%s: fields the real target always answered", method)
}

// elementShapes reads the captured views (*.<method>.json, each a list) and
// returns the shapes of their elements keyed by kind (product_name for
// bdevs), as sorted path lists.
func elementShapes(t *testing.T, method string) map[string]map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../testdata/fixtures/*." + method + ".json")
	require.NoError(t, err)
	require.NotEmpty(t, files, method)
	out := map[string]map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var list []json.RawMessage
		require.NoError(t, json.Unmarshal(b, &list), f)
		addElements(t, out, list)
	}
	// The transcripts hold more answers of the same method (an exported,
	// hence claimed, lvol bdev; a subsystem with a listener).
	for _, a := range transcriptResults(t) {
		if a.method != method {
			continue
		}
		var list []json.RawMessage
		if json.Unmarshal(a.result, &list) == nil {
			addElements(t, out, list)
		}
	}
	return out
}

func addElements(t *testing.T, out map[string]map[string]bool, list []json.RawMessage) {
	t.Helper()
	for _, e := range list {
		sh, err := shape(e)
		require.NoError(t, err)
		out[elementKind(e)+"|"+strings.Join(keys(sh), ",")] = sh
	}
}

func elementKind(e json.RawMessage) string {
	var k struct {
		ProductName string `json:"product_name"`
	}
	_ = json.Unmarshal(e, &k)
	return k.ProductName
}

// requireSameElementShape: each element the sim answers has exactly the
// shape of some element the real target answered, of the same kind.
func requireSameElementShape(t *testing.T, method string, answer json.RawMessage, captured map[string]map[string]bool) {
	t.Helper()
	var list []json.RawMessage
	require.NoError(t, json.Unmarshal(answer, &list))
	require.NotEmpty(t, list, method)
	for _, e := range list {
		sh, err := shape(e)
		require.NoError(t, err)
		_, ok := captured[elementKind(e)+"|"+strings.Join(keys(sh), ",")]
		if !ok && sh["$.claimed:bool"] && !sh["$.claim_type:string"] {
			// SPDK writes claim_type only for a claimed bdev (the captured
			// unclaimed delay bdev has none); no unclaimed AIO bdev was
			// captured, so compare with the claimed one less that field.
			sh["$.claim_type:string"] = true
			_, ok = captured[elementKind(e)+"|"+strings.Join(keys(sh), ",")]
		}
		require.True(t, ok, "%s: element %s has a shape no real answer had", method, e)
	}
}
