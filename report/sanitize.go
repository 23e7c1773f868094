package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTextField bounds any one string the text report prints. Names, uuids
// and evidence come from disk and from the target; a corrupt md page must
// not flood a cron mail.
const maxTextField = 2048

// safeText makes a data-derived string safe to print on a terminal: control
// and format characters (escape sequences, bidi overrides) and invalid UTF-8
// are escaped Go-style, and the result is cut at maxTextField bytes. Newlines
// are escaped too; callers split multi-line values first.
func safeText(s string) string {
	if isPlain(s) && len(s) <= maxTextField {
		return s // the common case allocates nothing
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if b.Len() >= maxTextField {
			fmt.Fprintf(&b, "…(+%d bytes)", len(s)-i)
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && (r < 0x20 || r == 0x7f):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isPlain reports whether s needs no escaping.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			return isPlainUTF8(s[i:])
		}
	}
	return true
}

func isPlainUTF8(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || r < 0x20 || r == 0x7f || unsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

// unsafeRune: C1 controls and format characters (bidi overrides, zero-width
// joiners) can reorder or hide what a terminal shows.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

// maxTextLines bounds the lines one multi-line value prints.
const maxTextLines = 64

// lines splits a possibly multi-line value into sanitized lines, dropping a
// trailing newline, at most maxTextLines of them.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	// SplitN allocates n slots up front: size n by the real line count.
	parts := strings.SplitN(s, "\n", min(strings.Count(s, "\n"), maxTextLines)+1)
	if len(parts) > maxTextLines {
		more := strings.Count(parts[maxTextLines], "\n") + 1
		parts = append(parts[:maxTextLines], fmt.Sprintf("…(+%d lines)", more))
		for i, p := range parts[:maxTextLines] {
			parts[i] = safeText(strings.TrimSuffix(p, "\r"))
		}
		return parts
	}
	for i, p := range parts {
		parts[i] = safeText(strings.TrimSuffix(p, "\r"))
	}
	return parts
}
