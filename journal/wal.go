package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A memtable WAL (*.mem) holds what a run wrote since badger last flushed
// it into a table; one is left with entries only when a run was killed.
// Badger replays it up to its first bad entry and drops the rest without a
// word, which is right for the torn tail of a killed write and wrong for
// damage in the middle. verifyWAL tells them apart: after a killed write
// the file holds nothing but zeros past the torn entry; after damage, good
// entries follow the bad one.

// walHeaderLen is the start of the first entry (badger's vlogHeaderSize:
// an encryption key id and IV).
const walHeaderLen = 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walEntry decodes the entry at off as badger's safeRead does (meta,
// user meta, uvarint key and value lengths and expiry, key, value, then a
// big-endian CRC-32C of all before it) and returns the offset after it. ok
// is false when there is no whole, checksummed entry with a key there.
func walEntry(b []byte, off int) (next int, ok bool) {
	p := off + 2
	if p > len(b) {
		return 0, false
	}
	var lens [3]uint64
	for i := range lens {
		v, n := binary.Uvarint(b[p:])
		if n <= 0 {
			return 0, false
		}
		lens[i], p = v, p+n
	}
	klen, vlen := lens[0], lens[1]
	if klen == 0 || klen > 1<<16 || vlen > uint64(len(b)) {
		return 0, false
	}
	end := p + int(klen) + int(vlen)
	if end+4 > len(b) || end < p {
		return 0, false
	}
	if crc32.Checksum(b[off:end], castagnoli) != binary.BigEndian.Uint32(b[end:]) {
		return 0, false
	}
	return end + 4, true
}

// verifyWAL walks the entries of one WAL; where the walk stops, any good
// entry further on means the file is damaged.
func verifyWAL(b []byte) error {
	if len(b) < walHeaderLen {
		return nil
	}
	off := walEnd(b)
	for p := off + 1; p < len(b); p++ {
		if b[p] == 0 && b[p-1] == 0 {
			continue // zeros: no entry starts here that matters
		}
		if _, ok := walEntry(b, p); ok {
			return fmt.Errorf("entry at offset %d unreadable, entries after it at %d would be dropped", off, p)
		}
	}
	return nil
}

// verifyWALs checks every WAL in dir.
func verifyWALs(dir string) ([]Damage, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("verify journal %s: %w", dir, err)
	}
	var dmg []Damage
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".mem") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("verify journal %s: %w", dir, err)
		}
		if err := verifyWAL(b); err != nil {
			dmg = append(dmg, Damage{File: name, Problem: err.Error()})
		}
	}
	return dmg, nil
}

// walEnd is the end of the run of good entries from the start of b.
func walEnd(b []byte) int {
	off := walHeaderLen
	for {
		next, ok := walEntry(b, off)
		if !ok {
			return off
		}
		off = next
	}
}
