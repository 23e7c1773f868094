package scanner

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on x86-64 and arm64
// (4 KiB base pages).
const hugePage = 2 << 20

// batchPool holds the md read's batch buffers in one anonymous mapping
// advised for transparent huge pages. An O_DIRECT read into a 1 MiB
// buffer of 4 KiB pages pins 256 pages and hands the device 256 segments;
// into a huge page it is one of each. On the virtio disk of the 10k
// benchmark that made the read of a 256 MiB md region three times faster,
// at half the CPU, and the buffers' page faults (a thousand) go away.
//
// The mapping is unmapped once the read is done and no read into it is
// still running: a read abandoned on cancellation (a hung device) keeps
// it until that read returns, as it keeps its goroutine.
type batchPool struct {
	bufs [][]byte

	mu       sync.Mutex
	mem      []byte
	inflight int
	released bool
}

// newBatchPool maps n buffers of size bytes (a multiple of 4 KiB), or
// returns nil when the mapping fails (the caller uses the Go heap).
func newBatchPool(n, size int) *batchPool {
	total := n * size
	slack := 0
	if total >= hugePage {
		slack = hugePage // room to start the buffers on a huge page boundary
	}
	mem, err := unix.Mmap(-1, 0, total+slack, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil
	}
	off := 0
	if slack > 0 {
		if mis := addrOf(mem) & (hugePage - 1); mis != 0 {
			off = int(hugePage - mis)
		}
		// Advice only: where the kernel has no huge page, 4 KiB pages do.
		_ = unix.Madvise(mem[off:off+total], unix.MADV_HUGEPAGE)
	}
	p := &batchPool{mem: mem}
	for i := range n {
		lo := off + i*size
		p.bufs = append(p.bufs, mem[lo:lo+size:lo+size])
	}
	return p
}

// startRead and endRead bracket a read into one of the buffers.
func (p *batchPool) startRead() {
	p.mu.Lock()
	p.inflight++
	p.mu.Unlock()
}

func (p *batchPool) endRead() {
	p.mu.Lock()
	p.inflight--
	unmap := p.released && p.inflight == 0
	p.mu.Unlock()
	if unmap {
		p.unmap()
	}
}

// release says nothing but running reads uses the buffers any more: the
// mapping goes when the last of them returns.
func (p *batchPool) release() {
	p.mu.Lock()
	p.released = true
	unmap := p.inflight == 0
	p.mu.Unlock()
	if unmap {
		p.unmap()
	}
}

func (p *batchPool) unmap() {
	p.mu.Lock()
	mem := p.mem
	p.mem, p.bufs = nil, nil
	p.mu.Unlock()
	if mem != nil {
		_ = unix.Munmap(mem)
	}
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
