package report

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lvfsck/lvfsck/finding"
)

// maxLabelValue bounds a label value in bytes. Uuids are 36 bytes and codes
// short; anything longer came from a damaged disk and is cut, so one corrupt
// lvstore cannot bloat the scrape.
const maxLabelValue = 128

// WriteProm writes the Prometheus text exposition of s (format 0.0.4, as
// node_exporter's textfile collector reads it): HELP and TYPE for every
// family, base units, no timestamps. Series are labelled by lvstore uuid,
// finding code and severity only, never by lvol or blob, so cardinality is
// bounded by lvstores × codes × 4.
//
// lastSuccess is the finish time of the latest run that completed (see
// RunCompleted), as the journal knows it; when s itself completed, its
// Finished time is used if later. Zero means never, and is written as 0 so
// that an age alert (time() - x > ...) fires rather than going silent.
func WriteProm(w io.Writer, s Summary, lastSuccess time.Time) error {
	bw := bufio.NewWriter(w)
	r := newResolver(s.Lvstores)

	type fkey struct{ lvs, code, sev string }
	type skey struct {
		lvs string
		sev finding.Severity
	}
	perCode := map[fkey]int{}
	perSev := map[skey]int{}
	lvols := map[string]int{}
	for _, l := range s.Lvstores {
		lvols[labelValue(l.UUID)] += max(l.Lvols, 0)
		for _, sev := range severities {
			perSev[skey{labelValue(l.UUID), sev}] += 0
		}
	}
	for _, f := range s.Findings {
		u := labelValue(r.uuid(f))
		sev := clampSeverity(f.Severity)
		perCode[fkey{u, labelValue(string(f.Code)), sev.String()}]++
		for _, sv := range severities {
			perSev[skey{u, sv}] += 0 // every severity of every lvstore seen
		}
		perSev[skey{u, sev}]++
	}

	family(bw, "lvfsck_findings", "Findings of the last lvfsck run, by lvstore uuid, finding code and severity (only non-zero series).")
	fkeys := mapKeys(perCode)
	slices.SortFunc(fkeys, func(a, b fkey) int {
		return cmp.Or(cmp.Compare(a.lvs, b.lvs), cmp.Compare(a.code, b.code), cmp.Compare(a.sev, b.sev))
	})
	for _, k := range fkeys {
		fmt.Fprintf(bw, "lvfsck_findings{lvstore=\"%s\",code=\"%s\",severity=\"%s\"} %d\n", k.lvs, k.code, k.sev, perCode[k])
	}

	family(bw, "lvfsck_lvstore_findings", "Findings of the last lvfsck run per lvstore uuid and severity; every severity of every lvstore seen is present, zero included.")
	skeys := mapKeys(perSev)
	slices.SortFunc(skeys, func(a, b skey) int {
		return cmp.Or(cmp.Compare(a.lvs, b.lvs), cmp.Compare(b.sev, a.sev))
	})
	for _, k := range skeys {
		fmt.Fprintf(bw, "lvfsck_lvstore_findings{lvstore=\"%s\",severity=\"%s\"} %d\n", k.lvs, k.sev, perSev[k])
	}

	family(bw, "lvfsck_lvstore_lvols", "Lvols of each lvstore in the last lvfsck run (persisted or live).")
	lkeys := mapKeys(lvols)
	slices.Sort(lkeys)
	for _, k := range lkeys {
		fmt.Fprintf(bw, "lvfsck_lvstore_lvols{lvstore=\"%s\"} %d\n", k, lvols[k])
	}

	lastRun := s.Finished
	if lastRun.IsZero() {
		lastRun = s.Started
	}
	if RunCompleted(s.Exit) && lastSuccess.Before(lastRun) {
		lastSuccess = lastRun
	}
	family(bw, "lvfsck_last_run_timestamp_seconds", "When the last lvfsck run finished, in seconds since the epoch.")
	if !lastRun.IsZero() {
		fmt.Fprintf(bw, "lvfsck_last_run_timestamp_seconds %s\n", unixSeconds(lastRun))
	}
	family(bw, "lvfsck_last_success_timestamp_seconds", "When the last lvfsck run that completed its check finished, in seconds since the epoch; 0 if none ever did.")
	fmt.Fprintf(bw, "lvfsck_last_success_timestamp_seconds %s\n", unixSeconds(lastSuccess))
	family(bw, "lvfsck_scan_duration_seconds", "Time the last lvfsck run spent scanning devices, in seconds.")
	fmt.Fprintf(bw, "lvfsck_scan_duration_seconds %s\n", strconv.FormatFloat(max(s.ScanDuration, 0).Seconds(), 'f', -1, 64))
	family(bw, "lvfsck_scanned_bytes", "Bytes the last lvfsck run read from devices and images.")
	fmt.Fprintf(bw, "lvfsck_scanned_bytes %d\n", max(s.ScannedBytes, 0))
	family(bw, "lvfsck_last_run_success", "1 when the last lvfsck run completed its check (exit 0, 1 or 4), 0 when it failed (operational error, usage, cancelled).")
	fmt.Fprintf(bw, "lvfsck_last_run_success %d\n", b2i(RunCompleted(s.Exit)))
	family(bw, "lvfsck_exit_code", "Exit code of the last lvfsck run (e2fsck conventions: 0 clean, 4 errors left, 8 operational error).")
	fmt.Fprintf(bw, "lvfsck_exit_code %d\n", s.Exit)

	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write prometheus text: %w", err)
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func family(w *bufio.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

func mapKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// unixSeconds renders t as seconds since the epoch with millisecond
// precision ("1764151200.123"); the zero time is 0.
func unixSeconds(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

// labelValue makes s a valid, escaped label value: valid UTF-8, at most
// maxLabelValue bytes (cut on a rune boundary), with \, " and newline
// escaped as the text format requires.
func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxLabelValue {
		cut := maxLabelValue
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return promEscaper.Replace(s)
}

var promEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// ErrPromPath is returned by WritePromFile for a path that names no file.
var ErrPromPath = errors.New("prometheus textfile path names no file")

// WritePromFile replaces path atomically with the text WriteProm writes:
// it writes a temporary file in the same directory (named so that the
// textfile collector, which reads *.prom, never sees it), fsyncs it, sets
// mode 0644, renames it over path, and fsyncs the directory. A failed write
// leaves the previous file and no temporary behind.
func WritePromFile(path string, s Summary, lastSuccess time.Time) (err error) {
	dir, base := filepath.Split(path)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("write %q: %w", path, ErrPromPath)
	}
	if dir == "" {
		dir = "."
	}
	var buf bytes.Buffer
	if err := WriteProm(&buf, s, lastSuccess); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPattern(base))
	if err != nil {
		return fmt.Errorf("write %s: create temporary file: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	// CreateTemp makes 0600; node_exporter often runs as another user.
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	syncDir(dir)
	return nil
}

// tempPattern names the temporary file: hidden, and ending in CreateTemp's
// random digits, never in ".prom".
func tempPattern(base string) string { return "." + base + ".tmp*" }

// syncDir makes the rename durable. Best effort: some file systems refuse
// to fsync a directory, and the new file is already complete either way.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
