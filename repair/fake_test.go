package repair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fakes model what the captured real target did (testdata/fixtures):
// forced semantics answer busy AND drop the lvol from memory with its blob
// left on disk; fixed semantics answer busy and hide the lvol (gone from
// the views, its clone still naming it, retries "Invalid argument"); the
// hypothetical keep-listed semantics answer busy and change nothing. They
// expose no signal a real target lacks.

const fixtures = "../testdata/fixtures"

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// errRPC builds an error as the spdk adapter would: the target's message
// wrapping the sentinel.
func errRPC(sentinel error, code int, msg string) error {
	return fmt.Errorf("rpc error %d %q: %w", code, msg, sentinel)
}

var (
	answerBusy     = errRPC(ErrBusy, -32603, "Device or resource busy")
	answerNoDevice = errRPC(ErrNotFound, -19, "No such device")
	answerNoMethod = errRPC(ErrMethodNotFound, -32601, "Method not found")
	answerInvalid  = errRPC(ErrInvalid, -32603, "Invalid argument")
)

type fakeTarget struct {
	mu        sync.Mutex
	clk       *FakeClock
	disk      *fakeDisk
	semantics Semantics // SemanticsForced, SemanticsFixed or SemanticsKeepListed
	hidden    []Lvol    // fixed semantics: hidden after a busy delete, still held
	hasStop   bool      // Longhorn flavour with bdev_lvol_stop_snapshot_checksum

	lvstores   []Lvstore
	lvols      []Lvol
	base       Bdev
	claims     map[string]string // lvol uuid -> claim type
	namespaces []Namespace

	// checksums[uuid] is when a running checksum of that snapshot ends.
	checksums map[string]time.Time
	// baseRate is base-bdev bytes per second while a checksum runs;
	// lvolRate[uuid] is an lvol's own I/O rate.
	baseRate uint64
	lvolRate map[string]uint64
	baseIO   uint64
	lvolIO   map[string]uint64
	lastIO   time.Time

	wedge      bool // bdev_aio_delete never answers
	aioRemoved bool
	failLvols  error
	calls      []string
}

func (f *fakeTarget) log(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeTarget) called(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeTarget) checksumRunning(uuid string) bool {
	end, ok := f.checksums[uuid]
	return ok && f.clk.Now().Before(end)
}

func (f *fakeTarget) Lvstores(context.Context) ([]Lvstore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bdev_lvol_get_lvstores")
	return slices.Clone(f.lvstores), nil
}

func (f *fakeTarget) Lvols(context.Context) ([]Lvol, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bdev_lvol_get_lvols")
	if f.failLvols != nil {
		return nil, f.failLvols
	}
	return slices.Clone(f.lvols), nil
}

func (f *fakeTarget) Bdevs(context.Context) ([]Bdev, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bdev_get_bdevs")
	if f.aioRemoved {
		return nil, nil
	}
	out := []Bdev{f.base}
	for _, l := range f.lvols {
		ct, claimed := f.claims[l.UUID]
		out = append(out, Bdev{Name: l.UUID, Aliases: []string{l.Alias}, Product: "Logical Volume", Claimed: claimed, ClaimType: ct, BlockSize: 4096})
	}
	return out, nil
}

func (f *fakeTarget) Namespaces(context.Context) ([]Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("nvmf_get_subsystems")
	return slices.Clone(f.namespaces), nil
}

func (f *fakeTarget) HasMethod(_ context.Context, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("rpc_get_methods")
	return name == MethodStopSnapshotChecksum && f.hasStop, nil
}

func (f *fakeTarget) StopSnapshotChecksum(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bdev_lvol_stop_snapshot_checksum %s", name)
	if !f.hasStop {
		return answerNoMethod
	}
	i := slices.IndexFunc(f.lvols, func(l Lvol) bool { return l.UUID == name || l.Alias == name })
	if i < 0 {
		return answerNoDevice
	}
	if !f.checksumRunning(f.lvols[i].UUID) {
		return errRPC(errors.New("no checksum"), -32603, "No checksum running")
	}
	delete(f.checksums, f.lvols[i].UUID)
	return nil
}

func (f *fakeTarget) DeleteLvol(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bdev_lvol_delete %s", name)
	i := slices.IndexFunc(f.lvols, func(l Lvol) bool { return l.UUID == name || l.Alias == name })
	if i < 0 {
		if slices.ContainsFunc(f.hidden, func(l Lvol) bool { return l.UUID == name || l.Alias == name }) {
			return answerInvalid
		}
		return answerNoDevice
	}
	lv := f.lvols[i]
	if len(lv.Clones) > 1 {
		return errRPC(errors.New("invalid"), -32602, "Invalid parameters")
	}
	if f.checksumRunning(lv.UUID) {
		switch f.semantics {
		case SemanticsForced:
			f.drop(i) // memory only: the blob stays on disk
		case SemanticsFixed:
			// Unregistered and closed, kept in the lvstore: the clone
			// still names it.
			f.hidden = append(f.hidden, lv)
			f.lvols = slices.Delete(f.lvols, i, i+1)
		}
		return answerBusy
	}
	f.drop(i)
	f.disk.remove(lv.UUID)
	return nil
}

// drop removes lvol i from memory, as SPDK's lvol layer does: its clone
// keeps clone=true without a base snapshot name.
func (f *fakeTarget) drop(i int) {
	lv := f.lvols[i]
	f.lvols = slices.Delete(f.lvols, i, i+1)
	for j := range f.lvols {
		if f.lvols[j].BaseSnapshot == lv.Name && f.lvols[j].LvstoreUUID == lv.LvstoreUUID {
			f.lvols[j].BaseSnapshot = ""
		}
	}
}

// advanceIO accumulates counters up to now.
func (f *fakeTarget) advanceIO() {
	now := f.clk.Now()
	if f.lastIO.IsZero() {
		f.lastIO = now
	}
	dt := now.Sub(f.lastIO).Seconds()
	f.lastIO = now
	if f.lvolIO == nil {
		f.lvolIO = map[string]uint64{}
	}
	for _, end := range f.checksums {
		if now.Before(end) || now.Sub(end).Seconds() < dt {
			f.baseIO += uint64(float64(f.baseRate) * dt)
		}
	}
	for u, r := range f.lvolRate {
		f.lvolIO[u] += uint64(float64(r) * dt)
		f.baseIO += uint64(float64(r) * dt)
	}
}

func (f *fakeTarget) IOStats(context.Context) ([]IOStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bdev_get_iostat")
	f.advanceIO()
	out := []IOStat{{Name: f.base.Name, BytesRead: f.baseIO}}
	for _, l := range f.lvols {
		out = append(out, IOStat{Name: l.UUID, BytesWritten: f.lvolIO[l.UUID]})
	}
	return out, nil
}

func (f *fakeTarget) AioDelete(ctx context.Context, name string) error {
	f.mu.Lock()
	f.log("bdev_aio_delete %s", name)
	if f.wedge {
		// The unload waits forever for a blob to close; time passes.
		f.mu.Unlock()
		f.clk.Advance(time.Hour)
		<-ctx.Done()
		return ctx.Err()
	}
	defer f.mu.Unlock()
	if name != f.base.Name || f.aioRemoved {
		return answerNoDevice
	}
	f.aioRemoved = true
	// A clean unload: views empty, the lvstore's namespaces silently gone.
	var keep []Namespace
	for _, ns := range f.namespaces {
		if !slices.ContainsFunc(f.lvols, func(l Lvol) bool { return l.UUID == ns.BdevName }) {
			keep = append(keep, ns)
		}
	}
	f.namespaces, f.lvols, f.lvstores = keep, nil, nil
	f.claims = nil
	return nil
}

func (f *fakeTarget) AioCreate(_ context.Context, filename, name string, bs uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("bdev_aio_create %s %s %d", filename, name, bs)
	if !f.aioRemoved {
		return errRPC(errors.New("exists"), -17, "File exists")
	}
	if filename != f.base.AioFilename || name != f.base.Name || bs != f.base.BlockSize {
		return errRPC(errors.New("bad"), -22, "Invalid argument")
	}
	f.aioRemoved = false
	// The lvstore loads from disk: every persisted lvol is back.
	f.lvstores = []Lvstore{f.disk.lvstore}
	f.lvols = f.disk.load()
	return nil
}

// fakeDisk is the persisted view: blobs by lvol uuid.
type fakeDisk struct {
	mu      sync.Mutex
	lvstore Lvstore
	blobs   map[string]persisted
	fail    error
	reads   int
}

type persisted struct {
	lvol   Lvol
	blobID uint64
}

func (d *fakeDisk) remove(uuid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.blobs, uuid)
}

func (d *fakeDisk) has(uuid string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.blobs[uuid]
	return ok
}

// load rebuilds the live lvols as a target would at load: clone links from
// the persisted parents.
func (d *fakeDisk) load() []Lvol {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Lvol
	for _, p := range d.blobs {
		out = append(out, p.lvol)
	}
	slices.SortFunc(out, func(a, b Lvol) int { return strings.Compare(a.Alias, b.Alias) })
	return out
}

func (d *fakeDisk) BlobPresent(_ context.Context, lvs, uuid string, blobID uint64) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	if d.fail != nil {
		return false, d.fail
	}
	p, ok := d.blobs[uuid]
	return ok && p.lvol.LvstoreUUID == lvs && (blobID == 0 || p.blobID == blobID), nil
}

func (d *fakeDisk) FindBlob(_ context.Context, q BlobQuery) ([]BlobRef, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	if d.fail != nil {
		return nil, d.fail
	}
	var out []BlobRef
	for _, p := range d.blobs {
		l := p.lvol
		if q.LvstoreUUID != "" && l.LvstoreUUID != q.LvstoreUUID || q.LvstoreName != "" && l.LvstoreName != q.LvstoreName {
			continue
		}
		if q.LvolUUID != "" && l.UUID != q.LvolUUID || q.LvolUUID == "" && l.Name != q.LvolName {
			continue
		}
		out = append(out, BlobRef{BlobID: p.blobID, LvstoreUUID: l.LvstoreUUID, LvolUUID: l.UUID, LvolName: l.Name})
	}
	return out, nil
}

// fakeJournal keeps intents and outcomes in memory.
type fakeJournal struct {
	mu       sync.Mutex
	intents  []Intent
	outcomes map[string]Record
	fail     error
}

func (j *fakeJournal) RecordIntent(_ context.Context, in Intent) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return "", j.fail
	}
	in.ID = fmt.Sprintf("intent-%d", len(j.intents)+1)
	j.intents = append(j.intents, in)
	return in.ID, nil
}

func (j *fakeJournal) RecordOutcome(_ context.Context, id string, r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	if j.outcomes == nil {
		j.outcomes = map[string]Record{}
	}
	if _, dup := j.outcomes[id]; dup {
		return fmt.Errorf("outcome of %s recorded twice", id)
	}
	j.outcomes[id] = r
	return nil
}

func (j *fakeJournal) OpenIntents(context.Context) ([]Intent, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Intent
	for _, in := range j.intents {
		if _, done := j.outcomes[in.ID]; !done {
			out = append(out, in)
		}
	}
	return out, nil
}

func (j *fakeJournal) outcome(t *testing.T, id string) Record {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.outcomes[id]
	require.True(t, ok, "no outcome recorded for %s", id)
	return r
}

// --- a world built from a real capture ---

type world struct {
	clk     *FakeClock
	target  *fakeTarget
	disk    *fakeDisk
	journal *fakeJournal
	del     *Deleter
}

// notify fixture names: lvstore lvs-r on aio0; vol-a, vol-b, vol (clone of
// snap-x), snap-x.
const (
	uuidSnapX = "5ae2d848-da40-4d18-8f6c-64cb6802a968"
	uuidVol   = "cab61897-1d40-4dd8-9fb3-350e7c43404f"
	uuidVolA  = "8b5a765d-064b-4ec3-ae7c-f5944c2968de"
	uuidLvs   = "5623c961-e73c-4942-89a7-61e47f821fc3"
)

type fixBdev struct {
	Name      string   `json:"name"`
	Aliases   []string `json:"aliases"`
	Product   string   `json:"product_name"`
	BlockSize uint32   `json:"block_size"`
	Claimed   bool     `json:"claimed"`
	ClaimType string   `json:"claim_type"`
	Driver    struct {
		Aio *struct {
			Filename string `json:"filename"`
		} `json:"aio"`
		Lvol *struct {
			Lvstore      string   `json:"lvol_store_uuid"`
			Snapshot     bool     `json:"snapshot"`
			Clone        bool     `json:"clone"`
			BaseSnapshot string   `json:"base_snapshot"`
			Clones       []string `json:"clones"`
		} `json:"lvol"`
	} `json:"driver_specific"`
}

type fixLvol struct {
	Alias    string `json:"alias"`
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	Snapshot bool   `json:"is_snapshot"`
	Clone    bool   `json:"is_clone"`
	Lvs      struct {
		Name string `json:"name"`
		UUID string `json:"uuid"`
	} `json:"lvs"`
}

type fixLvstore struct {
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	BaseBdev string `json:"base_bdev"`
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

// newWorld loads the notify fixture's state before the delete: what the
// spdk adapter would produce from those exact answers.
func newWorld(t testing.TB, sem Semantics, hasStop bool) *world {
	t.Helper()
	var bdevs []fixBdev
	var lvols []fixLvol
	var stores []fixLvstore
	readJSON(t, "notify.before-delete.bdev_get_bdevs.json", &bdevs)
	readJSON(t, "notify.before-delete.bdev_lvol_get_lvols.json", &lvols)
	readJSON(t, "notify.before-delete.bdev_lvol_get_lvstores.json", &stores)
	require.Len(t, stores, 1)

	clk := NewFakeClock(t0)
	disk := &fakeDisk{lvstore: Lvstore{UUID: stores[0].UUID, Name: stores[0].Name, BaseBdev: stores[0].BaseBdev}, blobs: map[string]persisted{}}
	ft := &fakeTarget{clk: clk, disk: disk, semantics: sem, hasStop: hasStop, checksums: map[string]time.Time{},
		lvstores: []Lvstore{disk.lvstore}, claims: map[string]string{}, baseRate: 64 << 20}
	byUUID := map[string]fixBdev{}
	for _, b := range bdevs {
		byUUID[b.Name] = b
		if b.Driver.Aio != nil {
			ft.base = Bdev{Name: b.Name, Aliases: b.Aliases, Product: b.Product, Claimed: b.Claimed, ClaimType: b.ClaimType, BlockSize: b.BlockSize, AioFilename: b.Driver.Aio.Filename}
		}
	}
	for i, l := range lvols {
		lv := Lvol{UUID: l.UUID, Name: l.Name, Alias: l.Alias, LvstoreUUID: l.Lvs.UUID, LvstoreName: l.Lvs.Name, Snapshot: l.Snapshot, Clone: l.Clone}
		if b, ok := byUUID[l.UUID]; ok && b.Driver.Lvol != nil {
			lv.BaseSnapshot, lv.Clones = b.Driver.Lvol.BaseSnapshot, b.Driver.Lvol.Clones
		}
		ft.lvols = append(ft.lvols, lv)
		disk.blobs[l.UUID] = persisted{lvol: lv, blobID: 1<<32 | uint64(i+1)}
	}
	require.NotEmpty(t, ft.base.AioFilename)
	j := &fakeJournal{}
	return &world{clk: clk, target: ft, disk: disk, journal: j,
		del: &Deleter{Target: ft, Disk: disk, Journal: j, Clock: clk,
			Backoff: Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2, Rand: func() float64 { return 0.5 }}}}
}

// checksum starts a checksum of uuid that runs for d on the fake clock.
func (w *world) checksum(uuid string, d time.Duration) {
	w.target.mu.Lock()
	defer w.target.mu.Unlock()
	w.target.checksums[uuid] = w.clk.Now().Add(d)
}

func (w *world) listed(uuid string) bool {
	w.target.mu.Lock()
	defer w.target.mu.Unlock()
	return slices.ContainsFunc(w.target.lvols, func(l Lvol) bool { return l.UUID == uuid })
}

func (w *world) snapshotState() string {
	w.target.mu.Lock()
	defer w.target.mu.Unlock()
	w.disk.mu.Lock()
	defer w.disk.mu.Unlock()
	// fmt prints maps sorted: a stable fingerprint of every view.
	return fmt.Sprintf("%+v|%+v|%+v|%+v|%d", w.target.lvols, w.target.lvstores, w.target.namespaces, w.disk.blobs, len(w.journal.intents))
}
