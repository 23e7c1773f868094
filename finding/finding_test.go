package finding

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSeverityRoundTrip(t *testing.T) {
	for _, s := range []Severity{Info, Warning, Error, Critical} {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var got Severity
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, s, got)
	}
	var s Severity
	require.Error(t, json.Unmarshal([]byte(`"fatal"`), &s))
}

func TestSortAndMax(t *testing.T) {
	fs := []Finding{
		{Code: "b", Severity: Warning},
		{Code: "a", Severity: Critical, BlobID: 2},
		{Code: "a", Severity: Critical, BlobID: 1},
	}
	Sort(fs)
	require.Equal(t, uint64(1), fs[0].BlobID)
	require.Equal(t, uint64(2), fs[1].BlobID)
	require.Equal(t, Code("b"), fs[2].Code)
	m, ok := Max(fs)
	require.True(t, ok)
	require.Equal(t, Critical, m)
	_, ok = Max(nil)
	require.False(t, ok)
}

func TestKeyStable(t *testing.T) {
	a := Finding{Code: "x", LvstoreUUID: "u", LvolUUID: "l", Message: "one"}
	b := a
	b.Message = "two"
	require.Equal(t, a.Key(), b.Key())
	c := Finding{Code: "x", LvstoreUUID: "u", Page: PageRef(3)}
	require.Contains(t, c.Key(), "page:3")
}
