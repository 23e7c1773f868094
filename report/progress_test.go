package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := &ProgressBar{w: &buf}
	p.Update(10, 100) // small md regions get no bar
	require.Empty(t, buf.String())
	p.Update(1000, 8192)
	p.Update(2000, 8192) // within 100 ms: skipped
	p.Update(8192, 8192) // the end is always drawn
	p.Done()
	s := buf.String()
	require.Contains(t, s, "1000/8192 pages")
	require.NotContains(t, s, "2000/8192")
	require.Contains(t, s, "100% 8192/8192 pages")
	require.True(t, strings.HasSuffix(s, "\r\033[K"), "the bar is erased")
	require.Nil(t, NewProgressBar(&buf), "no bar when stderr is not a terminal")
}

func TestPrintable(t *testing.T) {
	require.Equal(t, "vol", Printable("vol"))
	require.Equal(t, `"a\x1b[31m"`, Printable("a\x1b[31m"))
	long := strings.Repeat("é", 200)
	p := Printable(long)
	require.True(t, utf8.ValidString(p))
	require.True(t, strings.HasSuffix(p, "…"))
}

func TestTimestamp(t *testing.T) {
	require.Equal(t, "(no time)           ", Timestamp(time.Time{}))
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	require.Equal(t, "2026-03-04 04:06:07Z", Timestamp(at))
	require.Len(t, Timestamp(time.Time{}), len(Timestamp(at)), "columns stay aligned")
}
