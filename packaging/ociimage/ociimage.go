// Package ociimage builds the DaemonSet's container image without a
// container engine or a registry: one OCI image per arch, each from an
// empty base (FROM scratch) with a single layer holding the static lvfsck
// binary, /tmp and /var/lib/lvfsck, all in one multi-arch index written
// as a tar of an OCI image layout (what `podman load -i` and
// `skopeo copy oci-archive:` read).
//
// Why an empty base and not distroless static: CI reaches no container
// registry, so no base image can be pulled there; and the binary needs
// none of what distroless adds. It is static (CGO_ENABLED=0), embeds its
// time zone database (time/tzdata), talks to spdk_tgt over a unix socket
// and serves metrics over plain HTTP, so it needs no CA certificates, and
// the image runs as the numeric user 0:0, so it needs no /etc/passwd.
//
// The output is reproducible: every timestamp (the layer's files, the
// config's created time, the archive's entries) is Options.Created, and
// nothing else varies, so the same binaries and options give the same
// bytes and so the same digests.
package ociimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image runs; deploy/container/Containerfile says the same
// (deploy's tests compare them).
var (
	Entrypoint = []string{"/usr/bin/lvfsck"}
	Cmd        = []string{"watch", "--state-dir", "/var/lib/lvfsck"}
)

// User is root by number: the DaemonSet reads the target's socket and
// block devices, both root-owned, and the image has no /etc/passwd.
const User = "0:0"

// The OCI annotation and label keys the image carries.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	// RefName names the image in the layout's index.json: Name:VERSION,
	// the name `podman load` gives it (localhost/lvfsck:VERSION) and the
	// one `skopeo copy oci-archive:FILE:lvfsck:VERSION` selects.
	RefName = "org.opencontainers.image.ref.name"
)

// Name is the image's name in RefName.
const Name = "lvfsck"

// Entry is one file or directory of the layer: the tar header's name
// (relative, directories ending in /) and mode.
type Entry struct {
	Name string
	Mode int64
	Dir  bool
}

// BinaryPath is where the layer puts lvfsck.
const BinaryPath = "usr/bin/lvfsck"

// Layout is the layer's content, in tar order. /tmp is world-writable with
// the sticky bit: lvfsck inflates gzip images into $TMPDIR (default /tmp).
// /var/lib/lvfsck is the journal's directory, owner only (as the .deb
// makes it); the DaemonSet mounts the host's over it.
var Layout = []Entry{
	{Name: "tmp/", Mode: 0o1777, Dir: true},
	{Name: "usr/", Mode: 0o755, Dir: true},
	{Name: "usr/bin/", Mode: 0o755, Dir: true},
	{Name: BinaryPath, Mode: 0o755},
	{Name: "var/", Mode: 0o755, Dir: true},
	{Name: "var/lib/", Mode: 0o755, Dir: true},
	{Name: "var/lib/lvfsck/", Mode: 0o700, Dir: true},
}

// Binary is one arch's static lvfsck (make release's dist/lvfsck-linux-ARCH).
type Binary struct {
	Arch string // GOARCH
	Path string
}

// Options are what one build depends on, and all it depends on.
type Options struct {
	Binaries []Binary
	Version  string    // the version label and the index's ref name
	Revision string    // the commit (a label; optional)
	Source   string    // the source repository's URL (a label; optional)
	Created  time.Time // every timestamp in the output (SOURCE_DATE_EPOCH)
}

// elfMachine is the ELF machine each supported GOARCH builds for: a
// binary of another arch is refused rather than shipped under the wrong
// platform.
var elfMachine = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"ppc64le": elf.EM_PPC64,
	"riscv64": elf.EM_RISCV,
	"s390x":   elf.EM_S390,
}

// tagRE is what a tag may be (the distribution spec's), so the ref name
// can be used as one.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Write builds the image of o and writes the OCI layout's tar to w.
func Write(w io.Writer, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	idx, err := Index(o)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "lvfsck-oci-*")
	if err != nil {
		return fmt.Errorf("oci layout directory: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("oci layout in %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefName: Name + ":" + o.Version})); err != nil {
		return fmt.Errorf("write the image index into %s: %w", dir, err)
	}
	if err := tarDir(w, dir, o.Created); err != nil {
		return fmt.Errorf("archive the oci layout: %w", err)
	}
	return nil
}

// WriteFile is Write to path, through a temporary file beside it (no
// half-written archive is left under the final name).
func WriteFile(path string, o Options) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if err := Write(f, o); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return nil
}

// Index is the multi-arch image index of o, one image per binary, in
// arch order.
func Index(o Options) (v1.ImageIndex, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	bins := append([]Binary(nil), o.Binaries...)
	sort.Slice(bins, func(i, j int) bool { return bins[i].Arch < bins[j].Arch })
	adds := make([]mutate.IndexAddendum, 0, len(bins))
	for _, b := range bins {
		img, err := image(b, o)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", b.Arch, err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: b.Arch}},
		})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	annotated, ok := mutate.Annotations(idx, labels(o)).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotating the image index did not give an index")
	}
	return annotated, nil
}

func (o Options) validate() error {
	if len(o.Binaries) == 0 {
		return errors.New("no binaries: give at least one ARCH=PATH")
	}
	if !tagRE.MatchString(o.Version) {
		return fmt.Errorf("version %q: not usable as an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", o.Version)
	}
	if o.Created.Before(time.Unix(0, 0)) {
		return fmt.Errorf("created time %s: before the Unix epoch", o.Created)
	}
	seen := map[string]bool{}
	for _, b := range o.Binaries {
		if _, ok := elfMachine[b.Arch]; !ok {
			return fmt.Errorf("arch %q: not supported (one of amd64, arm64, ppc64le, riscv64, s390x)", b.Arch)
		}
		if seen[b.Arch] {
			return fmt.Errorf("arch %s given twice", b.Arch)
		}
		seen[b.Arch] = true
	}
	return nil
}

func labels(o Options) map[string]string {
	l := map[string]string{LabelVersion: o.Version}
	if o.Revision != "" {
		l[LabelRevision] = o.Revision
	}
	if o.Source != "" {
		l[LabelSource] = o.Source
	}
	return l
}

// image is one arch's image: the empty base, the config, the one layer.
func image(b Binary, o Options) (v1.Image, error) {
	bin, err := readStatic(b)
	if err != nil {
		return nil, err
	}
	layerTar, err := layerTar(bin, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	created := v1.Time{Time: o.Created.UTC()}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: b.Arch,
		OS:           "linux",
		Created:      created,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: append([]string(nil), Entrypoint...),
			Cmd:        append([]string(nil), Cmd...),
			User:       User,
			Labels:     labels(o),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "lvfsck make release (packaging/ociimage)", Comment: "static lvfsck, /tmp, /var/lib/lvfsck"},
	})
	if err != nil {
		return nil, fmt.Errorf("append the layer: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// readStatic reads b's binary and checks that it is a static ELF
// executable for b.Arch.
func readStatic(b Binary) ([]byte, error) {
	bin, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("read the %s binary: %w", b.Arch, err)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF binary: %w", b.Path, err)
	}
	defer f.Close()
	if f.Machine != elfMachine[b.Arch] {
		return nil, fmt.Errorf("%s: built for %s, not %s", b.Path, f.Machine, b.Arch)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%s: ELF type %s, not an executable", b.Path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s: dynamically linked (has an interpreter); the image has no libc: build with CGO_ENABLED=0", b.Path)
		}
	}
	return bin, nil
}

// layerTar is the layer's uncompressed tar: Layout, root-owned, every
// mtime at created.
func layerTar(bin []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range Layout {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, ModTime: created, Format: tar.FormatUSTAR}
		if e.Dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(bin))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.Name, err)
		}
		if !e.Dir {
			if _, err := tw.Write(bin); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// tarDir writes dir's tree as a tar, in lexical order, with fixed modes,
// owners and times (the layout's files carry none that matter).
func tarDir(w io.Writer, dir string, created time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: created, Format: tar.FormatUSTAR}
		switch {
		case d.IsDir():
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, info.Size()
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		default:
			return fmt.Errorf("%s: not a file or directory", path)
		}
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
