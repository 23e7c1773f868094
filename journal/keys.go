package journal

// On-disk key layout (schema 1). Keys are text so `badger` dumps are
// readable; every identifier from outside is path-escaped so that "/" only
// ever separates components, and prefix scans cannot run into a neighbour.
//
//	meta/schema                          "1"
//	v1/run/<runID>                       Run
//	v1/inc/<incarnation>                 IncarnationInfo
//	v1/obs/<incarnation>/<lvstore>       obsMarker   (first/last observation of that set)
//	v1/state/<incarnation>/<lvstore>/<uuid>  stateRec (last known lvol; the diff base)
//	v1/seen/<incarnation>/<uuid>         seenRec     (first/last seen, for SeenIn)
//	v1/ev/<at>/<seq>                     Event       (the timeline, in time order)
//	v1/lvolev/<uuid>/<at>/<seq>          ""          (index: events of one lvol)
//	v1/intent/<intentID>                 DeleteIntent
//	v1/outcome/<intentID>                DeleteOutcome
//	v1/delidx/<uuid>/<intentID>          ""          (index: deletes of one lvol)
//	v1/semantics/<target>                SemanticsRecord
//	v1/finding/<finding key>             FindingRecord
//	v1/evidence/<sha256>                 Evidence
//	v1/evidx/<uuid or name>/<sha256>     ""          (index: evidence of one lvol)
//
// <at> and <seq> are 16 hex digits (nanoseconds since 1970, clamped at 0),
// so byte order is time order. Run and intent ids are UTC times at
// nanosecond precision ("20261126T100355.123456789Z"), bumped by a
// nanosecond when needed so they strictly increase within a journal.

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	schemaKey     = "meta/schema"
	schemaVersion = 1

	pRun      = "v1/run/"
	pInc      = "v1/inc/"
	pObs      = "v1/obs/"
	pState    = "v1/state/"
	pSeen     = "v1/seen/"
	pEv       = "v1/ev/"
	pLvolEv   = "v1/lvolev/"
	pIntent   = "v1/intent/"
	pOutcome  = "v1/outcome/"
	pDelIdx   = "v1/delidx/"
	pSem      = "v1/semantics/"
	pFinding  = "v1/finding/"
	pEvidence = "v1/evidence/"
	pEvIdx    = "v1/evidx/"

	// maxIDLen bounds every identifier that becomes part of a key: badger
	// keys are limited (64 KiB) and nothing lvfsck stores is that long.
	maxIDLen = 512
	// idLayout is fixed width so that ids sort as times.
	idLayout = "20060102T150405.000000000Z"
)

// esc makes one key component of an identifier, refusing empty or oversized
// ones.
func esc(what, s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	if len(s) > maxIDLen {
		return "", fmt.Errorf("%w: %s of %d bytes (max %d)", ErrInvalid, what, len(s), maxIDLen)
	}
	return url.PathEscape(s), nil
}

// mustEsc is esc for values already validated (or generated) by the caller.
func mustEsc(s string) string { return url.PathEscape(s) }

func unesc(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// nanos maps a time onto the sortable part of a key. Times before 1970 (and
// the zero time) clamp to 0; UnixNano is only defined up to year 2262.
func nanos(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	if t.Year() >= 2262 {
		return 1<<63 - 1
	}
	return uint64(t.UnixNano())
}

func hex16(v uint64) string { return fmt.Sprintf("%016x", v) }

func parseHex16(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

// evSuffix is "<at>/<seq>", shared by the timeline and its per-lvol index.
func evSuffix(at time.Time, seq int64) string {
	return hex16(nanos(at)) + "/" + hex16(uint64(seq))
}

// formatID renders a generated id.
func formatID(n int64) string { return time.Unix(0, n).UTC().Format(idLayout) }

// parseID is the inverse of formatID; ok is false for ids lvfsck did not
// generate (callers may pass their own intent ids).
func parseID(s string) (int64, bool) {
	t, err := time.Parse(idLayout, s)
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

// nextID returns a number strictly greater than every id this journal has
// handed out, close to the clock. Callers hold j.mu.
func (j *Journal) nextID() int64 {
	n := j.now().UnixNano()
	if n <= j.lastID {
		n = j.lastID + 1
	}
	j.lastID = n
	return n
}

// lastSegment returns what follows the final "/" of a key.
func lastSegment(k string) string {
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		return k[i+1:]
	}
	return k
}
