package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/scanner"
)

// ScanSchema names the JSON document of `lvfsck scan --json`
// (docs/scan-json.md). Fields are only ever added under this name.
const ScanSchema = "lvfsck.scan/v1"

// WriteScanJSON writes the ScanSchema document of `lvfsck scan --json`:
// the view, with the exit code and the version that made it.
//
// It streams: each blob and finding is encoded on its own as it is
// written, so that a 10,000-lvol view is never held as one document. The
// bytes are those json.Encoder with a two-space indent writes for the
// whole document (a test holds it to that).
func WriteScanJSON(w io.Writer, v *scanner.View, code int, version string) error {
	return writeScanJSON(w, v, code, version, "")
}

// WriteScanJSONFailed writes the document of a scan that could not finish
// (exit 8, 32): what is known of the device — its path — with empty
// lists and "error" saying why, as `check --json` still writes its
// "incomplete" document.
func WriteScanJSONFailed(w io.Writer, device string, code int, version string, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	return writeScanJSON(w, &scanner.View{Device: device}, code, version, msg)
}

func writeScanJSON(w io.Writer, v *scanner.View, code int, version, errText string) error {
	s := &jsonStream{w: bufio.NewWriterSize(w, 64<<10)}
	s.w.WriteString("{")
	s.field("schema", ScanSchema)
	s.field("lvfsck_version", version)
	s.field("exit_code", code)
	if errText != "" {
		s.field("error", errText)
	}
	s.field("device", v.Device)
	s.field("size", v.Size)
	s.field("lvstore", v.Lvstore)
	s.field("mode", v.Mode)
	if v.Buffered {
		s.field("buffered", true)
	}
	s.blobs(v.Blobs)
	streamList(s, "findings", v.Findings)
	s.field("stats", v.Stats)
	s.w.WriteString("\n}\n")
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if s.err != nil {
		return fmt.Errorf("write json: %w", s.err)
	}
	return nil
}

// jsonStream writes the members of one top-level object, indented by two
// spaces per level, values encoded one at a time.
type jsonStream struct {
	w   *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
	out []byte
	n   int // members written
	err error
}

// encode writes v at nesting depth (1: a top-level member's value). It
// encodes compactly and indents itself: encoding/json's own indentation
// runs its validating scanner over every byte and took ten times as long
// as the encoding.
func (s *jsonStream) encode(v any, depth int) {
	if s.err != nil {
		return
	}
	if s.enc == nil {
		s.enc = json.NewEncoder(&s.buf)
	}
	s.buf.Reset()
	if s.err = s.enc.Encode(v); s.err != nil {
		return
	}
	s.out = appendIndent(s.out[:0], bytes.TrimSuffix(s.buf.Bytes(), []byte("\n")), depth)
	_, s.err = s.w.Write(s.out)
}

// appendIndent appends src, compact JSON as encoding/json writes it (no
// blank outside strings), indented as json.Indent with prefix and indent
// of two spaces per level, depth levels deep, would indent it.
func appendIndent(dst, src []byte, depth int) []byte {
	newline := func(dst []byte, depth int) []byte {
		dst = append(dst, '\n')
		for range depth {
			dst = append(dst, ' ', ' ')
		}
		return dst
	}
	open := false // after { or [: indent unless it closes at once
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open && c != '}' && c != ']' {
			open = false
			depth++
			dst = newline(dst, depth)
		}
		switch c {
		case '"':
			// Copy the string whole, up to its unescaped closing quote.
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j, len(src)-1)
			dst = append(dst, src[i:j+1]...)
			i = j
		case '{', '[':
			open = true
			dst = append(dst, c)
		case ',':
			dst = newline(append(dst, c), depth)
		case ':':
			dst = append(dst, ':', ' ')
		case '}', ']':
			if open {
				open = false // {} and [] stay as they are
			} else {
				depth--
				dst = newline(dst, depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func (s *jsonStream) key(k string) {
	if s.n > 0 {
		s.w.WriteString(",")
	}
	s.n++
	s.w.WriteString("\n  \"" + k + "\": ")
}

func (s *jsonStream) field(k string, v any) {
	s.key(k)
	s.encode(v, 1)
}

// streamList writes a list member element by element; an empty or nil
// list is [] (the documents promise lists, never null).
func streamList[T scanner.BlobInfo | finding.Finding](s *jsonStream, k string, xs []T) {
	s.key(k)
	if len(xs) == 0 {
		s.w.WriteString("[]")
		return
	}
	s.w.WriteString("[")
	for i := range xs {
		if i > 0 {
			s.w.WriteString(",")
		}
		s.w.WriteString("\n    ")
		s.encode(&xs[i], 2)
	}
	s.w.WriteString("\n  ]")
}

// blobs writes the blobs member. A blob is encoded by hand (blobjson.go),
// not by encoding/json: at 10,000 lvols reflection took most of the
// command's time after the read. The bytes are the same (tests hold it).
func (s *jsonStream) blobs(bs []scanner.BlobInfo) {
	s.key("blobs")
	if len(bs) == 0 {
		s.w.WriteString("[]")
		return
	}
	s.w.WriteString("[")
	for i := range bs {
		if s.err != nil {
			return
		}
		if i > 0 {
			s.w.WriteString(",")
		}
		s.out = append(s.out[:0], "\n    "...)
		s.out = appendBlob(s.out, &bs[i])
		_, s.err = s.w.Write(s.out)
	}
	s.w.WriteString("\n  ]")
}
