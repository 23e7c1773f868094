// Package sim is a stand-in spdk_tgt: a JSON-RPC 2.0 server on a unix socket
// that answers the lvol, bdev and notify methods with the JSON shapes of a real
// SPDK v24.09 target (Longhorn's fork), over a blobstore image it persists as
// SPDK does: md pages at each md sync, masks and clean=1 only at a clean unload.
//
// It exists to reproduce, on machines without SPDK, the forced removal of an
// lvol whose blob is held open by a checksum or a shallow copy, and the
// resurrection of that lvol when the target restarts on the same image.
//
// Use: New(Config{Image: path, Size: n}) opens the image as AIO bdev "aio0"
// and loads any lvstore on it (through the scanner, in recovery mode when
// the image is dirty); Serve(ctx, socket) answers until ctx ends (then a
// clean Shutdown) or spdk_kill_instance; Crash stops as a SIGKILL does.
// From the command line: lvfsck sim serve --socket S --image FILE.
//
// Persistence goes through the Backend interface (default: the project's
// blobstore codec, MDWriter per lvstore); the model (lvstores, blobs,
// allocation as SPDK: lowest free md page, cluster and id; busy operations;
// notify ring) is otherwise pure.
//
// One sim-only method exists: sim_lvol_write {name, offset, length} allocates
// the clusters of a thin lvol that a write of that byte range would allocate
// (real lvols get data from I/O, which no RPC does), and persists them. It
// is not listed by rpc_get_methods, since real targets lack it.
//
// Known divergences from the real target: no data is stored (checksums are
// a CRC-64 of the cluster map); an lvol bdev is never claimed, so the
// "bdev claimed" refusal cannot occur; the upstream flavour still reports
// Longhorn's creation_time; masks are rebuilt from the chains at every load
// (SPDK reads them on a clean load); a wedged unload (bdev_aio_delete while a
// blob is held) makes Shutdown log and exit without writing, where the real
// target hangs until killed; bdev_lvol_stop_snapshot_checksum with nothing
// to stop answers -19 (no capture of a newer Longhorn target exists).
package sim
