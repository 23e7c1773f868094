package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/klauspost/compress/snappy"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// ErrCorrupt means the journal's files are damaged: its history cannot be
// read whole. Badger itself would skip a table whose checksum fails (and
// panic, in a goroutine no caller can recover, on a damaged table index),
// so Open verifies every table before badger sees it. The error names the
// damaged files.
var ErrCorrupt = errors.New("journal is damaged")

// Damage is one damaged file of a journal.
type Damage struct {
	File    string // base name in the journal directory
	Problem string
}

func (d Damage) String() string { return d.File + ": " + d.Problem }

// CorruptError is the ErrCorrupt Open and Verify return; Damage lists what
// is wrong.
type CorruptError struct {
	Dir    string
	Damage []Damage
}

func (e *CorruptError) Error() string {
	parts := make([]string, len(e.Damage))
	for i, d := range e.Damage {
		parts[i] = d.String()
	}
	return fmt.Sprintf("journal in %s is damaged and cannot be read whole (%s)", e.Dir, strings.Join(parts, "; "))
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// TablesReport counts what verifyFiles read.
type TablesReport struct {
	Tables int   // tables listed in the manifest
	Blocks int   // blocks whose checksum was verified
	Bytes  int64 // table bytes read
}

// maxBlockLen bounds a decompressed block: badger writes 4 KiB blocks, or
// one entry when it is larger, and our records are at most maxValueLen; a
// length claimed beyond this is damage, not data.
const maxBlockLen = 2 * maxValueLen

// verifyFiles checks the WALs a killed run left (wal.go), the manifest and
// every table it lists: footer, index checksum, and the checksum of every
// block. It reads the files itself, so
// damage is reported as Damage and never reaches badger's panics. A
// directory with no manifest (a new journal) has nothing to verify.
func verifyFiles(dir string, lg zerolog.Logger) (TablesReport, []Damage, error) {
	var rep TablesReport
	dmg, err := verifyWALs(dir)
	if err != nil {
		return rep, nil, err
	}
	fp, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, os.ErrNotExist) {
		return rep, dmg, nil
	}
	if err != nil {
		return rep, nil, fmt.Errorf("verify journal %s: %w", dir, err)
	}
	defer fp.Close()
	mf, _, err := badger.ReplayManifestFile(fp, 0, badgerOptions(dir, lg))
	if err != nil {
		return rep, append(dmg, Damage{File: badger.ManifestFilename, Problem: err.Error()}), nil
	}
	var buf []byte // one decompression buffer for every block
	ids := make([]uint64, 0, len(mf.Tables))
	for id := range mf.Tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		name := table.IDToFilename(id)
		rep.Tables++
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			dmg = append(dmg, Damage{File: name, Problem: "listed in the manifest but missing"})
			continue
		}
		if err != nil {
			return rep, nil, fmt.Errorf("verify journal %s: %w", dir, err)
		}
		rep.Bytes += int64(len(b))
		n, err := verifyTable(b, mf.Tables[id].Compression, &buf)
		rep.Blocks += n
		if err != nil {
			dmg = append(dmg, Damage{File: name, Problem: err.Error()})
		}
	}
	return rep, dmg, nil
}

// verifyTable checks one table file (badger's layout: blocks, then the
// index, its length, its checksum and the checksum's length) and returns
// how many blocks it verified. Every length is bounds-checked before use;
// a panic in the flatbuffer accessors is damage too.
func verifyTable(b []byte, comp options.CompressionType, buf *[]byte) (blocks int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable table index: %v", r)
		}
	}()
	if comp != options.None && comp != options.Snappy {
		return 0, fmt.Errorf("compression %d not used by lvfsck", comp)
	}
	idx, idxStart, err := tableIndex(b)
	if err != nil {
		return 0, err
	}
	ti := fb.GetRootAsTableIndex(idx, 0)
	var bo fb.BlockOffset
	for i := 0; i < ti.OffsetsLength(); i++ {
		if !ti.Offsets(&bo, i) {
			return blocks, fmt.Errorf("block %d: no offset in the index", i)
		}
		off, ln := int(bo.Offset()), int(bo.Len())
		if off < 0 || ln <= 0 || off > idxStart || ln > idxStart-off {
			return blocks, fmt.Errorf("block %d: offset %d length %d outside the table", i, off, ln)
		}
		if err := verifyBlock(b[off:off+ln], comp, buf); err != nil {
			return blocks, fmt.Errorf("block %d at offset %d: %w", i, off, err)
		}
		blocks++
	}
	return blocks, nil
}

// tableIndex returns the table's index bytes, checksum verified, and
// where they start.
func tableIndex(b []byte) ([]byte, int, error) {
	pos := len(b) - 4
	if pos < 4 {
		return nil, 0, fmt.Errorf("table of %d bytes is too short", len(b))
	}
	chkLen := int(y.BytesToU32(b[pos:]))
	if chkLen > pos-4 {
		return nil, 0, fmt.Errorf("index checksum length %d exceeds the table", chkLen)
	}
	pos -= chkLen
	sum, err := checksumOf(b[pos : pos+chkLen])
	if err != nil {
		return nil, 0, fmt.Errorf("index: %w", err)
	}
	pos -= 4
	idxLen := int(y.BytesToU32(b[pos:]))
	if idxLen > pos {
		return nil, 0, fmt.Errorf("index length %d exceeds the table", idxLen)
	}
	pos -= idxLen
	idx := b[pos : pos+idxLen]
	if err := y.VerifyChecksum(idx, sum); err != nil {
		return nil, 0, fmt.Errorf("index: %w", err)
	}
	return idx, pos, nil
}

// verifyBlock decompresses one block and checks its checksum, which covers
// the block's entries, entry offsets and entry count. buf is reused.
func verifyBlock(b []byte, comp options.CompressionType, buf *[]byte) error {
	if comp == options.Snappy {
		n, err := snappy.DecodedLen(b)
		if err != nil || n > maxBlockLen {
			return fmt.Errorf("cannot decompress (length %d): %v", n, err)
		}
		if cap(*buf) < n {
			*buf = make([]byte, n)
		}
		if b, err = snappy.Decode((*buf)[:n], b); err != nil {
			return fmt.Errorf("cannot decompress: %w", err)
		}
	}
	pos := len(b) - 4
	if pos < 0 {
		return errors.New("block too short")
	}
	chkLen := int(y.BytesToU32(b[pos:]))
	if chkLen > pos {
		return fmt.Errorf("checksum length %d exceeds the block", chkLen)
	}
	pos -= chkLen
	sum, err := checksumOf(b[pos : pos+chkLen])
	if err != nil {
		return err
	}
	return y.VerifyChecksum(b[:pos], sum)
}

// checksumOf decodes a stored checksum; y.VerifyChecksum panics on an
// algorithm it does not know, so that is refused here first.
func checksumOf(b []byte) (*pb.Checksum, error) {
	var cs pb.Checksum
	if err := proto.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("checksum unreadable: %w", err)
	}
	if cs.Algo != pb.Checksum_CRC32C && cs.Algo != pb.Checksum_XXHash64 {
		return nil, fmt.Errorf("checksum algorithm %d unknown", cs.Algo)
	}
	return &cs, nil
}

// Report is what Verify read of a journal.
type Report struct {
	Dir string
	TablesReport
	Keys   int // records read, every value with it
	Copied bool
}

// Verify reads the whole journal in dir, read-only: every table's
// checksums, then every record. A damaged journal fails with a
// *CorruptError that lists every damaged file.
func Verify(ctx context.Context, dir string, o Options) (Report, error) {
	o.ReadOnly = true
	rep := Report{Dir: dir}
	j, err := OpenContext(ctx, dir, o)
	if err != nil {
		return rep, err
	}
	defer j.Close()
	rep.TablesReport, rep.Copied = j.tables, j.copy != ""
	err = j.db.View(func(txn *badger.Txn) error {
		return scan(txn, "", "", true, func(string, []byte) error {
			rep.Keys++
			return ctx.Err()
		})
	})
	if err != nil {
		return rep, &CorruptError{Dir: dir, Damage: []Damage{{File: "(records)", Problem: err.Error()}}}
	}
	return rep, nil
}
