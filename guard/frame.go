package guard

import "errors"

// ErrFraming means the stream holds something that is not a JSON object or
// array where a value must start. The proxy then stops reading frames on
// that stream and passes its bytes through raw: the target (or client)
// answers garbage its own way.
var ErrFraming = errors.New("guard: not a JSON value where one must start")

// Framer finds where JSON values end in a byte stream fed in arbitrary
// pieces, without keeping the bytes: SPDK's JSON-RPC puts requests and
// answers back to back on the socket with no other framing, and an answer
// may be megabytes long. Only objects and arrays may appear at top level
// (SPDK parses nothing else into a request).
type Framer struct {
	depth  int
	inStr  bool
	esc    bool
	broken bool
}

// InValue reports whether the stream is inside a value (a value has started
// and not yet ended).
func (f *Framer) InValue() bool { return f.depth > 0 }

// Scan consumes a prefix of p: up to and including the end of the first
// value that ends in p (ended true), or all of p (ended false). Whitespace
// between values is consumed with the value that follows it. After an
// error the framer stays broken.
func (f *Framer) Scan(p []byte) (n int, ended bool, err error) {
	if f.broken {
		return 0, false, ErrFraming
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if f.inStr {
			// Skip the plain run of a string in one go: most answer bytes
			// are string contents.
			for i < len(p) && !f.esc && p[i] != '"' && p[i] != '\\' {
				i++
			}
			if i == len(p) {
				break
			}
			c = p[i]
			switch {
			case f.esc:
				f.esc = false
			case c == '\\':
				f.esc = true
			case c == '"':
				f.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			if f.depth == 0 {
				f.broken = true
				return i, false, ErrFraming
			}
			f.inStr = true
		case '{', '[':
			f.depth++
		case '}', ']':
			if f.depth == 0 {
				f.broken = true
				return i, false, ErrFraming
			}
			f.depth--
			if f.depth == 0 {
				return i + 1, true, nil
			}
		case ' ', '\t', '\r', '\n':
		default:
			if f.depth == 0 {
				f.broken = true
				return i, false, ErrFraming
			}
		}
	}
	return len(p), false, nil
}
