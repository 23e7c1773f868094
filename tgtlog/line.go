package tgtlog

import (
	"bytes"
	"time"
)

// line is one log line split into SPDK's fields. SPDK writes
//
//	[2026-11-24 22:14:54.864107] lvol.c:1084:lvol_delete_blob_cb: *ERROR*: msg
//
// (lib/log/log.c: "%s%s:%4d:%s: *%s*: %s", the timestamp in the target's
// local time, printed without a zone). Lines printed without the location
// ("Starting SPDK ...") have only the timestamp; with timestamps turned off
// there is none.
type line struct {
	at     time.Time // zero without a timestamp
	file   []byte    // "lvol.c"
	lineNo []byte    // "1084"
	fn     []byte
	level  []byte
	msg    []byte
}

// tsLen is len("[2006-01-02 15:04:05.000000]").
const tsLen = 28

// maxPrefix bounds how far into a line a timestamp is looked for: log
// collectors put their own prefix (a time, a pod name) before SPDK's.
const maxPrefix = 256

// unknownDateLen is len("[unknown date.000000]"), what SPDK prints when
// localtime fails.
const unknownDateLen = 21

// splitLine parses b. It never fails: what does not parse stays in msg.
func splitLine(b []byte, loc *time.Location) line {
	var l line
	rest := b
	if i, n, t := findTimestamp(b, loc); i >= 0 {
		l.at = t
		rest = bytes.TrimLeft(b[i+n:], " ")
	}
	l.file, l.lineNo, l.fn, l.level, l.msg = splitLocation(rest)
	l.msg = bytes.TrimRight(l.msg, " \t")
	return l
}

// findTimestamp finds "[YYYY-MM-DD HH:MM:SS.uuuuuu]" (or SPDK's
// "[unknown date.uuuuuu]") in b's first maxPrefix bytes and returns where it
// starts, its length and the time it says (zero for the unknown date), or
// -1.
func findTimestamp(b []byte, loc *time.Location) (int, int, time.Time) {
	limit := min(len(b), maxPrefix)
	for i := 0; i < limit; i++ {
		j := bytes.IndexByte(b[i:limit], '[')
		if j < 0 {
			return -1, 0, time.Time{}
		}
		i += j
		if i+tsLen <= len(b) && isDigit(b[i+1]) && b[i+20] == '.' && b[i+tsLen-1] == ']' {
			if t, ok := parseTimestamp(b[i:i+tsLen], loc); ok {
				return i, tsLen, t
			}
		}
		if i+unknownDateLen <= len(b) && bytes.HasPrefix(b[i+1:], []byte("unknown date.")) && b[i+unknownDateLen-1] == ']' {
			return i, unknownDateLen, time.Time{}
		}
	}
	return -1, 0, time.Time{}
}

// parseTimestamp reads "[2006-01-02 15:04:05.000000]" by hand: it runs on
// every line, and time.Parse is several times slower.
func parseTimestamp(b []byte, loc *time.Location) (time.Time, bool) {
	if len(b) != tsLen || b[0] != '[' || b[5] != '-' || b[8] != '-' || b[11] != ' ' ||
		b[14] != ':' || b[17] != ':' || b[20] != '.' || b[27] != ']' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if !isDigit(c) {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var v [7]int
	for i, f := range [7][2]int{{1, 5}, {6, 8}, {9, 11}, {12, 14}, {15, 17}, {18, 20}, {21, 27}} {
		n, ok := num(b[f[0]:f[1]])
		if !ok {
			return time.Time{}, false
		}
		v[i] = n
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60 {
		return time.Time{}, false
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], v[6]*1000, loc)
	if t.Day() != v[2] { // 2026-02-31 normalises to March: not a real date
		return time.Time{}, false
	}
	return t, true
}

// splitLocation splits "lvol.c:1084:lvol_delete_blob_cb: *ERROR*: msg". When
// b does not have that form, all of it is the message.
func splitLocation(b []byte) (file, lineNo, fn, level, msg []byte) {
	i := bytes.IndexByte(b, ':')
	if i <= 0 || i > 64 || bytes.IndexByte(b[:i], ' ') >= 0 {
		return nil, nil, nil, nil, b
	}
	file = b[:i]
	j := i + 1
	for j < len(b) && b[j] == ' ' { // "%4d" pads short line numbers
		j++
	}
	k := j
	for k < len(b) && k-j < 7 && isDigit(b[k]) {
		k++
	}
	if k == j || k >= len(b) || b[k] != ':' {
		return nil, nil, nil, nil, b
	}
	lineNo = b[j:k]
	f := k + 1
	e := bytes.IndexByte(b[f:], ':')
	if e <= 0 || e > 128 {
		return nil, nil, nil, nil, b
	}
	fn = b[f : f+e]
	r := b[f+e+1:]
	if !bytes.HasPrefix(r, []byte(" *")) {
		return nil, nil, nil, nil, b
	}
	r = r[2:]
	s := bytes.Index(r, []byte("*: "))
	if s <= 0 || s > 16 {
		if s2 := bytes.IndexByte(r, '*'); s2 > 0 && s2 <= 16 && s2 == len(r)-2 && r[len(r)-1] == ':' {
			// "*ERROR*:" with an empty message
			return file, lineNo, fn, r[:s2], nil
		}
		return nil, nil, nil, nil, b
	}
	return file, lineNo, fn, r[:s], r[s+3:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
