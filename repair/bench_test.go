package repair

import (
	"fmt"
	"testing"

	"github.com/lvfsck/lvfsck/finding"
)

// BenchmarkResolve resolves an lvol among the 1000 of the many-lvols
// capture: the lookup every delete starts with.
func BenchmarkResolve(b *testing.B) {
	var fl []fixLvol
	readJSON(b, "many-lvols.bdev_lvol_get_lvols.json", &fl)
	ft := &fakeTarget{}
	for _, l := range fl {
		ft.lvols = append(ft.lvols, Lvol{UUID: l.UUID, Name: l.Name, Alias: l.Alias, LvstoreUUID: l.Lvs.UUID, LvstoreName: l.Lvs.Name})
	}
	d := &Deleter{Target: ft}
	ref := Ref{Alias: fl[len(fl)-1].Alias}
	b.ResetTimer()
	for b.Loop() {
		lv, err := d.resolve(ctx, ref)
		if err != nil || lv == nil {
			b.Fatal(lv, err)
		}
		ft.calls = ft.calls[:0]
	}
	b.ReportMetric(float64(len(fl)), "lvols")
}

// BenchmarkPlan plans over 10k findings (a large, badly damaged host).
func BenchmarkPlan(b *testing.B) {
	codes := []finding.Code{CodeResurrected, CodePendingResurrection, CodeOpenIntent, "md-crc-mismatch", "phantom"}
	fs := make([]finding.Finding, 10_000)
	for i := range fs {
		fs[i] = finding.Finding{Code: codes[i%len(codes)], Severity: finding.Error, Lvstore: "lvs-r", LvstoreUUID: uuidLvs,
			LvolName: fmt.Sprintf("r%04d", i), LvolUUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i)}
	}
	b.ResetTimer()
	for b.Loop() {
		if p := NewPlan(fs, PlanOptions{Reload: true}); len(p.Steps) != len(fs) {
			b.Fatal(len(p.Steps))
		}
	}
	b.ReportMetric(float64(len(fs))*float64(b.N)/b.Elapsed().Seconds(), "findings/s")
}
