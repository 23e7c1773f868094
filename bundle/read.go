package bundle

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lvfsck/lvfsck/collect"
)

// Bundle is a bundle extracted into a private directory: RPC answers as
// files, images as sparse files. Close removes it.
type Bundle struct {
	Dir      string
	Manifest Manifest
	Images   []string      // paths of the extracted images, in manifest order
	Files    collect.Files // the extracted answers; empty fields when not captured
	Journal  string        // the journal excerpt's path, "" when none
	Log      string        // the target's log, "" when none
}

// Close removes the extracted files.
func (b *Bundle) Close() error { return os.RemoveAll(b.Dir) }

// maxEntry bounds one entry: an image chunk is at most chunkSize, an
// answer 32 MiB, the log maxLog.
const maxEntry = maxLog + 1

// maxImageSize bounds the size a manifest may give an image (its holes cost
// nothing, but a check reads their md region).
const maxImageSize = 64 << 40

// Open extracts the bundle at path into a new directory under tmpDir
// ("" for $TMPDIR) and checks every entry against the manifest. Any
// mismatch, a missing manifest, a truncated or corrupt stream is an error
// wrapping ErrBundle, and nothing is left behind.
func Open(ctx context.Context, path, tmpDir string) (_ *Bundle, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBundle, err)
	}
	defer f.Close()
	dir, err := os.MkdirTemp(tmpDir, "lvfsck-bundle-")
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	b := &Bundle{Dir: dir}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if err := b.extract(ctx, bufio.NewReaderSize(f, 1<<20)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBundle, fmt.Sprintf(format, a...))
}

// extract unpacks the bundle into b.Dir and refuses it whole unless every
// entry matches the manifest.
func (b *Bundle) extract(ctx context.Context, r io.Reader) error {
	images := map[int]*os.File{}
	ends := map[int]int64{} // per image, the end of its last chunk
	defer func() {
		for _, f := range images {
			f.Close()
		}
	}()
	sums, manifest, err := b.unpack(ctx, r, images, ends)
	if err != nil {
		return err
	}
	if err := b.checkManifest(manifest, sums); err != nil {
		return err
	}
	if err := b.sizeImages(images, ends); err != nil {
		return err
	}
	return b.nameFiles(sums)
}

// unpack reads every entry up to the manifest, which must come last, and
// places each; it returns the sums of what it read and the manifest's
// bytes.
func (b *Bundle) unpack(ctx context.Context, r io.Reader, images map[int]*os.File, ends map[int]int64) (map[string]EntrySum, []byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, bad("not a gzip stream (%v)", err)
	}
	tr := tar.NewReader(zr)
	sums := map[string]EntrySum{}
	var manifest []byte
	buf := make([]byte, 0, chunkSize)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, bad("truncated or corrupt (%v)", err)
		}
		if manifest != nil {
			return nil, nil, bad("entry %q after the manifest", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size < 0 || hdr.Size > maxEntry {
			return nil, nil, bad("entry %q: not a regular file of a plausible size", hdr.Name)
		}
		body, err := readEntry(tr, hdr.Size, buf)
		if err != nil {
			return nil, nil, bad("entry %q truncated or corrupt (%v)", hdr.Name, err)
		}
		if hdr.Name == manifestName {
			manifest = append([]byte(nil), body...)
			continue
		}
		if _, dup := sums[hdr.Name]; dup {
			return nil, nil, bad("entry %q twice", hdr.Name)
		}
		h := sha256.Sum256(body)
		sums[hdr.Name] = EntrySum{Name: hdr.Name, Size: int64(len(body)), SHA256: hex.EncodeToString(h[:])}
		if err := b.place(hdr.Name, body, images, ends); err != nil {
			return nil, nil, err
		}
	}
	// The gzip trailer (CRC, length) is checked when the stream ends.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, nil, bad("truncated or corrupt (%v)", err)
	}
	if manifest == nil {
		return nil, nil, bad("no manifest: truncated, or not an lvfsck bundle")
	}
	return sums, manifest, nil
}

// checkManifest decodes the manifest into b and requires the entries read
// to be exactly those it lists.
func (b *Bundle) checkManifest(manifest []byte, sums map[string]EntrySum) error {
	if err := json.Unmarshal(manifest, &b.Manifest); err != nil {
		return bad("manifest: %v", err)
	}
	m := &b.Manifest
	if m.Format != Format {
		return bad("format %q, want %q", m.Format, Format)
	}
	if len(m.Entries) != len(sums) {
		return bad("%d entries, the manifest lists %d", len(sums), len(m.Entries))
	}
	for _, e := range m.Entries {
		if got, ok := sums[e.Name]; !ok || got != e {
			return bad("entry %q does not match the manifest (damaged)", e.Name)
		}
	}
	return nil
}

// sizeImages sizes each image as its device, holes everywhere nothing was
// stored.
func (b *Bundle) sizeImages(images map[int]*os.File, ends map[int]int64) error {
	for _, im := range b.Manifest.Images {
		if im.Size < 0 || im.Size > maxImageSize || ends[im.Index] > im.Size {
			return bad("image %d: size %d", im.Index, im.Size)
		}
		f, err := b.imageFile(im.Index, images)
		if err != nil {
			return err
		}
		if err := f.Truncate(im.Size); err != nil {
			return fmt.Errorf("bundle: image %d: %w", im.Index, err)
		}
		b.Images = append(b.Images, f.Name())
	}
	if len(images) != len(b.Manifest.Images) {
		return bad("image chunks for %d images, the manifest lists %d", len(images), len(b.Manifest.Images))
	}
	return nil
}

// nameFiles points b's Files, Journal and Log at the extracted answers.
func (b *Bundle) nameFiles(sums map[string]EntrySum) error {
	for meth, name := range b.Manifest.RPC {
		p := filepath.Join(b.Dir, filepath.FromSlash(name))
		if _, ok := sums[name]; !ok {
			return bad("answer %s: entry %q missing", meth, name)
		}
		switch meth {
		case "bdev_lvol_get_lvstores":
			b.Files.Lvstores = p
		case "bdev_lvol_get_lvols":
			b.Files.Lvols = p
		case "bdev_get_bdevs":
			b.Files.Bdevs = p
		case "notify_get_notifications":
			b.Files.Notify = p
		}
	}
	if _, ok := sums[journalName]; ok {
		b.Journal = filepath.Join(b.Dir, filepath.FromSlash(journalName))
	}
	if _, ok := sums[logName]; ok {
		b.Log = filepath.Join(b.Dir, filepath.FromSlash(logName))
	}
	return nil
}

// readEntry reads n bytes of the current entry, reusing buf when it fits.
func readEntry(r io.Reader, n int64, buf []byte) ([]byte, error) {
	var b []byte
	if n <= int64(cap(buf)) {
		b = buf[:n]
	} else {
		b = make([]byte, n)
	}
	_, err := io.ReadFull(r, b)
	return b, err
}

// place writes one entry: an image chunk into its image, anything else as
// a file of the same name.
func (b *Bundle) place(name string, body []byte, images map[int]*os.File, ends map[int]int64) error {
	if rest, ok := strings.CutPrefix(name, imageDir); ok {
		idx, off, err := chunkName(rest)
		if err != nil {
			return bad("entry %q: %v", name, err)
		}
		f, err := b.imageFile(idx, images)
		if err != nil {
			return err
		}
		ends[idx] = max(ends[idx], off+int64(len(body)))
		if _, err := f.WriteAt(body, off); err != nil {
			return fmt.Errorf("bundle: image %d: %w", idx, err)
		}
		return nil
	}
	switch {
	case name == journalName, name == logName:
	case strings.HasPrefix(name, rpcDir) && !strings.Contains(name[len(rpcDir):], "/") && !strings.Contains(name, ".."):
	default:
		return bad("unexpected entry %q", name)
	}
	p := filepath.Join(b.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := os.WriteFile(p, body, 0o600); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

// chunkName parses "<index>/<offset hex>".
func chunkName(s string) (int, int64, error) {
	i, o, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, errors.New("not <image>/<offset>")
	}
	idx, err := strconv.Atoi(i)
	if err != nil || idx < 0 || idx > 1<<16 {
		return 0, 0, fmt.Errorf("image index %q", i)
	}
	off, err := strconv.ParseInt(o, 16, 64)
	if err != nil || off < 0 || off > maxImageSize {
		return 0, 0, fmt.Errorf("offset %q", o)
	}
	return idx, off, nil
}

func (b *Bundle) imageFile(idx int, images map[int]*os.File) (*os.File, error) {
	if f, ok := images[idx]; ok {
		return f, nil
	}
	f, err := os.OpenFile(filepath.Join(b.Dir, fmt.Sprintf("image-%d.img", idx)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	images[idx] = f
	return f, nil
}
