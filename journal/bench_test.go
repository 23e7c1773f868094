package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/finding"
)

func benchLvols(n int) []LvolObservation {
	lvols := make([]LvolObservation, n)
	for i := range lvols {
		lvols[i] = LvolObservation{
			UUID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Name: fmt.Sprintf("r%05d", i),
			Alias: fmt.Sprintf("lvs-bench/r%05d", i), LvstoreUUID: "lvs-bench", LvstoreName: "lvs-bench",
			BlobID: 1<<32 | uint64(i+1), SizeBytes: 64 << 20, Thin: true,
		}
	}
	return lvols
}

// BenchmarkObserveUnchanged10k is the hourly cron run over a big, quiet
// lvstore: 10,000 lvols, nothing changed. It reports the disk the journal
// takes after all b.N runs (allocated blocks, after Close).
func BenchmarkObserveUnchanged10k(b *testing.B) {
	dir := b.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(b, err)
	lvols := benchLvols(10000)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = j.ObserveLvols("inc", "lvs-bench", at, lvols)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d, err := j.ObserveLvols("inc", "lvs-bench", at.Add(time.Duration(i+1)*time.Hour), lvols)
		if err != nil || !d.Empty() {
			b.Fatalf("observe: %v (diff empty: %v)", err, d.Empty())
		}
	}
	b.StopTimer()
	require.NoError(b, j.Close())
	alloc, apparent := dirBytes(b, dir)
	b.ReportMetric(float64(alloc), "disk-bytes")
	b.ReportMetric(float64(apparent), "apparent-bytes")
	b.ReportMetric(float64(len(lvols))*float64(b.N)/b.Elapsed().Seconds(), "lvols/s")
}

// BenchmarkObserveQuietYears is the acceptance figure: 10,000 identical
// observations of 1,000 lvols (over a year of hourly runs), then the bytes
// on disk. One iteration is the whole 10,000; run it with -benchtime 1x.
func BenchmarkObserveQuietYears(b *testing.B) {
	lvols := benchLvols(1000)
	for b.Loop() {
		dir := b.TempDir()
		j, err := Open(dir, Options{})
		require.NoError(b, err)
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		_, err = j.ObserveLvols("inc", "lvs-bench", at, lvols)
		require.NoError(b, err)
		require.NoError(b, j.Close())
		first, _ := dirBytes(b, dir)
		j, err = Open(dir, Options{})
		require.NoError(b, err)
		for i := range 10000 {
			if _, err := j.ObserveLvols("inc", "lvs-bench", at.Add(time.Duration(i+1)*time.Hour), lvols); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, j.Close())
		after, _ := dirBytes(b, dir)
		b.ReportMetric(float64(first), "disk-bytes-first")
		b.ReportMetric(float64(after), "disk-bytes-after-10k")
	}
}

func BenchmarkUpsertFindings(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("findings=%d", n), func(b *testing.B) {
			j, err := Open(b.TempDir(), Options{})
			require.NoError(b, err)
			defer j.Close()
			fs := make([]finding.Finding, n)
			for i := range fs {
				fs[i] = finding.Finding{Code: "pending-resurrection", Severity: finding.Error, LvstoreUUID: "lvs",
					LvolUUID: fmt.Sprintf("u%06d", i), Message: "lvol will come back at the next restart"}
			}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := j.UpsertFindings(at.Add(time.Duration(i)*time.Hour), fs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "findings/s")
		})
	}
}

// BenchmarkRecordIntent measures the synced write that precedes every
// delete: its latency is an fsync.
func BenchmarkRecordIntent(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	require.NoError(b, err)
	defer j.Close()
	for i := 0; b.Loop(); i++ {
		if _, err := j.RecordIntent(DeleteIntent{LvolUUID: fmt.Sprintf("u%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPruneNothing is what `check --keep` pays every run once the
// journal is in its steady state: a scan, nothing old enough, then the
// flatten and value-log GC attempt.
func BenchmarkPruneNothing(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	require.NoError(b, err)
	defer j.Close()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = j.ObserveLvols("inc", "lvs-bench", at, benchLvols(1000))
	require.NoError(b, err)
	for b.Loop() {
		if _, err := j.Prune(at.Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenVerify is the price of verifying every table at Open: a
// journal holding 10,000 lvols seen, changed and gone over a few runs,
// closed, then opened (read-write, as check does) and closed again.
func BenchmarkOpenVerify(b *testing.B) {
	dir := b.TempDir()
	j, err := Open(dir, Options{})
	require.NoError(b, err)
	lvols := benchLvols(10000)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for run := range 4 {
		for i := range lvols {
			lvols[i].SizeBytes += uint64(run) << 20
		}
		_, err = j.ObserveLvols("inc", "lvs-bench", at.Add(time.Duration(run)*time.Hour), lvols[:len(lvols)-run*100])
		require.NoError(b, err)
	}
	require.NoError(b, j.Close())
	rep, _, err := verifyFiles(dir, nopLogger())
	require.NoError(b, err)
	b.ResetTimer()
	for b.Loop() {
		j, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := time.Now()
	for range 10 {
		if _, _, err := verifyFiles(dir, nopLogger()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(st).Microseconds())/10/1000, "verify-ms")
	b.ReportMetric(float64(rep.Bytes), "table-bytes")
	b.ReportMetric(float64(rep.Blocks), "blocks")
}

// BenchmarkVerifyWAL: the WAL a killed run leaves after observing 10,000
// lvols (several MB of entries, then zeros to its preallocated size),
// walked as Open walks it.
func BenchmarkVerifyWAL(b *testing.B) {
	live := b.TempDir()
	j, err := Open(live, Options{})
	require.NoError(b, err)
	_, err = j.ObserveLvols("inc", "lvs-bench", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), benchLvols(10000))
	require.NoError(b, err)
	killed, err := copyJournal(live)
	require.NoError(b, err)
	defer os.RemoveAll(killed)
	require.NoError(b, j.Close())
	mems, err := filepath.Glob(filepath.Join(killed, "*.mem"))
	require.NoError(b, err)
	require.NotEmpty(b, mems)
	wal, err := os.ReadFile(mems[len(mems)-1])
	require.NoError(b, err)
	b.SetBytes(int64(len(wal)))
	for b.Loop() {
		if err := verifyWAL(wal); err != nil {
			b.Fatal(err)
		}
	}
}
