package adapt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/repair"
	"github.com/lvfsck/lvfsck/scanner"
)

// ErrNoDevice: no known device holds the lvstore asked about.
var ErrNoDevice = errors.New("no device of this lvstore is known")

// ErrTornPage: a blob's first md page is neither valid nor zeroed after
// several reads; whether the blob is gone cannot be told yet.
var ErrTornPage = errors.New("md page fails its CRC")

// Disk is repair.Disk over base device files (or images). Every read goes
// through scanner.Open: read-only, O_DIRECT where the file system allows
// it, since the running target writes with O_DIRECT. It never writes.
type Disk struct {
	// Paths are the candidate devices; each is identified by its super
	// blob's lvstore uuid and name on first use.
	Paths []string
	// TmpDir is where gzip images are decompressed (tests).
	TmpDir string
	// Rereads of a first page that fails its CRC (a write in flight); 0: 3.
	Rereads     int
	RereadDelay time.Duration // 0: 50ms

	mu  sync.Mutex
	ids map[string]lvsID // path → identity, cached: it never changes
}

var _ repair.Disk = (*Disk)(nil)

type lvsID struct{ uuid, name string }

// NewDisk returns a Disk over paths.
func NewDisk(paths ...string) *Disk { return &Disk{Paths: paths} }

func (d *Disk) open(path string) (*scanner.Device, error) {
	dev, err := scanner.Open(path, d.TmpDir)
	if err != nil {
		return nil, fmt.Errorf("open device %s: %w", path, err)
	}
	return dev, nil
}

// identify reads the super block and the super blob's uuid and name.
func (d *Disk) identify(path string) (lvsID, error) {
	d.mu.Lock()
	id, ok := d.ids[path]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	dev, err := d.open(path)
	if err != nil {
		return lvsID{}, err
	}
	defer dev.Close()
	sb, err := blobstore.ReadSuperBlock(dev)
	if err != nil {
		return lvsID{}, fmt.Errorf("%s: super block: %w", path, err)
	}
	first, ok := pageOf(sb.SuperBlob)
	if !ok || first >= sb.MDLen {
		return lvsID{}, fmt.Errorf("%s: super blob id %#x is outside the md region", path, sb.SuperBlob)
	}
	chain, err := blobstore.ReadChain(dev, sb, first)
	if err != nil {
		return lvsID{}, fmt.Errorf("%s: super blob: %w", path, err)
	}
	id = lvsID{uuid: strings.ToLower(xattrString(chain, blobstore.XattrUUID)), name: xattrString(chain, blobstore.XattrName)}
	if id.uuid == "" {
		return lvsID{}, fmt.Errorf("%s: the super blob carries no lvstore uuid", path)
	}
	d.mu.Lock()
	if d.ids == nil {
		d.ids = map[string]lvsID{}
	}
	d.ids[path] = id
	d.mu.Unlock()
	return id, nil
}

// devices returns the paths holding the lvstore (uuid first, else name);
// both empty selects every device.
func (d *Disk) devices(lvsUUID, lvsName string) ([]string, error) {
	if lvsUUID == "" && lvsName == "" {
		return d.Paths, nil
	}
	var out []string
	var errs []error
	for _, p := range d.Paths {
		id, err := d.identify(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if (lvsUUID != "" && strings.EqualFold(id.uuid, lvsUUID)) || (lvsUUID == "" && id.name == lvsName) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		what := lvsUUID
		if what == "" {
			what = lvsName
		}
		return nil, fmt.Errorf("lvstore %s: %w (devices tried: %s; pass its device with --device)%w",
			what, ErrNoDevice, strings.Join(d.Paths, ", "), joinPrefixed(errs))
	}
	return out, nil
}

func joinPrefixed(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf(": %w", errors.Join(errs...))
}

// BlobPresent reads the blob's first md page, and its chain for the uuid,
// and nothing else. Present: the first page is CRC-valid, starts blob
// blobID (its id, sequence 0) and carries lvolUUID. Zeroed (a real delete),
// or reused by another blob: gone. A page that keeps failing its CRC is an
// error (ErrTornPage), not an answer: lvfsck never reports a deletion it
// could not see. blobID 0: the md region is searched for the uuid.
func (d *Disk) BlobPresent(ctx context.Context, lvstoreUUID, lvolUUID string, blobID uint64) (bool, error) {
	if blobID == 0 {
		refs, err := d.FindBlob(ctx, repair.BlobQuery{LvstoreUUID: lvstoreUUID, LvolUUID: lvolUUID})
		return len(refs) > 0, err
	}
	first, ok := pageOf(blobID)
	if !ok {
		return false, fmt.Errorf("blob id %#x is not a blob id", blobID)
	}
	paths, err := d.devices(lvstoreUUID, "")
	if err != nil {
		return false, err
	}
	for _, p := range paths {
		present, err := d.present(ctx, p, first, lvolUUID)
		if err != nil || present {
			return present, err
		}
	}
	return false, nil
}

func (d *Disk) present(ctx context.Context, path string, first uint32, lvolUUID string) (bool, error) {
	dev, err := d.open(path)
	if err != nil {
		return false, err
	}
	defer dev.Close()
	return d.presentIn(ctx, dev, path, first, lvolUUID)
}

// presentIn is present over any reader (fuzzed over in-memory images).
func (d *Disk) presentIn(ctx context.Context, dev io.ReaderAt, path string, first uint32, lvolUUID string) (bool, error) {
	sb, err := blobstore.ReadSuperBlock(dev)
	if err != nil {
		return false, fmt.Errorf("%s: super block: %w", path, err)
	}
	if first >= sb.MDLen {
		return false, fmt.Errorf("%s: blob %#x: page %d is outside the md region of %d pages", path, blobstore.BlobID(first), first, sb.MDLen)
	}
	tries := max(d.Rereads, 0)
	if tries == 0 {
		tries = 3
	}
	var raw []byte
	for i := 0; ; i++ {
		raw, err = blobstore.ReadPageBytes(dev, sb, first)
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		if allZero(raw) {
			return false, nil
		}
		if blobstore.PageCRC(raw) == crcOf(raw) {
			break
		}
		if i+1 >= tries {
			return false, fmt.Errorf("%s: blob %#x: page %d: %w after %d reads (a write in flight, or damage); run lvfsck check", path, blobstore.BlobID(first), first, ErrTornPage, tries)
		}
		delay := d.RereadDelay
		if delay <= 0 {
			delay = 50 * time.Millisecond
		}
		if err := (repair.RealClock{}).Sleep(ctx, delay); err != nil {
			return false, err
		}
	}
	pg, err := blobstore.DecodePage(raw)
	if err != nil && pg == nil {
		return false, fmt.Errorf("%s: page %d: %w", path, first, err)
	}
	if !pg.StartsBlob(first) {
		return false, nil // the page now belongs to another blob's chain
	}
	chain, err := blobstore.ReadChain(dev, sb, first)
	u := xattrString(chain, blobstore.XattrUUID)
	switch {
	case u != "":
		return strings.EqualFold(u, lvolUUID), nil
	case err != nil:
		return false, fmt.Errorf("%s: blob %#x: its first page is valid but its chain cannot be read for the uuid: %w", path, blobstore.BlobID(first), err)
	default:
		return false, nil // a valid blob without a uuid is not this lvol
	}
}

// FindBlob is a recovery-mode scan of the lvstore's md region: every blob
// whose uuid (or, when no uuid is asked, name) xattr matches.
func (d *Disk) FindBlob(ctx context.Context, q repair.BlobQuery) ([]repair.BlobRef, error) {
	paths, err := d.devices(q.LvstoreUUID, q.LvstoreName)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no device given", ErrNoDevice)
	}
	var out []repair.BlobRef
	for _, p := range paths {
		dev, err := d.open(p)
		if err != nil {
			return nil, err
		}
		v, err := scanner.Scan(ctx, dev, scanner.Options{Mode: scanner.ModeRecovery, Device: p})
		dev.Close()
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", p, err)
		}
		for _, b := range v.Blobs {
			if b.IsSuper || b.LvolUUID == "" {
				continue
			}
			match := strings.EqualFold(b.LvolUUID, q.LvolUUID)
			if q.LvolUUID == "" {
				match = q.LvolName != "" && b.LvolName == q.LvolName
			}
			if match {
				out = append(out, repair.BlobRef{BlobID: b.ID, LvstoreUUID: v.Lvstore.UUID, LvolUUID: strings.ToLower(b.LvolUUID), LvolName: b.LvolName})
			}
		}
	}
	return out, nil
}

func pageOf(id uint64) (uint32, bool) {
	return uint32(id), id>>32 == 1
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func crcOf(raw []byte) uint32 {
	_, _, _, crc, _ := blobstore.PageHeader(raw)
	return crc
}

// xattrString is a user xattr of the chain as text (up to the first NUL:
// SPDK stores names and uuids NUL-terminated, names NUL-padded).
func xattrString(chain []*blobstore.Page, name string) string {
	for _, p := range chain {
		for _, desc := range p.Descriptors {
			if x, ok := desc.(*blobstore.Xattr); ok && !x.Internal && x.Name == name {
				v, _, _ := bytes.Cut(x.Value, []byte{0})
				return string(v)
			}
		}
	}
	return ""
}
