package tgtlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLog is every fixture log repeated to about 4 MiB.
func benchLog(b *testing.B) []byte {
	var one []byte
	for _, name := range fixtureLogs {
		d, err := os.ReadFile(filepath.Join(fixtures, name+".spdk_tgt.log"))
		if err != nil {
			b.Fatal(err)
		}
		one = append(one, d...)
	}
	return bytes.Repeat(one, (4<<20)/len(one)+1)
}

func BenchmarkParse(b *testing.B) {
	data := benchLog(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var recs, lines int
	cpu0 := cpuTime()
	for b.Loop() {
		p := NewParser(bytes.NewReader(data), Options{})
		for {
			_, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		recs, lines = p.Stats().Records, p.Stats().Lines
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	cpu := (cpuTime() - cpu0).Seconds() / float64(b.N)
	b.ReportMetric(float64(len(data))/sec/1e6, "MB/s")
	// The machine is shared: CPU time says what the parser costs even when
	// the wall clock says how busy the neighbours were.
	b.ReportMetric(float64(len(data))/cpu/1e6, "MB/cpu-s")
	b.ReportMetric(float64(lines)/sec, "lines/s")
	b.ReportMetric(float64(recs), "records/op")
}

// BenchmarkParseNoise: a log of debug chatter with one forced removal per
// thousand lines, closer to a busy target with -L blob than the fixtures.
func BenchmarkParseNoise(b *testing.B) {
	var buf bytes.Buffer
	for buf.Len() < 4<<20 {
		for i := 0; i < 996; i++ {
			buf.WriteString("[2026-11-26 08:57:50.106160] blobstore.c:2408:bs_claim_md_page: *DEBUG*: Claiming page 1234 for blob 0x100000004\n")
		}
		buf.WriteString(closedLine("50.100100", u1) + failLines("50.100200"))
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	var recs int
	for b.Loop() {
		p := NewParser(bytes.NewReader(data), Options{})
		for {
			if _, err := p.Next(); err != nil {
				break
			}
		}
		recs = p.Stats().Records
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	cpu := (cpuTime() - cpu0).Seconds() / float64(b.N)
	b.ReportMetric(float64(len(data))/sec/1e6, "MB/s")
	b.ReportMetric(float64(len(data))/cpu/1e6, "MB/cpu-s")
	b.ReportMetric(float64(recs), "records/op")
}
