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
	o, err := j.newObservation(incarnation, lvstoreUUID, at, lvols)
	if err != nil {
		return fail(err)
	}
	err = j.db.View(func(txn *badger.Txn) error {
		if err := o.readStored(txn); err != nil {
			return err
		}
		if err := o.listed(txn); err != nil {
			return err
		}
		return o.gone(txn)
	})
	if err != nil {
		return fail(err)
	}
	if err := o.markers(); err != nil {
		return fail(err)
	}
	if err := j.writeBatch(o.ops); err != nil {
		return fail(err)
	}
	return o.diff, nil
}

// observation is one ObserveLvols call: the new view, what the journal held
// for it, and the writes that record the difference.
type observation struct {
	j                    *Journal
	incarnation, lvstore string // as given
	inc, lvs             string // escaped for keys
	at                   time.Time
	now                  map[string]LvolObservation // uuid → as listed now
	statePrefix, obsKey  string
	incKey               string
	unchanged            map[string]bool   // uuid → stored state equals the new one
	prevRaw              map[string][]byte // uuid → stored state, for lvols that differ or left
	marker               obsMarker
	info                 IncarnationInfo
	diff                 Diff
	ops                  []op
}

// newObservation validates the view: escapable keys, every lvol of this
// lvstore, none listed twice, no more than maxLvolsPerObservation.
func (j *Journal) newObservation(incarnation, lvstoreUUID string, at time.Time, lvols []LvolObservation) (*observation, error) {
	inc, err := esc("incarnation", incarnation)
	if err != nil {
		return nil, err
	}
	lvs, err := esc("lvstore uuid", lvstoreUUID)
	if err != nil {
		return nil, err
	}
	if len(lvols) > maxLvolsPerObservation {
		return nil, fmt.Errorf("%w: %d lvols in one observation (max %d)", ErrInvalid, len(lvols), maxLvolsPerObservation)
	}
	if at.IsZero() {
		at = j.now()
	}
	now := make(map[string]LvolObservation, len(lvols))
	for _, l := range lvols {
		if _, err := esc("lvol uuid", l.UUID); err != nil {
			return nil, err
		}
		if l.LvstoreUUID == "" {
			l.LvstoreUUID = lvstoreUUID
		} else if l.LvstoreUUID != lvstoreUUID {
			return nil, fmt.Errorf("%w: lvol %s belongs to lvstore %s", ErrInvalid, l.UUID, l.LvstoreUUID)
		}
		if _, dup := now[l.UUID]; dup {
			return nil, fmt.Errorf("%w: lvol %s listed twice", ErrInvalid, l.UUID)
		}
		now[l.UUID] = l
	}
	return &observation{
		j: j, incarnation: incarnation, lvstore: lvstoreUUID, inc: inc, lvs: lvs, at: at, now: now,
		statePrefix: pState + inc + "/" + lvs + "/", obsKey: pObs + inc + "/" + lvs, incKey: pInc + inc,
		unchanged: map[string]bool{}, prevRaw: map[string][]byte{},
	}, nil
}

// readStored reads the stored state of the set and its markers. Decoding
// thousands of unchanged lvols on every run would be the cost of an
// observation; instead the stored bytes are compared with the encoding of
// the new view, and only what differs is copied (and later decoded).
func (o *observation) readStored(txn *badger.Txn) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // reused: Marshal would allocate per lvol
	err := scanItems(txn, o.statePrefix, func(k string, item *badger.Item) error {
		u := unesc(strings.TrimPrefix(k, o.statePrefix))
		if item.ValueSize() > maxValueLen {
			return fmt.Errorf("%s: value of %d bytes exceeds %d", k, item.ValueSize(), maxValueLen)
		}
		if cur, listed := o.now[u]; listed {
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
				o.unchanged[u] = true
				return nil
			}
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
		o.prevRaw[u] = v
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := getJSON(txn, o.obsKey, &o.marker); err != nil {
		return err
	}
	_, err = getJSON(txn, o.incKey, &o.info)
	return err
}

// decodePrev decodes the stored state of u. A damaged state record must
// not fail every later run: it reads as an lvol known by uuid only, and the
// new view overwrites it.
func (o *observation) decodePrev(u string) LvolObservation {
	var l LvolObservation
	if err := unmarshal(o.prevRaw[u], &l); err != nil {
		o.j.log.Warn().Err(err).Str("key", o.statePrefix+mustEsc(u)).Msg("journal: damaged lvol state replaced by this observation")
		l = LvolObservation{LvstoreUUID: o.lvstore}
	}
	l.UUID = u
	return l
}

// listed records the lvols of the new view that appeared or changed.
func (o *observation) listed(txn *badger.Txn) error {
	for _, u := range sortedKeys(o.now) {
		if o.unchanged[u] {
			continue
		}
		cur := o.now[u]
		_, known := o.prevRaw[u]
		var old LvolObservation
		if known {
			old = o.decodePrev(u)
			if cur.BlobID == 0 {
				cur.BlobID = old.BlobID
			}
		}
		switch {
		case !known:
			o.diff.Appeared = append(o.diff.Appeared, cur)
			var s seenRec
			if _, err := getJSON(txn, pSeen+o.inc+"/"+mustEsc(u), &s); err != nil {
				return err
			}
			if s.FirstSeen.IsZero() {
				s.FirstSeen = o.at
			}
			s.LvstoreUUID, s.Gone, s.LastSeen = o.lvstore, false, time.Time{}
			ops, err := o.j.lvolOps(&Event{At: o.at, Kind: EventSeen, Incarnation: o.incarnation, After: &cur}, cur,
				pSeen+o.inc+"/"+mustEsc(u), s, o.statePrefix+mustEsc(u))
			if err != nil {
				return err
			}
			o.ops = append(o.ops, ops...)
		case old != cur:
			o.diff.Changed = append(o.diff.Changed, Change{Before: old, After: cur})
			ops, err := o.j.lvolOps(&Event{At: o.at, Kind: EventChanged, Incarnation: o.incarnation, Before: &old, After: &cur}, cur,
				"", nil, o.statePrefix+mustEsc(u))
			if err != nil {
				return err
			}
			o.ops = append(o.ops, ops...)
		}
	}
	return nil
}

// gone records the lvols stored for the set that the new view no longer
// lists.
func (o *observation) gone(txn *badger.Txn) error {
	for _, u := range sortedKeys(o.prevRaw) {
		if _, still := o.now[u]; still {
			continue
		}
		old := o.decodePrev(u)
		o.diff.Disappeared = append(o.diff.Disappeared, old)
		s := seenRec{LvstoreUUID: o.lvstore, FirstSeen: o.marker.FirstSeen}
		if _, err := getJSON(txn, pSeen+o.inc+"/"+mustEsc(u), &s); err != nil {
			return err
		}
		s.Gone, s.LastSeen = true, o.marker.LastSeen
		e := &Event{At: o.at, Kind: EventGone, Incarnation: o.incarnation, Before: &old, LastSeen: o.marker.LastSeen}
		ops, err := o.j.lvolOps(e, old, pSeen+o.inc+"/"+mustEsc(u), s, "")
		if err != nil {
			return err
		}
		o.ops = append(o.ops, append(ops, delOp(o.statePrefix+mustEsc(u)))...)
	}
	return nil
}

// markers moves the set's and the incarnation's first/last seen to cover
// this observation. Their writes go last: a crash halfway leaves a state
// the next observation completes (re-reporting, never losing, what was not
// yet stored).
func (o *observation) markers() error {
	if o.marker.FirstSeen.IsZero() || o.at.Before(o.marker.FirstSeen) {
		o.marker.FirstSeen = o.at
	}
	if o.at.After(o.marker.LastSeen) {
		o.marker.LastSeen = o.at
	}
	o.marker.Count++
	o.info.ID = o.incarnation
	if o.info.FirstSeen.IsZero() || o.at.Before(o.info.FirstSeen) {
		o.info.FirstSeen = o.at
	}
	if o.at.After(o.info.LastSeen) {
		o.info.LastSeen = o.at
	}
	for _, m := range []struct {
		k string
		v any
	}{{o.obsKey, o.marker}, {o.incKey, o.info}} {
		op, err := setOp(m.k, m.v)
		if err != nil {
			return err
		}
		o.ops = append(o.ops, op)
	}
	return nil
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
