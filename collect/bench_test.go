package collect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/journal"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/scanner"
	"github.com/lvfsck/lvfsck/sim"
	"github.com/lvfsck/lvfsck/spdk"
)

const benchLvols = 10_000

// benchTarget starts an in-process sim on a sparse 16 GiB image (1 MiB
// clusters: 16,384 md pages) holding 10,000 thin lvols; b.Cleanup stops it
// and removes the image.
func benchTarget(b *testing.B) (image, sock string) {
	dir, err := os.MkdirTemp("", "lvfsck-bench") // short: unix socket paths are limited
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	image, sock = filepath.Join(dir, "disk.img"), filepath.Join(dir, "spdk.sock")
	t, err := sim.New(sim.Config{Image: image, Size: 16 << 30, OpDuration: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = t.Serve(ctx, sock); close(served) }()
	b.Cleanup(func() { cancel(); <-served })
	c, err := spdk.DialWait(ctx, sock, 10*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateLvstore(ctx, "aio0", "lvs-big", 1<<20); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := range benchLvols {
		if _, err := c.CreateLvol(ctx, "lvs-big", fmt.Sprintf("r%05d", i), 64, true); err != nil {
			b.Fatalf("create lvol %d: %v", i, err)
		}
	}
	b.Logf("setup: %d lvols created in %s", benchLvols, time.Since(start).Round(time.Millisecond))
	return image, sock
}

// BenchmarkCheck10k: the whole comparison beside a live target with 10,000
// lvols — live view over RPC, a recovery-mode scan of the device, the
// mapping and reconcile.Check — and the comparison alone.
func BenchmarkCheck10k(b *testing.B) {
	image, sock := benchTarget(b)
	ctx := context.Background()
	c, err := spdk.Dial(ctx, sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	gather := func() reconcile.Input {
		live, _, err := Live(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		v, err := scanner.ScanPath(ctx, image, scanner.Options{Mode: scanner.ModeRecovery}, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		scans := []Scan{{Device: image, View: v}}
		return reconcile.Input{Persisted: Persisted(scans, Complete(live, scans)), Live: live, History: emptyHistory{}}
	}
	// measure runs body under b.Loop and reports time and allocation per
	// check, and the heap in use after.
	measure := func(b *testing.B, body func()) {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		start := time.Now()
		for b.Loop() {
			body()
		}
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/check")
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MiB/check")
		b.ReportMetric(float64(m1.HeapInuse)/(1<<20), "heap-MiB")
	}
	b.Run("whole", func(b *testing.B) {
		measure(b, func() {
			in := gather()
			if fs := reconcile.Check(in); len(fs) != 0 {
				b.Fatalf("a consistent store gave %d findings: %v", len(fs), fs[0])
			}
			if len(in.Live.Lvols) != benchLvols {
				b.Fatalf("%d live lvols", len(in.Live.Lvols))
			}
		})
	})
	b.Run("live-rpc", func(b *testing.B) {
		measure(b, func() {
			if _, _, err := Live(ctx, c); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("scan", func(b *testing.B) {
		measure(b, func() {
			if _, err := scanner.ScanPath(ctx, image, scanner.Options{Mode: scanner.ModeRecovery}, ""); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("compare-only", func(b *testing.B) {
		in := gather()
		measure(b, func() { _ = reconcile.Check(in) })
	})
}

// BenchmarkLoadHistoryFindings10k: LoadHistory over a journal holding
// 10,000 finding records of a code it reads as history (a not-opened-at-load
// storm past SPDK's ~512 opens) or of one it skips undecoded (no-evidence).
// The timeline's 10,000 finding-first-seen events are read in both.
func BenchmarkLoadHistoryFindings10k(b *testing.B) {
	for _, code := range []finding.Code{reconcile.CodeNotOpenedAtLoad, reconcile.CodeNoEvidence} {
		b.Run(string(code), func(b *testing.B) {
			j, err := journal.Open(b.TempDir(), journal.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			fs := make([]finding.Finding, benchLvols)
			for i := range fs {
				fs[i] = finding.Finding{Code: code, Severity: finding.Warning, LvstoreUUID: "lvs-big",
					LvolUUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), LvolName: fmt.Sprintf("r%05d", i),
					Message:  "persisted and loadable but the target never gave it a bdev in this run",
					Evidence: map[string]string{reconcile.EvNotify: "no bdev_register for its uuid since the target started", reconcile.EvDisk: "blob"}}
			}
			if _, err := j.UpsertFindingsOf("inc-a", time.Now(), []string{"lvs-big"}, fs); err != nil {
				b.Fatal(err)
			}
			want := 0
			if code == reconcile.CodeNotOpenedAtLoad {
				want = 1
			}
			start := time.Now()
			for b.Loop() {
				h, err := LoadHistory(j, HistoryOptions{Incarnation: "inc-b"})
				if err != nil {
					b.Fatal(err)
				}
				if len(h.RecordedFindings(fs[0].LvolUUID)) != want {
					b.Fatal("records read: not as expected")
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/load")
		})
	}
}

// emptyHistory is a journal that remembers nothing yet (a first run): the
// checks still ask it, as they would a real journal.
type emptyHistory struct{}

func (emptyHistory) SeenInIncarnation(string, string) bool     { return false }
func (emptyHistory) DeletesOf(string) []reconcile.DeleteRecord { return nil }
func (emptyHistory) SeenEarlierAndGone(string) (reconcile.Disappearance, bool) {
	return reconcile.Disappearance{}, false
}
func (emptyHistory) LogEvidence(string, string) []reconcile.Evidence     { return nil }
func (emptyHistory) OpenIntents() []reconcile.Intent                     { return nil }
func (emptyHistory) TargetSemantics() string                             { return "" }
func (emptyHistory) RecordedFindings(string) []reconcile.RecordedFinding { return nil }
