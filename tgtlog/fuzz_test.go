package tgtlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: any input parses without panic, records come in line order,
// Text is bounded valid UTF-8, and the stats add up.
func FuzzParse(f *testing.F) {
	for _, name := range fixtureLogs {
		b, err := os.ReadFile(filepath.Join(fixtures, name+".spdk_tgt.log"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		// Each line alone too, so the fuzzer mutates the forms one by one.
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Add([]byte(closedLine("50.100000", u1) + failLines("50.100100")))
	f.Add([]byte("[2026-11-26 09:00:00.000001] bdev.c:4696:bdev_name_add: *ERROR*: Bdev name lvs-r/snap-x already exists\n" +
		"[2026-11-26 09:00:00.000003] vbdev_lvol.c:1811:f: *ERROR*: Cannot create bdev for lvol " + u1 + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewParser(bytes.NewReader(data), Options{MaxLine: 256, Context: true})
		last := 0
		n := 0
		for {
			r, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("error on a bytes.Reader: %v", err)
			}
			n++
			if r.Line < last || r.Line < 1 {
				t.Fatalf("line %d after %d", r.Line, last)
			}
			last = r.Line
			if len(r.Text) > MaxText || !utf8.ValidString(r.Text) {
				t.Fatalf("text %q", r.Text)
			}
			if r.Kind == "" {
				t.Fatal("record without kind")
			}
			for _, s := range []string{r.LvolUUID, r.LvolName, r.Alias, r.Lvstore, r.Bdev} {
				if len(s) > maxID || strings.ContainsAny(s, "\x00\n") {
					t.Fatalf("field %q", s)
				}
			}
		}
		st := p.Stats()
		if st.Records != n || st.Bytes != int64(len(data)) || st.Lines < last || st.Lines > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("stats %+v after %d records, last line %d, %d bytes", st, n, last, len(data))
		}
		if _, err := p.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after the end: %v", err)
		}
	})
}
