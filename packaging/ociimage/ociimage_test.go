package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeELF writes a minimal 64-bit little-endian ELF executable for
// machine (a header only, or with a PT_INTERP program header when
// dynamic) and returns its path: enough for readStatic, without a
// compiler.
func fakeELF(t *testing.T, name string, machine elf.Machine, dynamic bool) string {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)})
	b.Write(make([]byte, 9)) // OS ABI, ABI version, padding
	le := binary.LittleEndian
	var phnum uint16
	var phoff uint64
	if dynamic {
		phnum, phoff = 1, 64
	}
	for _, v := range []any{
		uint16(elf.ET_EXEC), uint16(machine), uint32(elf.EV_CURRENT),
		uint64(0x400000), phoff, uint64(0), // entry, phoff, shoff
		uint32(0), uint16(64), uint16(56), phnum, uint16(64), uint16(0), uint16(0),
	} {
		require.NoError(t, binary.Write(&b, le, v))
	}
	if dynamic {
		for _, v := range []any{
			uint32(elf.PT_INTERP), uint32(elf.PF_R), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(1),
		} {
			require.NoError(t, binary.Write(&b, le, v))
		}
	}
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o755))
	return p
}

func testOptions(t *testing.T) Options {
	return Options{
		Binaries: []Binary{
			{Arch: "arm64", Path: fakeELF(t, "lvfsck-linux-arm64", elf.EM_AARCH64, false)},
			{Arch: "amd64", Path: fakeELF(t, "lvfsck-linux-amd64", elf.EM_X86_64, false)},
		},
		Version:  "v1.2.3-4-g0123456",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Source:   "https://example.invalid/lvfsck",
		Created:  time.Unix(1700000000, 0).UTC(),
	}
}

func archiveDigest(t *testing.T, o Options) [32]byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, o))
	return sha256.Sum256(buf.Bytes())
}

// TestWriteReproducible: the same inputs give the same bytes; each input
// that should count does.
func TestWriteReproducible(t *testing.T) {
	o := testOptions(t)
	first := archiveDigest(t, o)
	require.Equal(t, first, archiveDigest(t, o), "two builds of the same inputs differ")

	swapped := o
	swapped.Binaries = []Binary{o.Binaries[1], o.Binaries[0]}
	require.Equal(t, first, archiveDigest(t, swapped), "the order of ARCH=BINARY arguments changed the image")

	for name, change := range map[string]func(*Options){
		"created":  func(o *Options) { o.Created = o.Created.Add(time.Second) },
		"version":  func(o *Options) { o.Version = "v9" },
		"revision": func(o *Options) { o.Revision = "" },
		"binary": func(o *Options) {
			o.Binaries = []Binary{o.Binaries[0], {Arch: "amd64", Path: fakeELF(t, "other", elf.EM_X86_64, false)}}
			require.NoError(t, os.WriteFile(o.Binaries[1].Path, append(readFile(t, o.Binaries[1].Path), 0), 0o755))
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := o
			change(&c)
			require.NotEqual(t, first, archiveDigest(t, c))
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// TestIndex: one image per arch, in arch order, each with the config and
// the one layer the DaemonSet expects.
func TestIndex(t *testing.T) {
	o := testOptions(t)
	idx, err := Index(o)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Equal(t, "application/vnd.oci.image.index.v1+json", string(im.MediaType))
	require.Equal(t, o.Version, im.Annotations[LabelVersion])
	require.Len(t, im.Manifests, 2)
	for i, arch := range []string{"amd64", "arm64"} {
		d := im.Manifests[i]
		require.NotNil(t, d.Platform)
		require.Equal(t, arch, d.Platform.Architecture)
		require.Equal(t, "linux", d.Platform.OS)
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		require.Equal(t, arch, cf.Architecture)
		require.Equal(t, Entrypoint, cf.Config.Entrypoint)
		require.Equal(t, Cmd, cf.Config.Cmd)
		require.Equal(t, "0:0", cf.Config.User)
		require.Equal(t, o.Created, cf.Created.Time)
		require.Equal(t, map[string]string{LabelVersion: o.Version, LabelRevision: o.Revision, LabelSource: o.Source}, cf.Config.Labels)

		layers, err := img.Layers()
		require.NoError(t, err)
		require.Len(t, layers, 1)
		rc, err := layers[0].Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		var got []Entry
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			require.Equal(t, o.Created.Unix(), h.ModTime.Unix(), h.Name)
			require.Zero(t, h.Uid, h.Name)
			require.Zero(t, h.Gid, h.Name)
			got = append(got, Entry{Name: h.Name, Mode: h.Mode, Dir: h.Typeflag == tar.TypeDir})
			if h.Name == BinaryPath {
				body, err := io.ReadAll(tr)
				require.NoError(t, err)
				require.Equal(t, readFile(t, o.Binaries[1-i].Path), body, "the %s binary", arch)
			}
		}
		require.NoError(t, rc.Close())
		require.Equal(t, Layout, got)
	}
}

// TestWriteRefuses: inputs that would give a wrong or unusable image are
// errors, before anything is written.
func TestWriteRefuses(t *testing.T) {
	amd := fakeELF(t, "amd", elf.EM_X86_64, false)
	notELF := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755))
	ok := func(o *Options) {}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"valid", ok, ""},
		{"no binaries", func(o *Options) { o.Binaries = nil }, "no binaries"},
		{"empty version", func(o *Options) { o.Version = "" }, "not usable as an image tag"},
		{"version with a slash", func(o *Options) { o.Version = "v1/2" }, "not usable as an image tag"},
		{"before the epoch", func(o *Options) { o.Created = time.Unix(-1, 0) }, "before the Unix epoch"},
		{"unknown arch", func(o *Options) { o.Binaries = []Binary{{Arch: "mips", Path: amd}} }, `arch "mips": not supported`},
		{"arch twice", func(o *Options) { o.Binaries = []Binary{{Arch: "amd64", Path: amd}, {Arch: "amd64", Path: amd}} }, "amd64 given twice"},
		{"missing binary", func(o *Options) { o.Binaries = []Binary{{Arch: "amd64", Path: filepath.Join(t.TempDir(), "nope")}} }, "read the amd64 binary"},
		{"not ELF", func(o *Options) { o.Binaries = []Binary{{Arch: "amd64", Path: notELF}} }, "not an ELF binary"},
		{"wrong arch", func(o *Options) { o.Binaries = []Binary{{Arch: "arm64", Path: amd}} }, "built for EM_X86_64, not arm64"},
		{"dynamic", func(o *Options) {
			o.Binaries = []Binary{{Arch: "amd64", Path: fakeELF(t, "dyn", elf.EM_X86_64, true)}}
		}, "dynamically linked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t)
			tc.change(&o)
			var buf bytes.Buffer
			err := Write(&buf, o)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.Zero(t, buf.Len(), "wrote part of an archive before failing")
		})
	}
}

// TestWriteFile: the archive appears under its name only when complete.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "img.tar")
	o := testOptions(t)
	o.Version = ""
	require.Error(t, WriteFile(out, o))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a failed build left a file behind")

	o = testOptions(t)
	require.NoError(t, WriteFile(out, o))
	st, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	require.Equal(t, archiveDigest(t, o), sha256.Sum256(readFile(t, out)))
}

// TestContainerfileAgrees: deploy/container/Containerfile, for those who
// build with an engine, runs what this image runs.
func TestContainerfileAgrees(t *testing.T) {
	raw := readFile(t, "../../deploy/container/Containerfile")
	quoted := func(args []string) string {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = `"` + a + `"`
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	for _, want := range []string{
		"\nENTRYPOINT " + quoted(Entrypoint) + "\n",
		"\nCMD " + quoted(Cmd) + "\n",
		"\nUSER " + User + "\n",
		"\nCOPY dist/lvfsck-linux-${TARGETARCH} /" + BinaryPath + "\n",
	} {
		require.Contains(t, string(raw), want)
	}
}
