package bundle

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/lvfsck/lvfsck/blobstore"
)

// chunkSize is what one read takes from the device: the memory a capture
// needs, whatever the device's size.
const chunkSize = 1 << 20

// fallbackBytes is what is taken of a device whose super block does not
// decode: the start, where the md of any plausible geometry begins.
const fallbackBytes = 16 << 20

// span is a byte range of the device.
type span struct{ off, n int64 }

// metadataSpans are the byte ranges of the device that hold metadata: the
// super block, the masks and the md region, clamped to the device, merged
// where they touch. A super block that cannot be read gives the device's
// first fallbackBytes, and a note.
func metadataSpans(r io.ReaderAt, size int64) ([]span, string) {
	page := make([]byte, blobstore.PageSize)
	if _, err := r.ReadAt(page, 0); err != nil {
		return []span{{0, min(size, fallbackBytes)}}, fmt.Sprintf("super block unreadable (%v): the first %d MiB taken", err, fallbackBytes>>20)
	}
	sb, err := blobstore.DecodeSuperBlock(page)
	note := ""
	if sb == nil {
		return []span{{0, min(size, fallbackBytes)}}, fmt.Sprintf("no valid super block (%v): the first %d MiB taken", err, fallbackBytes>>20)
	}
	if err != nil {
		note = fmt.Sprintf("super block: %v (its regions taken as they are)", err)
	}
	var out []span
	for _, rg := range sb.Regions() {
		off := int64(rg.Start) * blobstore.PageSize
		end := min(off+int64(rg.Len)*blobstore.PageSize, size)
		if off >= end {
			continue
		}
		out = append(out, span{off, end - off})
	}
	return mergeSpans(out), note
}

// mergeSpans sorts and merges overlapping or touching spans.
func mergeSpans(in []span) []span {
	for i := 1; i < len(in); i++ { // few spans: insertion sort
		for j := i; j > 0 && in[j].off < in[j-1].off; j-- {
			in[j], in[j-1] = in[j-1], in[j]
		}
	}
	var out []span
	for _, s := range in {
		if n := len(out); n > 0 && s.off <= out[n-1].off+out[n-1].n {
			last := &out[n-1]
			last.n = max(last.n, s.off+s.n-last.off)
			continue
		}
		out = append(out, s)
	}
	return out
}

// imageStats is what one device capture stored.
type imageStats struct {
	read, stored int64
}

// writeImage reads the spans of r in chunks and writes each run of
// non-zero pages as an entry imageDir/<index>/<offset>, md pages
// obfuscated when ob is set. progress is called with the bytes read so far.
func writeImage(ctx context.Context, w *writer, index int, r io.ReaderAt, spans []span, ob *Obfuscator, mdStart, mdEnd int64, progress func(int64)) (imageStats, error) {
	var st imageStats
	buf := make([]byte, chunkSize)
	zero := make([]byte, blobstore.PageSize)
	for _, s := range spans {
		for off := s.off; off < s.off+s.n; off += chunkSize {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			n := int(min(chunkSize, s.off+s.n-off))
			b := buf[:n]
			if _, err := r.ReadAt(b, off); err != nil && !(err == io.EOF && n > 0) {
				return st, fmt.Errorf("read at %d: %w", off, err)
			}
			st.read += int64(n)
			if progress != nil {
				progress(st.read)
			}
			// Runs of non-zero pages become entries; zero pages are holes.
			runStart := -1
			flush := func(end int) error {
				if runStart < 0 {
					return nil
				}
				err := w.add(fmt.Sprintf("%s%d/%016x", imageDir, index, off+int64(runStart)), b[runStart:end])
				st.stored += int64(end - runStart)
				runStart = -1
				return err
			}
			for p := 0; p < n; p += blobstore.PageSize {
				pe := min(p+blobstore.PageSize, n)
				pg := b[p:pe]
				if bytes.Equal(pg, zero[:len(pg)]) {
					if err := flush(p); err != nil {
						return st, err
					}
					continue
				}
				if at := off + int64(p); ob != nil && at >= mdStart && at < mdEnd && len(pg) == blobstore.PageSize {
					nb, err := ob.rewritePage(pg)
					if err != nil {
						return st, err
					}
					if nb != nil {
						copy(pg, nb)
					}
				}
				if runStart < 0 {
					runStart = p
				}
			}
			if err := flush(n); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}
