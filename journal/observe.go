package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// LvolObservation is one lvol as a live view (bdev_lvol_get_lvols,
// bdev_get_bdevs) showed it.
type LvolObservation struct {
	UUID         string `json:"uuid"`
	Name         string `json:"name,omitempty"`
	Alias        string `json:"alias,omitempty"` // "<lvstore name>/<name>"
	LvstoreUUID  string `json:"lvstore_uuid,omitempty"`
	LvstoreName  string `json:"lvstore_name,omitempty"`
	BlobID       uint64 `json:"blob_id,omitempty"` // 0 when the view did not say
	SizeBytes    uint64 `json:"size_bytes,omitempty"`
	Thin         bool   `json:"thin,omitempty"`
	ReadOnly     bool   `json:"read_only,omitempty"`
	Snapshot     bool   `json:"snapshot,omitempty"`
	Clone        bool   `json:"clone,omitempty"`
	BaseSnapshot string `json:"base_snapshot,omitempty"`
}

// Change is an lvol listed in two consecutive observations with different
// attributes.
type Change struct {
	Before LvolObservation `json:"before"`
	After  LvolObservation `json:"after"`
}

// Diff is what one observation changed against the previous one of the same
// (incarnation, lvstore). Each list is sorted by uuid.
type Diff struct {
	Appeared    []LvolObservation `json:"appeared,omitempty"`
	Disappeared []LvolObservation `json:"disappeared,omitempty"`
	Changed     []Change          `json:"changed,omitempty"`
}

// Empty reports whether the observation matched the last known state.
func (d Diff) Empty() bool {
	return len(d.Appeared) == 0 && len(d.Disappeared) == 0 && len(d.Changed) == 0
}

// IncarnationInfo is one target incarnation (a spdk_tgt process) and when
// lvfsck observed it.
type IncarnationInfo struct {
	ID        string    `json:"id"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// obsMarker records the observations of one (incarnation, lvstore) set: the
// only thing rewritten when nothing changed.
type obsMarker struct {
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int64     `json:"count"`
}

// seenRec answers SeenIn without knowing the lvstore. LastSeen is only
// meaningful once Gone: while the lvol is listed its last sighting is the
// set's latest observation (obsMarker.LastSeen).
type seenRec struct {
	LvstoreUUID string    `json:"lvstore_uuid"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	Gone        bool      `json:"gone,omitempty"`
}

// maxLvolsPerObservation bounds one observation; SPDK lvstores hold far
// fewer lvols than this.
const maxLvolsPerObservation = 1 << 20

// ObserveLvols records what the live view of lvstore lvstoreUUID showed at
// `at`, in target incarnation `incarnation`, and returns how it differs from
// the previous observation of that pair. Only the differences are written
// (seen, gone and changed events plus the new state of those lvols), and one
// small marker with the observation time: an unchanged view costs a few
// hundred bytes. An lvol whose BlobID is 0 (unknown) keeps the blob id seen
// before; that is not a change.
func (j *Journal) ObserveLvols(incarnation, lvstoreUUID string, at time.Time, lvols []LvolObservation) (Diff, error) {
	if err := j.begin(); err != nil {
		return Diff{}, err
	}
	defer j.mu.Unlock()
	fail := func(err error) (Diff, error) {
		return Diff{}, fmt.Errorf("observe lvstore %s in incarnation %s: %w", lvstoreUUID, incarnation, err)
	}
	inc, err := esc("incarnation", incarnation)
	if err != nil {
		return fail(err)
	}
	lvs, err := esc("lvstore uuid", lvstoreUUID)
	if err != nil {
		return fail(err)
	}
	if len(lvols) > maxLvolsPerObservation {
		return fail(fmt.Errorf("%w: %d lvols in one observation (max %d)", ErrInvalid, len(lvols), maxLvolsPerObservation))
	}
	if at.IsZero() {
		at = j.now()
	}
	now := make(map[string]LvolObservation, len(lvols))
	for _, l := range lvols {
		if _, err := esc("lvol uuid", l.UUID); err != nil {
			return fail(err)
		}
		if l.LvstoreUUID == "" {
			l.LvstoreUUID = lvstoreUUID
		} else if l.LvstoreUUID != lvstoreUUID {
			return fail(fmt.Errorf("%w: lvol %s belongs to lvstore %s", ErrInvalid, l.UUID, l.LvstoreUUID))
		}
		if _, dup := now[l.UUID]; dup {
			return fail(fmt.Errorf("%w: lvol %s listed twice", ErrInvalid, l.UUID))
		}
		now[l.UUID] = l
	}

	statePrefix := pState + inc + "/" + lvs + "/"
	obsKey := pObs + inc + "/" + lvs
	incKey := pInc + inc
	// Decoding thousands of unchanged lvols on every run would be the cost
	// of an observation; instead the stored bytes are compared with the
	// encoding of the new view, and only what differs is copied and decoded.
	unchanged := map[string]bool{}
	prevRaw := map[string][]byte{} // uuid -> stored state, for lvols that differ or left
	var marker obsMarker
	var info IncarnationInfo
	var diff Diff
	var ops []op

	err = j.db.View(func(txn *badger.Txn) error {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf) // reused: Marshal would allocate per lvol
		err := scanItems(txn, statePrefix, func(k string, item *badger.Item) error {
			u := unesc(strings.TrimPrefix(k, statePrefix))
			if item.ValueSize() > maxValueLen {
				return fmt.Errorf("%s: value of %d bytes exceeds %d", k, item.ValueSize(), maxValueLen)
			}
			if cur, listed := now[u]; listed {
				buf.Reset()
				if err := enc.Encode(cur); err != nil {
					return fmt.Errorf("encode lvol %s: %w", u, err)
				}
				same := false
				err := item.Value(func(v []byte) error {
					same = bytes.Equal(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), v)
					return nil
				})
				if err != nil {
					return fmt.Errorf("read %s: %w", k, err)
				}
				if same {
					unchanged[u] = true
					return nil
				}
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read %s: %w", k, err)
			}
			prevRaw[u] = v
			return nil
		})
		if err != nil {
			return err
		}
		if _, err := getJSON(txn, obsKey, &marker); err != nil {
			return err
		}
		if _, err := getJSON(txn, incKey, &info); err != nil {
			return err
		}

		// A damaged state record must not fail every later run: it reads
		// as an lvol known by uuid only, and the new view overwrites it.
		decodePrev := func(u string) LvolObservation {
			var o LvolObservation
			if err := unmarshal(prevRaw[u], &o); err != nil {
				j.log.Warn().Err(err).Str("key", statePrefix+mustEsc(u)).Msg("journal: damaged lvol state replaced by this observation")
				o = LvolObservation{LvstoreUUID: lvstoreUUID}
			}
			o.UUID = u
			return o
		}
		for _, u := range sortedKeys(now) {
			if unchanged[u] {
				continue
			}
			cur := now[u]
			_, known := prevRaw[u]
			var old LvolObservation
			if known {
				old = decodePrev(u)
				if cur.BlobID == 0 {
					cur.BlobID = old.BlobID
				}
			}
			switch {
			case !known:
				diff.Appeared = append(diff.Appeared, cur)
				var s seenRec
				if _, err := getJSON(txn, pSeen+inc+"/"+mustEsc(u), &s); err != nil {
					return err
				}
				if s.FirstSeen.IsZero() {
					s.FirstSeen = at
				}
				s.LvstoreUUID, s.Gone, s.LastSeen = lvstoreUUID, false, time.Time{}
				o, err := j.lvolOps(&Event{At: at, Kind: EventSeen, Incarnation: incarnation, After: &cur}, cur,
					pSeen+inc+"/"+mustEsc(u), s, statePrefix+mustEsc(u))
				if err != nil {
					return err
				}
				ops = append(ops, o...)
			case old != cur:
				diff.Changed = append(diff.Changed, Change{Before: old, After: cur})
				o, err := j.lvolOps(&Event{At: at, Kind: EventChanged, Incarnation: incarnation, Before: &old, After: &cur}, cur,
					"", nil, statePrefix+mustEsc(u))
				if err != nil {
					return err
				}
				ops = append(ops, o...)
			}
		}
		for _, u := range sortedKeys(prevRaw) {
			if _, still := now[u]; still {
				continue
			}
			old := decodePrev(u)
			diff.Disappeared = append(diff.Disappeared, old)
			s := seenRec{LvstoreUUID: lvstoreUUID, FirstSeen: marker.FirstSeen}
			if _, err := getJSON(txn, pSeen+inc+"/"+mustEsc(u), &s); err != nil {
				return err
			}
			s.Gone, s.LastSeen = true, marker.LastSeen
			e := &Event{At: at, Kind: EventGone, Incarnation: incarnation, Before: &old, LastSeen: marker.LastSeen}
			o, err := j.lvolOps(e, old, pSeen+inc+"/"+mustEsc(u), s, "")
			if err != nil {
				return err
			}
			ops = append(ops, append(o, delOp(statePrefix+mustEsc(u)))...)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}

	if marker.FirstSeen.IsZero() || at.Before(marker.FirstSeen) {
		marker.FirstSeen = at
	}
	if at.After(marker.LastSeen) {
		marker.LastSeen = at
	}
	marker.Count++
	info.ID = incarnation
	if info.FirstSeen.IsZero() || at.Before(info.FirstSeen) {
		info.FirstSeen = at
	}
	if at.After(info.LastSeen) {
		info.LastSeen = at
	}
	// Markers last: a crash halfway leaves a state the next observation
	// completes (re-reporting, never losing, what was not yet stored).
	for _, m := range []struct {
		k string
		v any
	}{{obsKey, marker}, {incKey, info}} {
		o, err := setOp(m.k, m.v)
		if err != nil {
			return fail(err)
		}
		ops = append(ops, o)
	}
	if err := j.writeBatch(ops); err != nil {
		return fail(err)
	}
	return diff, nil
}

// lvolOps builds the writes for one lvol's event, in crash-safe order: the
// event (and its index) before the state that makes it "known", so a crash
// can repeat an event but never lose one. seenKey/stateKey may be empty.
func (j *Journal) lvolOps(e *Event, l LvolObservation, seenKey string, seen any, stateKey string) ([]op, error) {
	e.LvstoreUUID, e.LvolUUID, e.LvolName, e.BlobID = l.LvstoreUUID, l.UUID, l.Alias, l.BlobID
	if e.LvolName == "" {
		e.LvolName = l.Name
	}
	ops, err := j.eventOps(e)
	if err != nil {
		return nil, err
	}
	if seenKey != "" {
		o, err := setOp(seenKey, seen)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	if stateKey != "" {
		o, err := setOp(stateKey, l)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	return ops, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// LastState returns the lvols of lvstoreUUID that the latest observation in
// incarnation listed, by uuid. Empty (not an error) when never observed.
func (j *Journal) LastState(incarnation, lvstoreUUID string) (map[string]LvolObservation, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	inc, err := esc("incarnation", incarnation)
	if err != nil {
		return nil, fmt.Errorf("last state: %w", err)
	}
	lvs, err := esc("lvstore uuid", lvstoreUUID)
	if err != nil {
		return nil, fmt.Errorf("last state: %w", err)
	}
	out := map[string]LvolObservation{}
	err = j.db.View(func(txn *badger.Txn) error {
		return scanJSON(txn, pState+inc+"/"+lvs+"/", func(_ string, o LvolObservation) error {
			out[o.UUID] = o
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("last state of %s in %s: %w", lvstoreUUID, incarnation, err)
	}
	return out, nil
}

// SeenIn reports when lvol lvolUUID was first and last listed in
// incarnation; ok is false when it never was. For an lvol still listed,
// last is the latest observation of its lvstore.
func (j *Journal) SeenIn(incarnation, lvolUUID string) (first, last time.Time, ok bool, err error) {
	if err := j.begin(); err != nil {
		return time.Time{}, time.Time{}, false, err
	}
	defer j.mu.Unlock()
	inc, err := esc("incarnation", incarnation)
	if err != nil {
		return time.Time{}, time.Time{}, false, fmt.Errorf("seen in: %w", err)
	}
	u, err := esc("lvol uuid", lvolUUID)
	if err != nil {
		return time.Time{}, time.Time{}, false, fmt.Errorf("seen in: %w", err)
	}
	err = j.db.View(func(txn *badger.Txn) error {
		var s seenRec
		found, err := getJSON(txn, pSeen+inc+"/"+u, &s)
		if err != nil || !found {
			return err
		}
		ok, first, last = true, s.FirstSeen, s.LastSeen
		if !s.Gone {
			var m obsMarker
			if _, err := getJSON(txn, pObs+inc+"/"+mustEsc(s.LvstoreUUID), &m); err != nil {
				return err
			}
			last = m.LastSeen
		}
		return nil
	})
	if err != nil {
		return time.Time{}, time.Time{}, false, fmt.Errorf("lvol %s in incarnation %s: %w", lvolUUID, incarnation, err)
	}
	return first, last, ok, nil
}

// Incarnations lists every target incarnation observed, oldest first.
func (j *Journal) Incarnations() ([]IncarnationInfo, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	var out []IncarnationInfo
	err := j.db.View(func(txn *badger.Txn) error {
		return scan(txn, pInc, "", true, func(k string, b []byte) error {
			var i IncarnationInfo
			if err := json.Unmarshal(b, &i); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			if i.ID == "" {
				i.ID = unesc(strings.TrimPrefix(k, pInc))
			}
			out = append(out, i)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list incarnations: %w", err)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].FirstSeen.Before(out[b].FirstSeen) })
	return out, nil
}

// Sighting is one lvol as seen in one incarnation.
type Sighting struct {
	LvstoreUUID string    `json:"lvstore_uuid"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Gone        bool      `json:"gone,omitempty"` // no longer listed by the latest observation
}

// Sightings returns every lvol ever listed in incarnation, by uuid: the
// bulk form of SeenIn, for callers that check thousands of lvols.
func (j *Journal) Sightings(incarnation string) (map[string]Sighting, error) {
	if err := j.begin(); err != nil {
		return nil, err
	}
	defer j.mu.Unlock()
	inc, err := esc("incarnation", incarnation)
	if err != nil {
		return nil, fmt.Errorf("sightings: %w", err)
	}
	out := map[string]Sighting{}
	err = j.db.View(func(txn *badger.Txn) error {
		markers := map[string]obsMarker{}
		prefix := pSeen + inc + "/"
		return scanJSON(txn, prefix, func(k string, s seenRec) error {
			last := s.LastSeen
			if !s.Gone {
				m, ok := markers[s.LvstoreUUID]
				if !ok {
					if _, err := getJSON(txn, pObs+inc+"/"+mustEsc(s.LvstoreUUID), &m); err != nil {
						return err
					}
					markers[s.LvstoreUUID] = m
				}
				last = m.LastSeen
			}
			out[unesc(strings.TrimPrefix(k, prefix))] = Sighting{LvstoreUUID: s.LvstoreUUID, FirstSeen: s.FirstSeen, LastSeen: last, Gone: s.Gone}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sightings in %s: %w", incarnation, err)
	}
	return out, nil
}

// Disappearances returns the gone events of every lvol, by uuid, oldest
// first: an lvol listed, then no longer listed, within one incarnation
// (Event.Incarnation; Event.LastSeen is the last sighting, Event.At the
// first observation without it).
func (j *Journal) Disappearances() (map[string][]Event, error) {
	tl, err := j.Timeline(time.Time{})
	if err != nil {
		return nil, fmt.Errorf("disappearances: %w", err)
	}
	out := map[string][]Event{}
	for _, e := range tl {
		if e.Kind == EventGone && e.LvolUUID != "" {
			out[e.LvolUUID] = append(out[e.LvolUUID], e)
		}
	}
	return out, nil
}
