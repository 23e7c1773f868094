package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rig is a target on a temporary image, called without a socket.
type rig struct {
	t     *testing.T
	tgt   *Target
	image string
	log   *syncBuf
	cfg   Config
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = filepath.Join(t.TempDir(), "disk.img")
	}
	if cfg.Size == 0 {
		cfg.Size = 64 << 20
	}
	if cfg.OpDuration == 0 {
		cfg.OpDuration = 200 * time.Millisecond
	}
	r := &rig{t: t, image: cfg.Image, log: &syncBuf{b: &bytes.Buffer{}}}
	cfg.Log = r.log
	r.cfg = cfg
	tgt, err := New(cfg)
	require.NoError(t, err)
	r.tgt = tgt
	t.Cleanup(func() { tgt.Crash() })
	return r
}

// restart shuts the target down (clean or not) and starts a new one on the
// same image.
func (r *rig) restart(clean bool) {
	r.t.Helper()
	if clean {
		require.NoError(r.t, r.tgt.Shutdown())
	} else {
		r.tgt.Crash()
	}
	tgt, err := New(r.cfg)
	require.NoError(r.t, err)
	r.tgt = tgt
	r.t.Cleanup(func() { tgt.Crash() })
}

// call runs one method and returns the JSON of its result, or its error.
func (r *rig) call(method string, params any) (json.RawMessage, *RPCError) {
	r.t.Helper()
	req := &request{Method: method, ID: json.RawMessage("1")}
	if params != nil {
		b, err := json.Marshal(params)
		require.NoError(r.t, err)
		req.Params = b
	}
	res, rerr := r.tgt.call(req)
	if d, ok := res.(deferred); ok {
		res, rerr = d()
	}
	if tr, ok := res.(thenRun); ok {
		res = tr.res
		defer tr.fn()
	}
	if rerr != nil {
		return nil, rerr
	}
	b, err := json.Marshal(res)
	require.NoError(r.t, err)
	return b, nil
}

// ok calls and requires success, decoding the result into out (may be nil).
func (r *rig) ok(method string, params any, out any) {
	r.t.Helper()
	b, e := r.call(method, params)
	require.Nil(r.t, e, "%s: %v", method, e)
	if out != nil {
		require.NoError(r.t, json.Unmarshal(b, out))
	}
}

// async starts a deferred call (a checksum) and returns its outcome channel.
func (r *rig) async(method string, params any) <-chan *RPCError {
	r.t.Helper()
	b, _ := json.Marshal(params)
	res, rerr := r.tgt.call(&request{Method: method, ID: json.RawMessage("1"), Params: b})
	ch := make(chan *RPCError, 1)
	d, isDeferred := res.(deferred)
	if !isDeferred {
		ch <- rerr
		return ch
	}
	go func() { _, e := d(); ch <- e }()
	return ch
}

func (r *rig) lvols() []lvolJSON {
	var out []lvolJSON
	r.ok("bdev_lvol_get_lvols", nil, &out)
	return out
}

func (r *rig) lvol(name string) (lvolJSON, bool) {
	for _, l := range r.lvols() {
		if l.Name == name {
			return l, true
		}
	}
	return lvolJSON{}, false
}

// onDisk is what the image holds, read back with the stand-in's own load.
type onDisk struct {
	Clean bool
	ld    *LoadedStore
	// Problems is what does not add up: blobs marked in the blob id mask
	// that do not open, and masks (on disk when clean, replayed when not)
	// that differ from what the loaded blobs use.
	Problems []string
}

// disk loads the image as a restart would, without starting a target.
func (r *rig) disk() onDisk {
	r.t.Helper()
	dev, err := OpenImage(r.image, 0)
	require.NoError(r.t, err)
	defer dev.Close()
	ld, err := loadImage(dev)
	require.NoError(r.t, err)
	require.NotNil(r.t, ld, "no lvstore on the image")
	d := onDisk{Clean: ld.Clean, ld: ld}
	s := newLvstore(ld.Geo, nil)
	for _, b := range ld.Blobs {
		s.adopt(b)
	}
	used := s.masks()
	for _, m := range []struct {
		name      string
		held, got []byte
	}{{"used pages", ld.Held.UsedPages, used.UsedPages}, {"used clusters", ld.Held.UsedClusters, used.UsedClusters},
		{"used blob ids", ld.Held.UsedBlobIDs, used.UsedBlobIDs}} {
		if !bytes.Equal(m.held, m.got) {
			d.Problems = append(d.Problems, fmt.Sprintf("%s mask differs from what the blobs use", m.name))
		}
	}
	return d
}

// lvol is the blob of the lvol the load lists under name.
func (d onDisk) lvol(name string) (BlobState, bool) {
	for _, l := range d.ld.Lvols {
		if l.Name != name {
			continue
		}
		for _, b := range d.ld.Blobs {
			if b.ID == l.BlobID {
				return b, true
			}
		}
	}
	return BlobState{}, false
}

// setup creates lvstore lvs-r (1 MiB clusters) with a thin lvol vol (32 MiB,
// 24 MiB written), a thick bystander (8 MiB) and a snapshot snap of vol.
func (r *rig) setup() (lvsUUID, volUUID, snapUUID string) {
	r.ok("bdev_lvol_create_lvstore", map[string]any{"bdev_name": "aio0", "lvs_name": "lvs-r", "cluster_sz": 1 << 20}, &lvsUUID)
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "vol", "size_in_mib": 32, "thin_provision": true, "lvs_name": "lvs-r"}, &volUUID)
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "bystander", "size_in_mib": 8, "thin_provision": false, "lvs_name": "lvs-r"}, nil)
	r.ok("sim_lvol_write", map[string]any{"name": "lvs-r/vol", "offset": 0, "length": 24 << 20}, nil)
	r.ok("bdev_lvol_snapshot", map[string]any{"lvol_name": "lvs-r/vol", "snapshot_name": "snap"}, &snapUUID)
	return
}

// syncBuf is a log buffer written by the target's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
