package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/spdk"
)

var fixtures = []string{"basic-1m", "dirty-kill9", "resurrection-pending", "default-cluster-esnap", "many-lvols"}

// fixture is a sparse copy of the named fixture image (inflated once per
// test binary: many-lvols is 4 GiB).
func fixture(t testing.TB, name string) string {
	dst := filepath.Join(t.TempDir(), name+".img")
	testfix.InflateSparseCached(t, filepath.Join("..", "testdata", "fixtures", name+".img.gz"), dst)
	return dst
}

var testNow = func() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }

// capture writes a bundle of the images to a file and returns its path.
func capture(t testing.TB, obfuscate bool, images ...string) (string, *Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	f, err := os.Create(out)
	require.NoError(t, err)
	res, err := Capture(context.Background(), f, Options{Devices: images, Obfuscate: obfuscate, TmpDir: t.TempDir(), Version: "test", Now: testNow})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return out, res
}

// summary is what two scans must agree on: the lvstore, every blob's
// identity and shape, and every finding's code.
type summary struct {
	Lvstore  scanner.Lvstore
	Blobs    []string
	Findings []string
}

func summarize(t testing.TB, path string, names bool) summary {
	t.Helper()
	v, err := scanner.ScanPath(context.Background(), path, scanner.Options{Mode: scanner.ModeAuto}, t.TempDir())
	require.NoError(t, err)
	s := summary{Lvstore: v.Lvstore}
	s.Lvstore.Loads = ""
	if !names {
		s.Lvstore.Name = ""
	}
	for _, b := range v.Blobs {
		n := b.LvolName
		if !names {
			n = ""
		}
		s.Blobs = append(s.Blobs, n+" "+b.LvolUUID+" "+string(rune('0'+b.AllocatedClusters%10)))
	}
	for _, f := range v.Findings {
		s.Findings = append(s.Findings, string(f.Code)+" "+f.LvolUUID)
	}
	sort.Strings(s.Blobs)
	sort.Strings(s.Findings)
	return s
}

// The extracted image scans as the device it was taken from: same
// lvstore, blobs and findings; and it is sparse.
func TestCaptureRoundTrip(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			img := fixture(t, name)
			path, res := capture(t, false, img)
			b, err := Open(context.Background(), path, t.TempDir())
			require.NoError(t, err)
			defer b.Close()
			require.Len(t, b.Images, 1)
			require.Equal(t, summarize(t, img, true), summarize(t, b.Images[0], true))

			fi, err := os.Stat(b.Images[0])
			require.NoError(t, err)
			require.Equal(t, res.Manifest.Images[0].Size, fi.Size())
			st := fi.Sys().(*syscall.Stat_t)
			require.Less(t, st.Blocks*512, int64(res.Manifest.Images[0].Captured)+1<<20, "sparse: only the metadata stored")
			bf, err := os.Stat(path)
			require.NoError(t, err)
			t.Logf("%s: device %d MiB, %d KiB of metadata, bundle %d KiB", name, fi.Size()>>20, res.Stored>>10, bf.Size()>>10)
		})
	}
}

// tarBytes is every byte of the bundle's entries, decompressed.
func tarBytes(t *testing.T, path string) []byte {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var all bytes.Buffer
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		all.WriteString(hdr.Name + "\n")
		_, err = io.Copy(&all, tr)
		require.NoError(t, err)
	}
	return all.Bytes()
}

// secrets are the lvstore and lvol names and user xattr values of an image,
// as the scanner reads them.
func secrets(t *testing.T, path string) []string {
	v, err := scanner.ScanPath(context.Background(), path, scanner.Options{Mode: scanner.ModeAuto}, t.TempDir())
	require.NoError(t, err)
	set := map[string]bool{v.Lvstore.Name: true}
	for _, b := range v.Blobs {
		set[b.LvolName] = true
		for _, x := range b.Xattrs {
			if !x.Internal && x.Name != blobstore.XattrUUID {
				set[string(bytes.TrimRight(x.Raw, "\x00"))] = true
			}
		}
	}
	var out []string
	for s := range set {
		// Shorter strings turn up by chance in any binary.
		if len(s) >= 4 && !uuidRE.MatchString(s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// An obfuscated bundle holds no original name or value anywhere, and its
// image still scans to the same blobs and findings but for the names.
func TestObfuscateLeavesNoName(t *testing.T) {
	for _, name := range []string{"basic-1m", "resurrection-pending", "many-lvols"} {
		t.Run(name, func(t *testing.T) {
			img := fixture(t, name)
			names := secrets(t, img)
			require.NotEmpty(t, names)
			plain, _ := capture(t, false, img)
			all := tarBytes(t, plain)
			found := 0
			for _, n := range names {
				if bytes.Contains(all, []byte(n)) {
					found++
				}
			}
			require.Equal(t, len(names), found, "the test's grep finds them in a plain bundle")

			path, res := capture(t, true, img)
			require.NotNil(t, res.Manifest.Obfuscated)
			all = tarBytes(t, path)
			for _, n := range names {
				require.False(t, bytes.Contains(all, []byte(n)), "%q left in the obfuscated bundle", n)
			}
			b, err := Open(context.Background(), path, t.TempDir())
			require.NoError(t, err)
			defer b.Close()
			require.Equal(t, summarize(t, img, false), summarize(t, b.Images[0], false))
		})
	}
}

// Every way a bundle can be cut or damaged is refused whole.
func TestOpenRefusesDamage(t *testing.T) {
	path, _ := capture(t, false, fixture(t, "basic-1m"))
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	rezip := func(edit func(entries []tarEntry) []tarEntry) []byte {
		es := readEntries(t, good)
		es = edit(es)
		return writeEntries(t, es)
	}
	cases := map[string][]byte{
		"empty":          {},
		"not gzip":       []byte("hello"),
		"cut at a third": good[:len(good)/3],
		"cut before end": good[:len(good)-10],
		// A flip in the deflate stream may decode to the same bytes (an
		// unused code); one in the trailer's CRC never does.
		"crc flipped": flip(good, len(good)-8),
		"no manifest": rezip(func(es []tarEntry) []tarEntry {
			return es[:len(es)-1]
		}),
		"entry dropped": rezip(func(es []tarEntry) []tarEntry {
			return append(es[:1:1], es[2:]...)
		}),
		"entry changed": rezip(func(es []tarEntry) []tarEntry {
			es[1].body = append([]byte(nil), es[1].body...)
			es[1].body[0] ^= 1
			return es
		}),
		"entry after manifest": rezip(func(es []tarEntry) []tarEntry {
			return append(es, tarEntry{"rpc/x.json", []byte("[]")})
		}),
		"path escape": rezip(func(es []tarEntry) []tarEntry {
			return append([]tarEntry{{"../../evil", []byte("x")}}, es...)
		}),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.tar.gz")
			require.NoError(t, os.WriteFile(p, b, 0o600))
			tmp := t.TempDir()
			_, err := Open(context.Background(), p, tmp)
			require.ErrorIs(t, err, ErrBundle)
			left, _ := os.ReadDir(tmp)
			require.Empty(t, left, "nothing left behind")
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

type tarEntry struct {
	name string
	body []byte
}

func readEntries(t *testing.T, b []byte) []tarEntry {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, tarEntry{hdr.Name, body})
	}
}

func writeEntries(t *testing.T, es []tarEntry) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(e.body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// The same name gets the same token in the image and in the answers: the
// obfuscated bundle checks like the plain one, names aside.
func TestObfuscateConsistentAcrossViews(t *testing.T) {
	img := fixture(t, "basic-1m")
	answers := map[string][]byte{}
	for _, meth := range []string{"bdev_lvol_get_lvstores", "bdev_lvol_get_lvols", "bdev_get_bdevs"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "fixtures", "basic-1m."+meth+".json"))
		require.NoError(t, err)
		answers[meth] = b
	}
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	f, err := os.Create(out)
	require.NoError(t, err)
	_, err = Capture(context.Background(), f, Options{Devices: []string{img}, Answers: answers, Obfuscate: true, Version: "test", Now: testNow})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	b, err := Open(context.Background(), out, t.TempDir())
	require.NoError(t, err)
	defer b.Close()

	var lvols []spdk.Lvol
	var lvs []spdk.Lvstore
	raw, err := os.ReadFile(b.Files.Lvols)
	require.NoError(t, err)
	require.NoError(t, collect.DecodeAnswer(raw, &lvols))
	raw, err = os.ReadFile(b.Files.Lvstores)
	require.NoError(t, err)
	require.NoError(t, collect.DecodeAnswer(raw, &lvs))
	v, err := scanner.ScanPath(context.Background(), b.Images[0], scanner.Options{}, t.TempDir())
	require.NoError(t, err)
	require.Len(t, lvs, 1)
	require.Equal(t, v.Lvstore.Name, lvs[0].Name, "one lvstore token in both views")
	onDisk := map[string]string{}
	for _, bl := range v.Blobs {
		if bl.IsLvol {
			onDisk[bl.LvolUUID] = bl.LvolName
		}
	}
	require.NotEmpty(t, lvols)
	for _, l := range lvols {
		require.Equal(t, onDisk[l.UUID], l.Name, "lvol %s", l.UUID)
		require.Equal(t, lvs[0].Name+"/"+l.Name, l.Alias)
	}
	all := string(tarBytes(t, out))
	var orig []spdk.Lvol
	require.NoError(t, collect.DecodeAnswer(answers["bdev_lvol_get_lvols"], &orig))
	for _, l := range orig {
		require.NotContains(t, all, `"`+l.Name+`"`)
		require.NotContains(t, all, l.Alias)
	}
}

func FuzzOpen(f *testing.F) {
	var buf bytes.Buffer
	w := newWriter(&buf, testNow())
	require.NoError(f, w.add("rpc/bdev_lvol_get_lvols.json", []byte("[]")))
	require.NoError(f, w.add(imageDir+"0/0000000000000000", make([]byte, 4096)))
	require.NoError(f, w.close(&Manifest{Format: Format, Images: []ImageInfo{{Size: 8192}}}))
	f.Add(buf.Bytes())
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "b.tar.gz")
		require.NoError(t, os.WriteFile(p, data, 0o600))
		b, err := Open(context.Background(), p, t.TempDir())
		if err != nil {
			require.ErrorIs(t, err, ErrBundle)
			return
		}
		b.Close()
	})
}

func TestRewriteText(t *testing.T) {
	o := NewObfuscator()
	for _, n := range []string{"lvs-secret", "backup-1", "vol.2"} {
		o.AddName(n)
	}
	in := "vbdev_lvol.c: 1:x: *ERROR*: lvs-secret/backup-1: busy. lvol backup-1. 'vol.2' vol.20 backup-10 " +
		"0aa5d96e-b634-4491-a656-c9c9a1b5763b\n"
	out, err := o.RewriteText(in)
	require.NoError(t, err)
	for _, n := range []string{"lvs-secret", "backup-1:", "backup-1.", "'vol.2'"} {
		require.NotContains(t, out, n)
	}
	tok := func(s string) string { v, err := o.Token(s); require.NoError(t, err); return v }
	require.Contains(t, out, tok("lvs-secret")+"/"+tok("backup-1")+": busy")
	require.Contains(t, out, "lvol "+tok("backup-1")+".")
	require.Contains(t, out, "vol.20 backup-10 0aa5d96e-b634-4491-a656-c9c9a1b5763b", "other words and uuids kept")
	require.Len(t, out, len(in), "same-length tokens")
}

// A token never spells another original, known before or reserved: with
// one-letter names all but one letter are originals, so every token must
// be that letter or nothing at all.
func TestTokenNeverSpellsAnOriginal(t *testing.T) {
	for _, how := range []string{"reserved", "named"} {
		t.Run(how, func(t *testing.T) {
			for range 20 {
				o := NewObfuscator()
				for c := 'a'; c < 'z'; c++ {
					if how == "reserved" {
						o.Reserve(string(c))
					} else {
						o.AddName(string(c))
					}
				}
				tok, err := o.Token("q")
				require.NoError(t, err)
				require.Equal(t, "z", tok, "the only letter no original spells")
				_, err = o.Token("r")
				require.Error(t, err, "no free token left")
			}
		})
	}
}
