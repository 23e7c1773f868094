#!/usr/bin/env bash
# lvfsck guard by hand in front of the REAL spdk_tgt (../shared/spdk-tgt),
# as an operator would see it: a busy delete through the guard is refused
# and the snapshot stays listed; after the checksum the same delete works;
# a client that bypasses the guard still causes a forced removal, which a
# check through the guard reports, and after a restart of the target
# behind the still-running guard, names resurrected.
#   scripts/real-guard.sh path/to/lvfsck [path/to/spdk-sim]
# SEMANTICS=fixed for Longhorn's fixed target. Root; the target's setup is
# scripts/real-lib.sh.
set -uo pipefail
. "$(dirname "$0")/real-lib.sh"
real_init guard "$@"
REAL=$WORK/real.sock SOCK=$WORK/spdk.sock IMG=$WORK/disk.img
truncate -s 80G $IMG
G=
tgt_start $REAL $WORK/tgt.log
trap 'kill -9 $TGT $G 2>/dev/null; rm -rf $WORK' EXIT
$BIN guard --listen $SOCK --target $REAL --log-level info > $WORK/guard.log 2>&1 & G=$!
until [ -S $SOCK ]; do sleep 0.05; done
rpc() { $SIM rpc --socket $SOCK "$@"; }
tgt_aio $SOCK $IMG
rpc bdev_lvol_create_lvstore '{"bdev_name":"aio0","lvs_name":"lvs-r","cluster_sz":1048576}' >/dev/null
rpc bdev_lvol_create '{"lvs_name":"lvs-r","lvol_name":"replica-a","size_in_mib":49152,"thin_provision":false}' >/dev/null
rpc bdev_lvol_snapshot '{"lvol_name":"lvs-r/replica-a","snapshot_name":"backup-1"}' >/dev/null
echo "### checksum through the guard, delete 10 ms later"
rpc --timeout 60s bdev_lvol_register_snapshot_checksum '{"name":"lvs-r/backup-1"}' >/dev/null & CK=$!
sleep 0.01
rpc bdev_lvol_delete '{"name":"lvs-r/backup-1"}'; echo "delete rc=$?"
echo "### still listed?"; rpc bdev_lvol_get_lvols '{"lvs_name":"lvs-r"}' | grep -o '"name": *"[^"]*"' 
wait $CK; echo "checksum done"
echo "### check while nothing is wrong"; $BIN --log-level error check --socket $SOCK; echo "check exit $?"
sleep 0.5; echo "### same delete now (after the settle time)"; rpc bdev_lvol_delete '{"name":"lvs-r/backup-1"}'; echo "delete rc=$?"
echo "### check"; $BIN --log-level error check --socket $SOCK | head -3; echo "exit ${PIPESTATUS[0]}"
echo "### history"; $BIN history lvs-r/backup-1
echo "### a client that bypasses the guard: checksum + delete on the target's own socket"
$SIM rpc --socket $REAL bdev_lvol_snapshot '{"lvol_name":"lvs-r/replica-a","snapshot_name":"backup-2"}' >/dev/null
$SIM rpc --socket $REAL --timeout 60s bdev_lvol_register_snapshot_checksum '{"name":"lvs-r/backup-2"}' >/dev/null & CK=$!
sleep 0.01; $SIM rpc --socket $REAL bdev_lvol_delete '{"name":"lvs-r/backup-2"}'; wait $CK
echo "### check through the guard"; $BIN --log-level error check --wait-lock 5s --socket $SOCK | head -12
echo "### restart the target behind the running guard"
tgt_stop $REAL
tgt_start $REAL $WORK/tgt.log
tgt_aio $SOCK $IMG
echo "### check through the guard after the restart"; $BIN --log-level error check --socket $SOCK | head -14
echo "### clean shutdown through the guard"; rpc spdk_kill_instance '{"sig_name":"SIGINT"}'
for _ in $(seq 50); do kill -0 $TGT 2>/dev/null || break; sleep 0.1; done; kill -0 $TGT 2>/dev/null && echo "TARGET HUNG" || echo "target exited"
kill -TERM $G; wait $G; echo "guard exit $?"; tail -5 $WORK/guard.log
