// Package sim is a stand-in spdk_tgt: a JSON-RPC 2.0 server on a unix socket
// that answers the lvol, bdev and notify methods with the JSON shapes of a real
// SPDK v24.09 target (Longhorn's fork), over a blobstore image it persists as
// SPDK does: md pages at each md sync, masks and clean=1 only at a clean unload.
//
// It exists to reproduce, on machines without SPDK, the forced removal of an
// lvol whose blob is held open by a checksum or a shallow copy, and the
// resurrection of that lvol when the target restarts on the same image.
//
// The model (stores, lvols, blobs, allocation, busy operations, notify ring)
// is pure and takes a Device interface for I/O; Target wires it to a socket.
//
// One sim-only method exists: sim_lvol_write {name, offset, length} allocates
// the clusters of a thin lvol that a write of that range would allocate (real
// lvols get data from I/O, which no RPC does). It is not listed by
// rpc_get_methods, since real targets lack it.
package sim
