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
// and loads any lvstore on it with its own load (load.go, written from
// SPDK's spdk_bs_load, bs_load_iter and lvs_load: clean masks or the
// recovery replay, blobs opened with their parents, lvols by blob id; it
// never asks lvfsck's scanner, so the two predict what comes back at a
// restart independently); Serve(ctx, socket) answers until ctx ends (then a
// clean Shutdown) or spdk_kill_instance; Crash stops as a SIGKILL does.
// From the command line: spdk-sim serve --socket S --image FILE
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
// rpc_get_methods lists exactly these (realdiff_test checks the list is
// the real target's restricted to them, in its order). Of the real v24.09
// build's 240 methods the sim lacks: the lvol ones bdev_lvol_get_fragmap,
// _set_parent_bdev, _set_parent, _grow_lvstore, _detach_parent,
// _decouple_parent, _inflate, _clone_bdev, _delete_lvstore,
// _rename_lvstore; bdev_aio_rescan; of the bdev layer bdev_examine,
// bdev_get_histogram, bdev_enable_histogram, bdev_set_options,
// bdev_set_qos_limit, bdev_set_qd_sampling_period, bdev_reset_iostat; the
// NVMe-oF ones other than those above (hosts, listeners' removal and ANA,
// targets, transports' and subsystems' listings, qpairs, controllers,
// referrals, mDNS, stats); framework_* other than framework_wait_init; and
// every other module's methods (malloc, null, nvme, opal, passthru, raid,
// error, split, delay, zone_block, ftl, blobfs, iscsi, scsi, nbd, accel,
// ioat, keyring, fsdev, vmd, sock, iobuf, thread, scheduler, log, trace,
// env_dpdk).
//
// Answers checked against the real target (realdiff_test runs one script
// of RPCs on both and compares them field by field): the error answers
// of the refusals (missing lvol or lvstore, duplicate name, snapshot of a
// read-only blob -32602 "Invalid argument", rename to the current name
// -32602 "File exists", checksum of a non-snapshot -32603 "Operation not
// permitted", an lvstore on a claimed bdev -1 "Operation not permitted",
// delete of a snapshot with two clones), the notify events, a forced
// removal, a name collision at load (the loser's bdev_register then
// bdev_unregister), and what comes back after a reload and a clean or
// dirty restart. A checksum or copy holds its blob for OpDuration plus its
// allocated clusters read at OpBytesPerSec. A rename of a read-only blob (a
// snapshot, or an lvol set read-only) is in memory until a clean unload,
// as on the real target: after a SIGKILL the old name loads again.
// crossover_test loads images the sim wrote in the real target and the
// real target's in the sim, clean and after a SIGKILL.
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
// an lvol with a missing or invalid uuid xattr shows its unique id
// (lvstore uuid and blob id) where SPDK shows a null uuid and names only
// its bdev so; a load SPDK would crash on (an assertion) leaves the device
// a plain bdev; a blob that does not open at a load is not logged (SPDK
// logs e.g. "Metadata page N crc mismatch", "Snapshot fail"); in a wedged shutdown the other lvstores unload at once (the real
// bdev layer's order was not captured); the views while a fixed target's
// shutdown hangs were not captured (the sim shows the lvstore gone, as
// after the reload wedge); bdev_lvol_stop_snapshot_checksum
// with nothing to stop answers -19 (no capture of a newer Longhorn target
// exists).
package sim
