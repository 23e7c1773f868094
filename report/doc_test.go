package report

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

// jsonFields lists the JSON names of t's fields, embedded structs flattened.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestDocCoversSchema keeps docs/check-json.md in step with the code: every
// field of the document and every metric family must be documented.
func TestDocCoversSchema(t *testing.T) {
	raw, err := os.ReadFile("../docs/check-json.md")
	require.NoError(t, err)
	doc := string(raw)
	for _, typ := range []reflect.Type{
		reflect.TypeFor[JSONReport](), reflect.TypeFor[JSONCounts](),
		reflect.TypeFor[JSONLvstore](), reflect.TypeFor[finding.Finding](),
	} {
		fields := jsonFields(typ)
		require.NotEmpty(t, fields)
		for _, name := range fields {
			require.Contains(t, doc, "| `"+name+"` |", "%s.%s is not documented", typ.Name(), name)
		}
	}
	require.Contains(t, doc, Schema)

	var buf bytes.Buffer
	require.NoError(t, WriteProm(&buf, pendingSummary(), t0))
	families := regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(buf.String(), -1)
	require.Len(t, families, 9)
	for _, m := range families {
		require.Contains(t, doc, "| `"+m[1]+"` |", "metric %s is not documented", m[1])
	}
}
