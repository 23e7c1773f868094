package sim

import (
	"hash/crc64"
	"sync"
	"time"
)

// Operation kinds that hold a blob open.
const (
	opChecksum = "checksum"
	opCopy     = "shallow copy"
)

// operation is a checksum or a shallow copy: it holds its blob open (so a
// delete meanwhile is refused by the blob layer) for the op duration.
type operation struct {
	kind  string
	id    uint32
	store *lvstore
	blob  *blob
	lvol  *lvol
	total uint64
	start time.Time
	dur   time.Duration

	// For iostat: the base bdev it reads, a copy's destination, the
	// cluster size, whether it stalls (StallCopy) and when it let go.
	base        *bdev
	dst         *bdev
	clusterSize uint64
	stall       bool
	completed   bool // ran to its end (not stopped, not cancelled)
	endAt       time.Time

	result   int  // errno, 0 when ok
	finished bool // blob released
	stopped  bool // cancelled by bdev_lvol_stop_snapshot_checksum

	cancelCh   chan struct{}
	cancelOnce sync.Once
	timer      *time.Timer
}

func (op *operation) cancel() { op.cancelOnce.Do(func() { close(op.cancelCh) }) }

// copied is how many clusters a copy has copied by now.
func (op *operation) copied(now time.Time) uint64 {
	if op.result != 0 {
		return 0
	}
	if op.finished {
		return op.total
	}
	el := now.Sub(op.start)
	if el >= op.dur {
		return op.total
	}
	if op.stall {
		return min(op.total, 1)
	}
	c := uint64(float64(op.total) * float64(el) / float64(op.dur))
	if c >= op.total && op.total > 0 {
		c = op.total - 1
	}
	return c
}

// release lets go of the blob; completed says the operation ran to its
// end. Caller holds t.mu.
func (t *Target) release(op *operation, completed bool) {
	if op.finished {
		return
	}
	op.finished = true
	op.completed = completed
	op.endAt = time.Now()
	t.settleIO(op)
	op.blob.openRef--
	if op.lvol != nil && op.lvol.op == op {
		op.lvol.op = nil
	}
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// checksumOf stands in for the data checksum: a CRC-64 over the blob's
// cluster map (the sim holds no data), stable across restarts.
func checksumOf(b *blob) uint64 {
	h := crc64.New(crcTable)
	for i, c := range b.Clusters {
		if c != 0 {
			_, _ = h.Write(u64le(uint64(i)))
			_, _ = h.Write(u64le(c))
		}
	}
	return h.Sum64()
}
