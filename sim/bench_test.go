package sim

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/lvfsck/lvfsck/spdk"
)

// BenchmarkLoadRealImage: examine + load of a real image (recovery mode,
// the live copy taken beside a running target).
func BenchmarkLoadRealImage(b *testing.B) {
	img := filepath.Join(b.TempDir(), "disk.img")
	testfix.InflateSparse(b, fixtures+"resurrection-pending-live.img.gz", img)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tgt, err := New(Config{Image: img})
		if err != nil {
			b.Fatal(err)
		}
		tgt.Crash() // nothing written: every iteration loads the same image
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/load")
}

// BenchmarkCreateLvol: bdev_lvol_create with its md sync to the image.
func BenchmarkCreateLvol(b *testing.B) {
	dir := b.TempDir()
	var tgt *Target
	call := func(m, p string) {
		if _, e := tgt.call(&request{Method: m, ID: []byte("1"), Params: []byte(p)}); e != nil {
			b.Fatal(m, e)
		}
	}
	fresh := func(i int) {
		if tgt != nil {
			tgt.Crash()
		}
		var err error
		tgt, err = New(Config{Image: filepath.Join(dir, fmt.Sprintf("d%d.img", i)), Size: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		call("bdev_lvol_create_lvstore", `{"bdev_name":"aio0","lvs_name":"lvs","cluster_sz":1048576}`)
	}
	const perStore = 1000 // the md region holds 1024 pages
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%perStore == 0 {
			b.StopTimer()
			fresh(i)
			b.StartTimer()
		}
		call("bdev_lvol_create", fmt.Sprintf(`{"lvol_name":"v%d","size_in_mib":4,"thin_provision":true,"lvs_name":"lvs"}`, i))
	}
	b.StopTimer()
	tgt.Crash()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// benchTarget starts a target on a fresh 1 GiB image with lvstore "lvs"
// and returns a call that fails the benchmark on an error answer.
func benchTarget(b *testing.B, cfg Config) (must func(m, p string) any) {
	b.Helper()
	cfg.Image, cfg.Size = filepath.Join(b.TempDir(), "disk.img"), 1<<30
	tgt, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tgt.Crash)
	must = func(m, p string) any {
		req := &request{Method: m, ID: []byte("1")}
		if p != "" {
			req.Params = []byte(p)
		}
		res, e := tgt.call(req)
		if e != nil {
			b.Fatal(m, e)
		}
		return res
	}
	must("bdev_lvol_create_lvstore", `{"bdev_name":"aio0","lvs_name":"lvs","cluster_sz":1048576}`)
	return must
}

// BenchmarkGetLvols: bdev_lvol_get_lvols and bdev_get_bdevs over 500 lvols.
func BenchmarkGetLvols(b *testing.B) {
	must := benchTarget(b, Config{})
	const n = 500
	for i := 0; i < n; i++ {
		must("bdev_lvol_create", fmt.Sprintf(`{"lvol_name":"v%d","size_in_mib":4,"thin_provision":true,"lvs_name":"lvs"}`, i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := must("bdev_lvol_get_lvols", "").([]lvolJSON); len(got) != n {
			b.Fatal(len(got))
		}
		must("bdev_get_bdevs", "")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/lvol")
}

// BenchmarkGetIostat: bdev_get_iostat over 500 lvol bdevs with a checksum
// running (what repair --reload samples before an unload), and
// nvmf_get_subsystems with every lvol exported.
func BenchmarkGetIostat(b *testing.B) {
	must := benchTarget(b, Config{OpDuration: time.Hour})
	must("nvmf_create_subsystem", `{"nqn":"nqn.2016-06.io.spdk:bench","max_namespaces":1024}`)
	const n = 500
	for i := 0; i < n; i++ {
		must("bdev_lvol_create", fmt.Sprintf(`{"lvol_name":"v%d","size_in_mib":4,"thin_provision":true,"lvs_name":"lvs"}`, i))
		must("nvmf_subsystem_add_ns", fmt.Sprintf(`{"nqn":"nqn.2016-06.io.spdk:bench","namespace":{"bdev_name":"lvs/v%d"}}`, i))
	}
	must("bdev_lvol_snapshot", `{"lvol_name":"lvs/v0","snapshot_name":"s"}`)
	if _, ok := must("bdev_lvol_register_snapshot_checksum", `{"name":"lvs/s"}`).(deferred); !ok {
		b.Fatal("checksum answered at once")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := must("bdev_get_iostat", "").(spdk.Iostat); len(got.Bdevs) != n+2 {
			b.Fatal(len(got.Bdevs))
		}
		must("nvmf_get_subsystems", "")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/bdev")
}
