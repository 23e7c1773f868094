package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// writer streams tar entries into a gzip stream and remembers each entry's
// checksum for the manifest.
type writer struct {
	gz      *gzip.Writer
	tw      *tar.Writer
	now     time.Time
	sums    []EntrySum
	written int64 // uncompressed entry bytes
}

func newWriter(w io.Writer, now time.Time) *writer {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level never fails
	return &writer{gz: gz, tw: tar.NewWriter(gz), now: now}
}

// add writes one entry.
func (w *writer) add(name string, b []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: w.now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	if _, err := w.tw.Write(b); err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	s := sha256.Sum256(b)
	w.sums = append(w.sums, EntrySum{Name: name, Size: int64(len(b)), SHA256: hex.EncodeToString(s[:])})
	w.written += int64(len(b))
	return nil
}

// close writes the manifest, with every checksum, and ends the streams.
func (w *writer) close(m *Manifest) error {
	m.Entries = w.sums
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle: manifest: %w", err)
	}
	hdr := &tar.Header{Name: manifestName, Mode: 0o644, Size: int64(len(b)), ModTime: w.now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bundle: manifest: %w", err)
	}
	if _, err := w.tw.Write(b); err != nil {
		return fmt.Errorf("bundle: manifest: %w", err)
	}
	if err := w.tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := w.gz.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}
