package sim

import (
	"sync/atomic"
	"time"

	"github.com/lvfsck/lvfsck/spdk"
)

// bdev_get_iostat: per-bdev I/O counters as the real target reports them
// (fixtures/iostat.bdev_get_iostat.json; movement as the fixtures README
// measured it). What moves the base bdev's counters:
//   - md reads and writes the sim really does on the image (load, md syncs,
//     unload), counted as they happen;
//   - a checksum or shallow copy reads its blob's allocated clusters from
//     the base bdev, spread over the op's duration, in 1 MiB steps of 8 ops
//     (the bdev layer splits 1 MiB); a stalled copy (Config.StallCopy)
//     reads its first MiB, then nothing until it ends;
//   - lvol create, snapshot and delete each read one 4 KiB page;
//   - sim_lvol_write writes its bytes to the lvol bdev and the base bdev.
// With nothing running the counters do not move.

// TickRate is the real target's tick_rate (its TSC, 2.1 GHz).
const TickRate = 2100000000

const (
	ioStep      = 1 << 20   // an op's reads show in 1 MiB steps
	ioSplit     = 128 << 10 // the bdev layer splits 1 MiB into 8 ops
	mdReadBytes = 4096      // one md page read (lvol create, snapshot, delete)
	// Latency per op, in ticks (about 15 µs and 100 µs at 2.1 GHz): only
	// there so the fields move plausibly.
	readLatencyTicks  = 30000
	writeLatencyTicks = 200000
)

// ioStats counts one bdev's I/O; atomics because device I/O happens under
// the target lock but iostat snapshots may race with a closing device.
type ioStats struct {
	bytesRead, readOps, bytesWritten, writeOps atomic.Uint64
}

func (s *ioStats) read(bytes, ops uint64) {
	s.bytesRead.Add(bytes)
	s.readOps.Add(ops)
}

func (s *ioStats) write(bytes, ops uint64) {
	s.bytesWritten.Add(bytes)
	s.writeOps.Add(ops)
}

// splitOps is how many bdev I/Os a transfer of n bytes makes.
func splitOps(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return (n + ioSplit - 1) / ioSplit
}

// countDev counts the I/O of a base bdev's device.
type countDev struct {
	Device
	st *ioStats
}

func (d countDev) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.Device.ReadAt(p, off)
	if n > 0 {
		d.st.read(uint64(n), splitOps(uint64(n)))
	}
	return n, err
}

func (d countDev) WriteAt(p []byte, off int64) (int, error) {
	n, err := d.Device.WriteAt(p, off)
	if n > 0 {
		d.st.write(uint64(n), splitOps(uint64(n)))
	}
	return n, err
}

// readBytes is how many bytes op has read from its base bdev by now.
func (op *operation) readBytes(now time.Time) uint64 {
	total := op.total * op.clusterSize
	if op.result != 0 {
		return 0
	}
	at := now
	if op.finished {
		if op.completed {
			return total
		}
		at = op.endAt
	}
	if op.stall {
		return min(total, ioStep)
	}
	el := at.Sub(op.start)
	if el <= 0 || op.dur <= 0 {
		return 0
	}
	if el >= op.dur {
		return total
	}
	b := uint64(float64(total) * float64(el) / float64(op.dur))
	return b / ioStep * ioStep
}

// settleIO folds a released op's reads (and a copy's writes) into the
// static counters. Caller holds mu.
func (t *Target) settleIO(op *operation) {
	n := op.readBytes(time.Now())
	if op.base != nil {
		op.base.io.read(n, splitOps(n))
	}
	for _, d := range op.dsts() {
		d.io.write(n, splitOps(n))
	}
	delete(t.running, op)
}

// dsts are the bdevs a shallow copy writes to: its destination and, for
// an lvol destination, that lvol's base bdev.
func (op *operation) dsts() []*bdev {
	if op.dst == nil {
		return nil
	}
	out := []*bdev{op.dst}
	if l := op.dst.lvol; l != nil && l.store.base != nil {
		out = append(out, l.store.base)
	}
	return out
}

// noIOErrors is every bdev's io_error: an empty object, never null, as the
// target sends it. Shared, since answers are only encoded, never written.
var noIOErrors = map[string]uint64{}

// iostatOf is b's counters now: what is settled plus what running
// operations have moved so far. Caller holds mu.
func (t *Target) iostatOf(b *bdev, now time.Time) spdk.BdevIostat {
	br, ro := b.io.bytesRead.Load(), b.io.readOps.Load()
	bw, wo := b.io.bytesWritten.Load(), b.io.writeOps.Load()
	for op := range t.running {
		n := op.readBytes(now)
		if op.base == b {
			br += n
			ro += splitOps(n)
		}
		for _, d := range op.dsts() {
			if d == b {
				bw += n
				wo += splitOps(n)
			}
		}
	}
	v := spdk.BdevIostat{Name: b.name, BytesRead: br, NumReadOps: ro, BytesWritten: bw, NumWriteOps: wo,
		IOError: noIOErrors}
	if ro > 0 {
		v.ReadLatencyTicks, v.MaxReadLatencyTicks, v.MinReadLatencyTicks = ro*readLatencyTicks, 2*readLatencyTicks, readLatencyTicks/2
	}
	if wo > 0 {
		v.WriteLatencyTicks, v.MaxWriteLatencyTicks, v.MinWriteLatencyTicks = wo*writeLatencyTicks, 2*writeLatencyTicks, writeLatencyTicks/2
	}
	return v
}

func (t *Target) ticks(now time.Time) uint64 {
	return uint64(now.Sub(t.born).Nanoseconds())/10*21 + t.tickBase
}

// getIostatParams are the params of bdev_get_iostat.
type getIostatParams struct {
	Name    string `json:"name"`
	PerChan bool   `json:"per_channel"`
}

func (t *Target) rpcGetIostat(r *request, p *getIostatParams) (any, *RPCError) {
	if p.PerChan && p.Name == "" {
		return nil, errnoErr(eINVAL)
	}
	now := time.Now()
	out := spdk.Iostat{TickRate: TickRate, Ticks: t.ticks(now), Bdevs: []spdk.BdevIostat{}}
	if p.Name != "" {
		b := t.bdevByName(p.Name)
		if b == nil {
			t.log.logf(srcGetIostat, lvlError, "Failed to open bdev '%s': %d", p.Name, -eNODEV)
			return nil, errNoDev
		}
		out.Bdevs = append(out.Bdevs, t.iostatOf(b, now))
		return out, nil
	}
	for _, b := range t.bdevs {
		if b.wedged {
			continue
		}
		out.Bdevs = append(out.Bdevs, t.iostatOf(b, now))
	}
	return out, nil
}
