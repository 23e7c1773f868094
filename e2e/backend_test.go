package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/internal/realtgt"
	"github.com/lvfsck/lvfsck/spdk"
)

// backend is where a story runs: the sim (`spdk-sim serve`) or the real
// spdk_tgt of ../shared/spdk-tgt (internal/realtgt). A story is written once
// and run on both with the same assertions.
type backend struct {
	name string
	real bool
}

var (
	simBackend  = backend{name: "sim"}
	realBackend = backend{name: "real", real: true}
	backends    = []backend{simBackend, realBackend}
)

// onBoth runs story as a subtest on each backend, the sim first.
func onBoth(t *testing.T, story func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { story(t, b) })
	}
}

// hold is what keeps a snapshot open while the story deletes it.
type hold int

const (
	// holdChecksum: bdev_lvol_register_snapshot_checksum (Longhorn's v24.09).
	holdChecksum hold = iota
	// holdCopy: bdev_lvol_start_shallow_copy to a slow destination, the path
	// upstream SPDK has.
	holdCopy
)

func (h hold) String() string { return [...]string{"checksum", "shallow-copy"}[h] }

// onBothHolds runs story on each backend with each hold.
func onBothHolds(t *testing.T, story func(t *testing.T, b backend, h hold)) {
	onBoth(t, func(t *testing.T, b backend) {
		for _, h := range []hold{holdChecksum, holdCopy} {
			t.Run(h.String(), func(t *testing.T) { story(t, b, h) })
		}
	})
}

// opts choose how a story's target runs; a restart keeps them.
type opts struct {
	fixed bool // Longhorn's fix (sim --delete-semantics fixed, real lib-fixed)
	hold  hold
	stall bool // the copy destination never finishes a write (real: 10 min each)
	// simSize overrides the sim's image size (the real image is always
	// realImageSize, sparse).
	simSize  string
	simFlags []string // more `spdk-sim serve` flags
}

const (
	// realImageSize: a sparse file big enough for realBusyMiB; only what the
	// target writes takes space.
	realImageSize = 80 << 30
	// realBusyMiB is the thick size of the snapshot a real checksum reads:
	// the checksum runs ~55 ms per GiB of holes here (measured 2 GiB 0.11 s,
	// 24 GiB 1.3 s), so ~2.6 s, in which an lvfsck child process comes up,
	// reads the disk and sends its delete. Too short a window fails the
	// test's busy assertion: make it bigger, never sleep less.
	realBusyMiB = 48 << 10
	// realMDRatio keeps the md region of realImageSize small (~2,450 pages,
	// room for the 1000-lvol story) so that each lvfsck run reads ~10 MiB.
	realMDRatio = 3
	// copyWriteUS is the real copy destination's write latency: a shallow
	// copy writes one cluster at a time, so 24 clusters take ~2.4 s.
	copyWriteUS = 100_000
	// realLag is how long after a checksum request a real-target story
	// deletes (the fixtures' 10-20 ms); the sim's window is opDuration.
	realLag = 10 * time.Millisecond
)

// start runs a target of backend b on image (created when absent) and
// dials it; it is stopped at test end whatever happens.
func (b backend) start(t *testing.T, image string, o opts) *target {
	t.Helper()
	if !b.real {
		flags := []string{"--delete-semantics", map[bool]string{false: "forced", true: "fixed"}[o.fixed],
			"--flavor", map[hold]string{holdChecksum: "longhorn-v24.09", holdCopy: "upstream"}[o.hold]}
		if o.simSize != "" {
			flags = append(flags, "--size", o.simSize)
		}
		if o.stall {
			flags = append(flags, "--stall-copy", "--op-duration", "30s")
		}
		flags = append(flags, o.simFlags...)
		tg := startSim(t, image, flags...)
		tg.o = o
		return tg
	}
	if _, err := os.Stat(image); errors.Is(err, os.ErrNotExist) {
		realtgt.Sparse(t, image, realImageSize)
	}
	// -L lvol, as the fixtures' captures ran: without it the log's
	// forced-removal line names no lvol ("Lvol UUID closed" is an INFO line
	// of that flag), and `lvfsck log import` finds no evidence in it.
	rt := realtgt.Start(t, realtgt.Options{Fixed: o.fixed, LogFlags: []string{"lvol"}})
	tg := &target{t: t, b: b, o: o, image: image, rt: rt, c: rt.Client, sock: rt.Sock, logf: rt.Log}
	ctx := ctxT(t)
	require.NoError(t, rt.AIO(ctx, "aio0", image))
	require.NoError(t, tg.c.WaitForExamine(ctx), "examine loads any lvstore on the image")
	return tg
}

// restart stops the target with sig and starts it again on the same image
// with the same options (SIGKILL: the next load runs recovery).
func (tg *target) restart(sig string) *target {
	tg.t.Helper()
	tg.stop(sig)
	return tg.again()
}

// again starts a stopped target's successor on its image.
func (tg *target) again() *target {
	tg.t.Helper()
	tg2 := tg.b.start(tg.t, tg.image, tg.o)
	tg2.dataClusters = tg.dataClusters
	return tg2
}

// stopHangs asks for a clean shutdown and reports whether the target
// exited within wait (a fixed-semantics zombie holds it); one that did not
// is killed.
func (tg *target) stopHangs(wait time.Duration) (exited bool) {
	tg.t.Helper()
	if tg.rt != nil {
		exited = tg.rt.Stop(wait)
		tg.rt.Kill()
		tg.c = nil
		return exited
	}
	require.NoError(tg.t, tg.c.KillInstance(ctxT(tg.t), "SIGINT"))
	select {
	case <-tg.exited:
		exited = true
	case <-time.After(wait):
		_ = tg.cmd.Process.Kill()
		<-tg.exited
	}
	tg.c.Close()
	tg.c = nil
	return exited
}

// lag is how long a story waits after starting a checksum before it
// deletes, so that the checksum's request reaches the target first.
func (tg *target) lag() time.Duration {
	if tg.rt != nil {
		return realLag
	}
	return startLag
}

// createLvstore makes lvstore name on aio0 with 1 MiB clusters (Longhorn's).
func (tg *target) createLvstore(name string) {
	tg.t.Helper()
	params := map[string]any{"bdev_name": "aio0", "lvs_name": name, "cluster_sz": 1 << 20}
	if tg.rt != nil {
		params["num_md_pages_per_cluster_ratio"] = realMDRatio
	}
	var uuid string
	require.NoError(tg.t, tg.c.Call(ctxT(tg.t), "bdev_lvol_create_lvstore", params, &uuid))
}

// copyDest is a destination for a shallow copy of a setup snapshot that
// keeps the copy running a while: on the sim an lvol (the sim's copy takes
// opDuration), on the real target a bdev_delay over malloc.
func (tg *target) copyDest() string {
	tg.t.Helper()
	ctx := ctxT(tg.t)
	if tg.rt == nil {
		_, err := tg.c.CreateLvol(ctx, "lvs-r", "dst", 32, true)
		require.NoError(tg.t, err)
		return "lvs-r/dst"
	}
	us := uint64(copyWriteUS)
	if tg.o.stall {
		us = 600_000_000
	}
	require.NoError(tg.t, tg.rt.SlowDisk(ctx, "slow0", tg.dataClusters+8, us))
	return "slow0"
}

// copyDone lets a copy to copyDest finish soon and waits until it has.
func (tg *target) copyDone(c *spdk.Client, op uint32) {
	tg.t.Helper()
	ctx := ctxT(tg.t)
	if tg.rt != nil {
		require.NoError(tg.t, tg.rt.SetWriteLatency(ctx, "slow0", 0))
	}
	require.Eventually(tg.t, func() bool {
		st, err := c.CheckShallowCopy(ctx, op)
		require.NoError(tg.t, err)
		require.NotEqual(tg.t, "error", st.State, "%+v", st)
		return st.State == "complete"
	}, 15*time.Second, 20*time.Millisecond)
}

// export makes bdev namespace 1 of a new NVMe-oF subsystem nqn, over TCP.
func (tg *target) export(nqn, bdev string) {
	tg.t.Helper()
	ctx := ctxT(tg.t)
	if !tg.nvmfTCP {
		require.NoError(tg.t, tg.c.Call(ctx, "nvmf_create_transport", map[string]any{"trtype": "TCP"}, nil))
		tg.nvmfTCP = true
	}
	require.NoError(tg.t, tg.c.NvmfCreateSubsystem(ctx, nqn, true))
	nsid, err := tg.c.NvmfSubsystemAddNs(ctx, nqn, bdev)
	require.NoError(tg.t, err)
	require.Equal(tg.t, uint32(1), nsid)
}

// dial opens a second connection, as the fixtures' captures used one
// connection for the long call and another for the delete.
func (tg *target) dial() *spdk.Client {
	tg.t.Helper()
	c, err := spdk.Dial(ctxT(tg.t), tg.sock)
	require.NoError(tg.t, err)
	tg.t.Cleanup(func() { c.Close() })
	return c
}

// sum hashes a (sparse) image's data extents with their offsets: real
// images are 80 GiB of mostly holes, and a write of zeros still shows as a
// new extent.
func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	const seekData, seekHole = 3, 4 // lseek whence values (Linux)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	h := sha256.New()
	for off := int64(0); off < st.Size(); {
		data, err := f.Seek(off, seekData)
		if err != nil { // ENXIO: no data after off
			break
		}
		hole, err := f.Seek(data, seekHole)
		require.NoError(t, err)
		fmt.Fprintf(h, "%d-%d:", data, hole)
		_, err = io.Copy(h, io.NewSectionReader(f, data, hole-data))
		require.NoError(t, err)
		off = hole
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// tempImage names a fresh image in the test's temp dir.
func tempImage(t *testing.T) string { return filepath.Join(t.TempDir(), "disk.img") }

// ctxFor is ctxT with a longer deadline for a story's slow calls.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
