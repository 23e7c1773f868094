package report

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Printable quotes a data-derived name that would not print safely on one
// line (control characters, invalid UTF-8) and cuts a very long one, for
// the one-line-per-item listings (scan tree, history, log import).
func Printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd {
			return strconv.Quote(s)
		}
	}
	if len(s) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

// Timestamp prints a time as the listings do: UTC, to the second, with a
// fixed width so that a missing time keeps the columns aligned.
func Timestamp(t time.Time) string {
	if t.IsZero() {
		return "(no time)           "
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
