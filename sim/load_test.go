package sim

import (
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
)

// fixtureImage writes a fixture image (.img.gz, or .img.sparse.tgz) into
// a temporary file and returns its path. Of a .gz image only the metadata
// is inflated (super block, masks, md region), the rest left a hole: a
// load reads nothing else, and a 4 GiB image costs 16 MiB.
func fixtureImage(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if strings.HasSuffix(name, ".img.sparse.tgz") {
		out, err := exec.Command("tar", "-xSzf", fixtures+name, "-C", dir).CombinedOutput()
		require.NoError(t, err, "%s", out)
		files, err := filepath.Glob(filepath.Join(dir, "*.img"))
		require.NoError(t, err)
		require.Len(t, files, 1, "one image in %s", name)
		return files[0]
	}
	fh, err := os.Open(fixtures + name)
	require.NoError(t, err)
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	require.NoError(t, err)
	head := make([]byte, blobstore.PageSize)
	_, err = io.ReadFull(zr, head)
	require.NoError(t, err)
	sb, err := blobstore.DecodeSuperBlock(head)
	require.NoError(t, err)
	md := make([]byte, (int64(sb.MDStart)+int64(sb.MDLen))*blobstore.PageSize)
	copy(md, head)
	_, err = io.ReadFull(zr, md[blobstore.PageSize:])
	require.NoError(t, err)
	img := filepath.Join(dir, "disk.img")
	require.NoError(t, os.WriteFile(img, md, 0o644))
	require.NoError(t, os.Truncate(img, int64(sb.Size)))
	return img
}

func loadPath(t *testing.T, path string) (*LoadedStore, error) {
	t.Helper()
	dev, err := OpenImage(path, 0)
	require.NoError(t, err)
	defer dev.Close()
	return loadImage(dev)
}

// TestLoadCapturedRestarts pins the load to what the real target brought
// back from each captured image: the same lvols, by name and uuid, in the
// order of its lvstore's list (blob id), after a clean or a dirty start.
func TestLoadCapturedRestarts(t *testing.T) {
	tests := []struct {
		image, lvols string // the image, the real target's lvol list after loading it
		clean        bool
	}{
		{"basic-1m.img.gz", "basic-1m", true},
		{"default-cluster-esnap.img.gz", "default-cluster-esnap", true},
		{"many-lvols.img.gz", "many-lvols", true},
		{"resurrection-pending.img.gz", "resurrection.after-restart", true},
		{"resurrection-pending-live.img.gz", "resurrection.after-restart", false},
		{"dirty-kill9.img.gz", "dirty-kill9.after-recovery", false},
		{"notify-pending-live.img.gz", "notify.after-restart", false},
		{"shallow-copy-pending-live.img.gz", "shallow-copy.after-restart", false},
		{"fixed-busy-zombie-live.img.gz", "fixed-busy.after-restart", false},
		{"tags-clean.img.sparse.tgz", "tags-clean", true},
		{"tags-dirty.img.sparse.tgz", "tags-dirty.after-recovery", false},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			path := fixtureImage(t, tc.image)
			ld, err := loadPath(t, path)
			require.NoError(t, err)
			require.Equal(t, tc.clean, ld.Clean)
			if !tc.clean && !strings.HasPrefix(tc.image, "tags") {
				// Skipping the holes of a sparse image changes nothing.
				dev, err := OpenImage(path, 0)
				require.NoError(t, err)
				defer dev.Close()
				every, err := loadImage(struct{ Device }{dev})
				require.NoError(t, err)
				require.Equal(t, every, ld)
			}
			var want []lvolJSON
			readJSON(t, fixtures+tc.lvols+".bdev_lvol_get_lvols.json", &want)
			var wantIDs, gotIDs []string
			for _, l := range want {
				wantIDs = append(wantIDs, l.Name+" "+l.UUID)
			}
			for _, l := range ld.Lvols {
				gotIDs = append(gotIDs, l.Name+" "+l.UUID)
			}
			require.Equal(t, wantIDs, gotIDs)
			require.Len(t, ld.Blobs, len(want)+1, "every blob opens, the super blob too")
		})
	}
}

// img is a fixture image the test damages page by page.
type img struct {
	t    *testing.T
	path string
	dev  Device
	sb   *blobstore.SuperBlock
}

func newImg(t *testing.T, fixture string) *img {
	m := &img{t: t, path: fixtureImage(t, fixture)}
	var err error
	m.dev, err = OpenImage(m.path, 0)
	require.NoError(t, err)
	t.Cleanup(func() { m.dev.Close() })
	m.sb, err = blobstore.ReadSuperBlock(m.dev)
	require.NoError(t, err)
	return m
}

// blob finds an lvol's blob by name.
func (m *img) blob(name string) *blobstore.Blob {
	for p := uint32(0); p < m.sb.MDLen; p++ {
		b, err := blobstore.ReadBlob(m.dev, m.sb, p, blobstore.ParseOptions{})
		if err != nil || b.ID != blobstore.BlobID(p) {
			continue
		}
		if n, _ := b.Name(); n == name {
			return b
		}
	}
	m.t.Fatalf("no blob named %q", name)
	return nil
}

func (m *img) first(name string) uint32 { return m.blob(name).Pages[0] }

func (m *img) write(b []byte, devPage int64) {
	_, err := m.dev.WriteAt(b, devPage*blobstore.PageSize)
	require.NoError(m.t, err)
}

// editPage decodes md page idx, lets fn change it and writes it back with
// a fresh CRC.
func (m *img) editPage(idx uint32, fn func(p *blobstore.Page)) {
	p, err := blobstore.ReadPage(m.dev, m.sb, idx)
	require.NoError(m.t, err)
	fn(p)
	b, err := blobstore.EncodePage(p)
	require.NoError(m.t, err)
	m.write(b, int64(m.sb.MDStart)+int64(idx))
}

// xattr changes the value of an xattr on md page idx (rename: its name).
func (m *img) xattr(idx uint32, name string, fn func(x *blobstore.Xattr)) {
	m.editPage(idx, func(p *blobstore.Page) {
		for _, d := range p.Descriptors {
			if x, ok := d.(*blobstore.Xattr); ok && x.Name == name {
				fn(x)
				return
			}
		}
		m.t.Fatalf("no xattr %q on page %d", name, idx)
	})
}

// flip breaks md page idx's CRC.
func (m *img) flip(idx uint32) {
	b, err := blobstore.ReadPageBytes(m.dev, m.sb, idx)
	require.NoError(m.t, err)
	b[100] ^= 0xff
	m.write(b, int64(m.sb.MDStart)+int64(idx))
}

func (m *img) editMask(kind uint8, fn func(mk *blobstore.Mask)) {
	mk, err := blobstore.ReadMask(m.dev, m.sb, kind)
	require.NoError(m.t, err)
	fn(mk)
	start, n := m.sb.UsedPageMaskStart, m.sb.UsedPageMaskLen
	switch kind {
	case blobstore.MaskUsedClusters:
		start, n = m.sb.UsedClusterMaskStart, m.sb.UsedClusterMaskLen
	case blobstore.MaskUsedBlobIDs:
		start, n = m.sb.UsedBlobIDMaskStart, m.sb.UsedBlobIDMaskLen
	}
	m.write(mk.Encode(n), int64(start))
}

func (m *img) editSuper(fn func(sb *blobstore.SuperBlock)) {
	fn(m.sb)
	m.write(m.sb.Encode(), 0)
}

func setFlags(fn func(f *blobstore.Flags)) func(p *blobstore.Page) {
	return func(p *blobstore.Page) {
		for _, d := range p.Descriptors {
			if f, ok := d.(*blobstore.Flags); ok {
				fn(f)
			}
		}
	}
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// damageCase is one damaged image and what SPDK loads from it.
type damageCase struct {
	name, image string
	damage      func(m *img)
	want        []string // lvols listed, by blob id; nil: no lvstore
	err         error    // the load fails so
}

// damageCases are the damaged images of TestLoadDamaged.
func damageCases(t *testing.T) []damageCase {
	basic := []string{"vol-thin", "vol-thick", "vol-renamed", "snap1", "clone1"}
	dirty := []string{"v0", "v1", "v2", "v4-renamed", "v5", "v1-snap"}
	without := func(all []string, gone ...string) []string {
		var out []string
		for _, n := range all {
			if !strings.Contains(" "+strings.Join(gone, " ")+" ", " "+n+" ") {
				out = append(out, n)
			}
		}
		return out
	}
	return []damageCase{
		{"intact", "basic-1m.img.gz", func(*img) {}, basic, nil},
		{"a chain page fails its CRC: the blob does not open", "basic-1m.img.gz",
			func(m *img) { m.flip(m.first("vol-thick")) }, without(basic, "vol-thick"), nil},
		{"a clone whose parent snapshot is not a blob does not open", "basic-1m.img.gz", func(m *img) {
			m.xattr(m.first("clone1"), blobstore.XattrSnapshot, func(x *blobstore.Xattr) { x.Value = u64(blobstore.BlobID(48)) })
		}, without(basic, "clone1"), nil},
		{"a snapshot that does not open takes its clones with it", "basic-1m.img.gz",
			func(m *img) { m.flip(m.first("snap1")) }, without(basic, "snap1", "vol-thin", "clone1"), nil},
		{"an unknown invalid flag: SPDK refuses the blob", "basic-1m.img.gz", func(m *img) {
			m.editPage(m.first("vol-renamed"), setFlags(func(f *blobstore.Flags) { f.Invalid |= 1 << 8 }))
		}, without(basic, "vol-renamed"), nil},
		{"a cluster the clean mask does not mark: the blob does not open", "basic-1m.img.gz", func(m *img) {
			c := m.blob("vol-thick").Clusters[0].Physical
			m.editMask(blobstore.MaskUsedClusters, func(mk *blobstore.Mask) { mk.Clear(c) })
		}, without(basic, "vol-thick"), nil},
		{"a first page the clean blob id mask does not mark is not a blob", "basic-1m.img.gz", func(m *img) {
			p := m.first("vol-renamed")
			m.editMask(blobstore.MaskUsedBlobIDs, func(mk *blobstore.Mask) { mk.Clear(uint64(p)) })
		}, without(basic, "vol-renamed"), nil},
		{"... and a recovery finds it again", "basic-1m.img.gz", func(m *img) {
			p := m.first("vol-renamed")
			m.editMask(blobstore.MaskUsedBlobIDs, func(mk *blobstore.Mask) { mk.Clear(uint64(p)) })
			m.editSuper(func(sb *blobstore.SuperBlock) { sb.Clean = 0 })
		}, basic, nil},
		{"two lvols with one name both load (examine gives the bdev to one)", "basic-1m.img.gz", func(m *img) {
			m.xattr(m.first("vol-renamed"), blobstore.XattrName, func(x *blobstore.Xattr) { copy(x.Value, "vol-thin\x00") })
		}, []string{"vol-thin", "vol-thick", "vol-thin", "snap1", "clone1"}, nil},
		{"an lvol without a name fails the whole load", "basic-1m.img.gz", func(m *img) {
			m.xattr(m.first("vol-renamed"), blobstore.XattrName, func(x *blobstore.Xattr) { x.Name = "nama" })
		}, nil, ErrLoadRefused},
		{"an lvstore without a valid uuid does not load", "basic-1m.img.gz", func(m *img) {
			m.xattr(uint32(m.sb.SuperBlob), blobstore.XattrUUID, func(x *blobstore.Xattr) { x.Value[3] = 'x' })
		}, nil, ErrLoadRefused},
		{"a blobstore of another type is no lvstore", "basic-1m.img.gz", func(m *img) {
			m.editSuper(func(sb *blobstore.SuperBlock) { sb.Bstype = [16]byte{'B', 'L', 'O', 'B', 'F', 'S'} })
		}, nil, nil},
		{"a super block that fails its CRC", "basic-1m.img.gz", func(m *img) {
			b := m.sb.Encode()
			b[200] ^= 1
			m.write(b, 0)
		}, nil, ErrLoadRefused},
		{"a device shorter than the blobstore", "basic-1m.img.gz", func(m *img) {
			require.NoError(t, os.Truncate(m.path, 32<<20))
			var err error
			m.dev, err = OpenImage(m.path, 0)
			require.NoError(t, err)
		}, nil, ErrLoadRefused},
		{"recovery: a first page that fails its CRC vanishes", "dirty-kill9.img.gz",
			func(m *img) { m.flip(m.first("v0")) }, without(dirty, "v0"), nil},
		{"recovery rejects an unknown descriptor (-EILSEQ)", "dirty-kill9.img.gz", func(m *img) {
			m.editPage(m.first("v1"), func(p *blobstore.Page) {
				p.Descriptors = append(p.Descriptors, &blobstore.Unknown{Type: 9, Body: []byte{1}})
			})
		}, nil, ErrLoadRefused},
		{"recovery claims a page twice: an assertion", "dirty-kill9.img.gz", func(m *img) {
			p := m.first("v2")
			m.editPage(p, func(pg *blobstore.Page) { pg.Next = p })
		}, nil, ErrLoadCrash},
		{"recovery finds no extent page where the table says (SPDK #3621)", "dirty-kill9.img.gz", func(m *img) {
			m.write(make([]byte, blobstore.PageSize), int64(m.sb.MDStart)+int64(m.blob("v5").ExtentPages[0]))
		}, nil, ErrLoadRefused},
		{"a chain page of another blob: an assertion", "dirty-kill9.img.gz", func(m *img) {
			v0, v1 := m.first("v0"), m.first("v1")
			m.editPage(v0, func(p *blobstore.Page) { p.Next = v1 })
		}, nil, ErrLoadCrash},
	}
}

// TestLoadDamaged: what SPDK loads from damaged images, each case made
// from a captured image (basic-1m: clean; dirty-kill9: a recovery), as
// blobstore.c, lvol.c and vbdev_lvol.c of v24.09 decide it.
func TestLoadDamaged(t *testing.T) {
	for _, tc := range damageCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			m := newImg(t, tc.image)
			tc.damage(m)
			ld, err := loadImage(m.dev)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			if tc.want == nil {
				require.Nil(t, ld)
				return
			}
			var got []string
			for _, l := range ld.Lvols {
				got = append(got, l.Name)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestLoadNullUUID: an lvol whose uuid xattr is not a uuid loads with a
// null uuid; its bdev is named by the lvstore's uuid and its blob id.
func TestLoadNullUUID(t *testing.T) {
	m := newImg(t, "basic-1m.img.gz")
	b := m.blob("vol-renamed")
	m.xattr(b.Pages[0], blobstore.XattrUUID, func(x *blobstore.Xattr) { x.Value = []byte("not-a-uuid\x00") })
	ld, err := loadImage(m.dev)
	require.NoError(t, err)
	r := newRig(t, Config{Image: m.path})
	for _, l := range ld.Lvols {
		if l.Name == "vol-renamed" {
			require.Empty(t, l.UUID)
			id := l.UniqueID(ld.UUID)
			require.Equal(t, ld.UUID+"_4294967302", id, "blob 0x100000006 in decimal")
			var bdevs []bdevJSON
			r.ok("bdev_get_bdevs", map[string]any{"name": id}, &bdevs)
			require.Equal(t, []string{"lvs0/vol-renamed"}, bdevs[0].Aliases)
			return
		}
	}
	t.Fatal("vol-renamed not listed")
}

// TestLoadLeftoverSnapshots: a power cut mid-snapshot leaves SNAPTMP (or
// SNAPRM) on a blob. bs_load_iter keeps it, clearing the xattr and
// setting it read-only, when the clone the xattr names points at it, and
// deletes it when not: gone for good, its md pages zeroed.
func TestLoadLeftoverSnapshots(t *testing.T) {
	for _, tc := range []struct {
		name, on, clone, xattr string
		kept                   bool
	}{
		{"kept", "snap1", "vol-thin", blobstore.XattrSnapshotTmp, true},
		{"kept (SNAPRM)", "snap1", "clone1", blobstore.XattrSnapshotRemove, true},
		{"deleted", "vol-renamed", "vol-thin", blobstore.XattrSnapshotTmp, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newImg(t, "basic-1m.img.gz")
			on, clone := m.blob(tc.on), m.blob(tc.clone)
			m.editPage(on.Pages[0], func(p *blobstore.Page) {
				p.Descriptors = append(p.Descriptors, &blobstore.Xattr{Name: tc.xattr, Value: u64(clone.ID), Internal: true})
				setFlags(func(f *blobstore.Flags) { f.Invalid |= blobstore.FlagInternalXattrs })(p)
			})
			r := newRig(t, Config{Image: m.path})
			_, listed := r.lvol(tc.on)
			require.Equal(t, tc.kept, listed)
			r.restart(true)
			d := r.disk()
			require.Empty(t, d.Problems)
			b, ok := d.lvol(tc.on)
			require.Equal(t, tc.kept, ok)
			if tc.kept {
				require.True(t, b.DataRO)
				require.Empty(t, b.Internal, "the leftover xattr is cleared on disk")
				return
			}
			page, err := blobstore.ReadPageBytes(m.dev, m.sb, on.Pages[0])
			require.NoError(t, err)
			require.Equal(t, make([]byte, blobstore.PageSize), page, "the deleted blob's page is zeroed")
		})
	}
}

// TestLoadKeepsWhatDoesNotOpen: a blob that does not open keeps its md
// pages and clusters (SPDK's masks still hold them): a new lvol does not
// take them.
func TestLoadKeepsWhatDoesNotOpen(t *testing.T) {
	m := newImg(t, "basic-1m.img.gz")
	thick := m.blob("vol-thick")
	m.flip(thick.Pages[0])
	r := newRig(t, Config{Image: m.path})
	_, ok := r.lvol("vol-thick")
	require.False(t, ok)
	r.ok("bdev_lvol_create", map[string]any{"lvol_name": "new", "size_in_mib": 8, "thin_provision": false, "lvs_name": "lvs0"}, nil)
	r.restart(true)
	d := r.disk()
	b, ok := d.lvol("new")
	require.True(t, ok)
	require.NotEqual(t, thick.Pages[0], b.Chain[0])
	for _, c := range b.Clusters {
		require.NotEqual(t, thick.Clusters[0].Physical, c)
	}
	// The image's masks hold more than the blobs that open: the check says so.
	require.NotEmpty(t, d.Problems)
}

// TestOnDiskCheckCanFail: a mask bit no blob owns is a problem.
func TestOnDiskCheckCanFail(t *testing.T) {
	m := newImg(t, "basic-1m.img.gz")
	r := &rig{t: t, image: m.path}
	require.Empty(t, r.disk().Problems)
	m.editMask(blobstore.MaskUsedPages, func(mk *blobstore.Mask) { mk.Set(40) })
	require.Equal(t, []string{"used pages mask differs from what the blobs use"}, r.disk().Problems)
}
