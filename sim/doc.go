// Package sim is a stand-in spdk_tgt: a JSON-RPC 2.0 server on a unix socket
// that answers the lvol, bdev, NVMe-oF and notify methods with the JSON
// shapes of a real SPDK v24.09 target (Longhorn's fork), over a blobstore
// image it persists as SPDK does: md pages at each md sync, masks and
// clean=1 only at a clean unload.
//
// It exists to reproduce, on machines without SPDK, the forced removal of an
// lvol whose blob is held open by a checksum or a shallow copy, the
// resurrection of that lvol when the target restarts on the same image or
// reloads the lvstore, and the hazards of that reload.
//
// Use: New(Config{Image: path, Size: n}) opens the image as AIO bdev "aio0"
// and loads any lvstore on it (through the scanner, in recovery mode when
// the image is dirty); Serve(ctx, socket) answers until ctx ends (then a
// clean Shutdown) or spdk_kill_instance; Crash stops as a SIGKILL does.
// From the command line: lvfsck sim serve --socket S --image FILE
// [--delete-semantics forced|fixed|keep-listed] [--flavor ...] [--op-duration D]
// [--stall-copy] [--fail-open UUID].
//
// Methods, all listed by rpc_get_methods in the real target's order (the
// Longhorn checksum and xattr methods not for flavor upstream;
// bdev_lvol_stop_snapshot_checksum only for flavor longhorn):
//   - lvol: bdev_lvol_create_lvstore, _create, _snapshot, _clone, _rename,
//     _resize, _set_read_only, _set_xattr, _get_xattr, _delete,
//     _get_lvstores, _get_lvols, _register/_get/_stop_snapshot_checksum,
//     _start/_check_shallow_copy;
//   - bdev: bdev_aio_create, bdev_aio_delete (an lvstore reload), bdev_get_bdevs
//     (claimed and claim_type), bdev_get_iostat, bdev_wait_for_examine;
//   - NVMe-oF: nvmf_create_transport, nvmf_create_subsystem,
//     nvmf_delete_subsystem, nvmf_subsystem_add_listener (recorded, nothing
//     listens), nvmf_subsystem_add_ns, nvmf_subsystem_remove_ns,
//     nvmf_get_subsystems (the discovery subsystem first);
//   - notify_get_types, notify_get_notifications, spdk_get_version,
//     rpc_get_methods, framework_wait_init, spdk_kill_instance.
//
// Delete semantics of a busy bdev_lvol_delete (a checksum or copy holds
// the blob), each answering -32603 "Device or resource busy":
//   - forced (SPDK up to v24.09, fixtures/resurrection, notify): the bdev
//     goes, the lvol is dropped from the lvstore's list, the blob stays on
//     disk; retries answer -19; a clean shutdown works; back at the restart.
//   - fixed (Longhorn's fix, fixtures/fixed-busy, fixed-shallow; replayed
//     answer by answer in TestFixedBusyReplay): the bdev goes too (notify
//     bdev_unregister, log "Error -16 deleting lvol NAME"), but the lvol
//     stays in the list, hidden: bdev_lvol_get_lvols skips it, its clone
//     keeps base_snapshot = its name, its name stays taken, retries by alias
//     or uuid answer -32603 "Invalid argument" (also once the holder is
//     done); spdk_kill_instance SIGINT answers true and the shutdown never
//     finishes ("Cannot unload lvol store - operations on lvols pending",
//     the RPC server still answering) until Crash, which leaves clean = 0;
//     bdev_aio_delete never answers and takes the lvstore and its bdevs out
//     of every view; after the restart (dirty recovery) the lvol is back.
//   - keep-listed: busy, and the lvol stays listed and intact. No captured
//     target behaves so (the fix was expected to); it exists only to test
//     lvfsck's retry-with-backoff path for such a target.
//
// Behaviour that guarded deletion and repair --reload depend on, as the
// captured real target showed it (testdata/fixtures/reload*, iostat.*):
//   - A namespace claims its bdev exclusive_write (an lvstore claims its base
//     bdev read_many_write_one). bdev_lvol_delete has no claim check in SPDK
//     (vbdev_lvol_destroy → spdk_bdev_unregister, whose remove event makes
//     the NVMe-oF target drop the namespace), so deleting an exported lvol
//     succeeds and its namespace vanishes without a word; so does every
//     namespace of an lvstore's lvols at bdev_aio_delete, and a reload does
//     not bring them back.
//   - bdev_aio_delete unloads cleanly (masks, clean = 1; notify: the lvol
//     bdevs' then the base bdev's bdev_unregister) and bdev_aio_create with
//     the same file reloads the lvstore: a force-removed lvol is back with
//     its uuid and its clone has its base snapshot again.
//   - While a checksum or copy holds a blob, bdev_aio_delete never answers;
//     the lvstore and the base bdev vanish from every view, the bdev's name
//     stays taken (bdev_aio_create answers -17 "File exists"), the copy runs
//     on, nothing is written, and Shutdown hangs (the RPC server still
//     answering) until Crash, then returns ErrWedged — as the real target
//     could not stop until killed. Do not call Shutdown on a wedged target
//     without a Crash in view.
//   - bdev_get_iostat: the base bdev's counters move with the md I/O the sim
//     really does, with a running checksum or copy (its allocated clusters,
//     read over the op duration in 1 MiB steps of 8 ops; a copy also writes
//     its destination), one 4 KiB read per lvol create, snapshot and
//     delete, and sim_lvol_write (also on the lvol bdev); idle, nothing
//     moves. Config.StallCopy (--stall-copy): a copy reads its first MiB,
//     then holds the snapshot with the base bdev flat until its end.
//
// Persistence goes through the Backend interface (default: the project's
// blobstore codec, MDWriter per lvstore); the model (lvstores, blobs,
// allocation as SPDK: lowest free md page, cluster and id; busy operations;
// notify ring; subsystems) is otherwise pure. NVMe-oF state is in memory
// only, as in spdk_tgt.
//
// One sim-only method exists: sim_lvol_write {name, offset, length} allocates
// the clusters of a thin lvol that a write of that byte range would allocate
// (real lvols get data from I/O, which no RPC does), and persists them. It
// is not listed by rpc_get_methods, since real targets lack it.
//
// Known divergences from the real target: no data is stored (checksums are
// a CRC-64 of the cluster map); no NVMe-oF host ever connects (no
// controllers, qpairs or hosts; nvmf_subsystem_get_controllers and the other
// nvmf methods are absent); bdev open descriptors other than namespaces and
// lvstores are not modelled; iostat latencies are made up, per_channel is
// ignored and lvol bdevs do not get the few reads examine does at
// registration; the upstream flavour still reports Longhorn's creation_time;
// masks are rebuilt from the chains at every load (SPDK reads them on a clean
// load); in a wedged shutdown the other lvstores unload at once (the real
// bdev layer's order was not captured); the views while a fixed target's
// shutdown hangs were not captured (the sim shows the lvstore gone, as
// after the reload wedge); bdev_lvol_stop_snapshot_checksum
// with nothing to stop answers -19 (no capture of a newer Longhorn target
// exists).
package sim
