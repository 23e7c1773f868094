package packaging

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/packaging/ociimage"
)

const imageArchive = "../dist/lvfsck-image-oci.tar"

// TestImage reads make release's dist/lvfsck-image-oci.tar back as an OCI
// layout, checks each arch's image (config, layer content and modes, the
// binary being dist's), runs the host arch's lvfsck out of its layer, and
// rebuilds the archive from dist's binaries to check it comes out the
// same. It runs from make release-test, after make release.
func TestImage(t *testing.T) {
	raw, err := os.ReadFile(imageArchive)
	require.NoError(t, err, "run make release first")
	sum := sha256.Sum256(raw)

	sums, err := os.ReadFile("../dist/SHA256SUMS")
	require.NoError(t, err)
	require.Contains(t, strings.Split(string(sums), "\n"), hex.EncodeToString(sum[:])+"  lvfsck-image-oci.tar", "SHA256SUMS lists the image")

	dir := t.TempDir()
	require.NoError(t, untar(bytes.NewReader(raw), dir))
	top, err := layout.ImageIndexFromPath(dir)
	require.NoError(t, err)
	topm, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, topm.Manifests, 1, "one entry in index.json, so oci-archive:FILE needs no :TAG")
	require.Equal(t, types.OCIImageIndex, topm.Manifests[0].MediaType)

	idx, err := top.ImageIndex(topm.Manifests[0].Digest)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	version := im.Annotations[ociimage.LabelVersion]
	require.NotEmpty(t, version, "the index's version annotation")
	require.Equal(t, "lvfsck:"+version, topm.Manifests[0].Annotations[ociimage.RefName], "index.json names the image, as podman load and skopeo's oci-archive:FILE:NAME read it")

	var created v1.Time
	var labels map[string]string
	arches := map[string]bool{}
	for _, d := range im.Manifests {
		require.NotNil(t, d.Platform, d.Digest.String())
		arch := d.Platform.Architecture
		require.Equal(t, "linux", d.Platform.OS)
		require.False(t, arches[arch], "%s twice", arch)
		arches[arch] = true
		require.Equal(t, types.OCIManifestSchema1, d.MediaType)

		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		require.Equal(t, arch, cf.Architecture)
		require.Equal(t, "linux", cf.OS)
		require.Equal(t, []string{"/usr/bin/lvfsck"}, cf.Config.Entrypoint)
		require.Equal(t, []string{"watch", "--state-dir", "/var/lib/lvfsck"}, cf.Config.Cmd)
		require.Equal(t, "0:0", cf.Config.User)
		require.Equal(t, version, cf.Config.Labels[ociimage.LabelVersion])
		require.NotEmpty(t, cf.Config.Labels[ociimage.LabelSource])
		created, labels = cf.Created, cf.Config.Labels

		layers, err := img.Layers()
		require.NoError(t, err)
		require.Len(t, layers, 1, "one layer on an empty base")
		mt, err := layers[0].MediaType()
		require.NoError(t, err)
		require.Equal(t, types.OCILayer, mt)
		bin, err := os.ReadFile("../dist/lvfsck-linux-" + arch)
		require.NoError(t, err)
		files := layerFiles(t, layers[0])
		require.Equal(t, map[string]layerFile{
			"tmp/":            {mode: 0o1777, dir: true},
			"usr/":            {mode: 0o755, dir: true},
			"usr/bin/":        {mode: 0o755, dir: true},
			"usr/bin/lvfsck":  {mode: 0o755, sum: sha256.Sum256(bin)},
			"var/":            {mode: 0o755, dir: true},
			"var/lib/":        {mode: 0o755, dir: true},
			"var/lib/lvfsck/": {mode: 0o700, dir: true},
		}, files, "%s: the layer holds exactly these, root-owned; usr/bin/lvfsck is dist/lvfsck-linux-%s", arch, arch)

		if arch == runtime.GOARCH {
			runFromLayer(t, layers[0], version)
		}
	}
	require.Equal(t, map[string]bool{"amd64": true, "arm64": true}, arches, "make release's ARCHES")
	require.True(t, arches[runtime.GOARCH], "no image for the host arch %s to run", runtime.GOARCH)

	head := strings.TrimSpace(string(runOut(t, "git", "rev-parse", "HEAD")))
	require.Equal(t, head, labels[ociimage.LabelRevision], "the revision label is the commit built")

	// The same binaries and options give the same bytes: a second build
	// (here, from the test) has the release's digest.
	o := ociimage.Options{
		Binaries: []ociimage.Binary{{Arch: "amd64", Path: "../dist/lvfsck-linux-amd64"}, {Arch: "arm64", Path: "../dist/lvfsck-linux-arm64"}},
		Version:  version, Revision: labels[ociimage.LabelRevision], Source: labels[ociimage.LabelSource],
		Created: created.Time,
	}
	for i := range 2 {
		var again bytes.Buffer
		require.NoError(t, ociimage.Write(&again, o))
		require.Equal(t, sum, sha256.Sum256(again.Bytes()), "rebuild %d differs from %s", i+1, imageArchive)
	}
}

type layerFile struct {
	mode int64
	dir  bool
	sum  [32]byte
}

// layerFiles lists the layer's entries (all root-owned, no duplicates).
func layerFiles(t *testing.T, l v1.Layer) map[string]layerFile {
	t.Helper()
	rc, err := l.Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	files := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		require.NoError(t, err)
		require.Zero(t, h.Uid, h.Name)
		require.Zero(t, h.Gid, h.Name)
		_, dup := files[h.Name]
		require.False(t, dup, "%s twice", h.Name)
		f := layerFile{mode: h.Mode, dir: h.Typeflag == tar.TypeDir}
		switch h.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			body, err := io.ReadAll(tr)
			require.NoError(t, err)
			f.sum = sha256.Sum256(body)
		default:
			t.Fatalf("%s: tar type %q, want only files and directories", h.Name, h.Typeflag)
		}
		files[h.Name] = f
	}
}

// runFromLayer extracts usr/bin/lvfsck from the layer and runs
// lvfsck --version: the image's binary works on this arch and is the
// version the image is labelled with.
func runFromLayer(t *testing.T, l v1.Layer, version string) {
	t.Helper()
	rc, err := l.Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	dir := t.TempDir()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		require.NoError(t, err, "usr/bin/lvfsck not in the layer")
		if h.Name != ociimage.BinaryPath {
			continue
		}
		bin := filepath.Join(dir, "lvfsck")
		f, err := os.OpenFile(bin, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode).Perm())
		require.NoError(t, err)
		_, err = io.Copy(f, tr)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		out := string(runOut(t, bin, "--version"))
		require.Contains(t, out, "lvfsck "+version, "the image's lvfsck --version")
		return
	}
}

// untar unpacks an OCI layout's tar (files and directories only, no
// path leaving dir).
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the archive: %w", err)
		}
		name := path.Clean(h.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%q: outside the archive", h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		default:
			return fmt.Errorf("%s: tar type %q, want only files and directories", h.Name, h.Typeflag)
		}
	}
}
