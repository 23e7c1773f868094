#!/usr/bin/env bash
# lvfsck guard by hand in front of the REAL spdk_tgt (../shared/spdk-tgt),
# as an operator would see it: a busy delete through the guard is refused
# and the snapshot stays listed; after the checksum the same delete works;
# a client that bypasses the guard still causes a forced removal, which a
# check through the guard reports, and after a restart of the target
# behind the still-running guard, names resurrected.
#   scripts/real-guard.sh path/to/lvfsck [path/to/spdk-sim]
# SEMANTICS=fixed for Longhorn's fixed target. Root; run
# `go run ./internal/realtgt/version` once first (it installs the target).
set -uo pipefail
BIN=${1:?usage: real-guard.sh path/to/lvfsck}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SIM=${2:-$(dirname "$BIN")/spdk-sim}
DEST=${TMPDIR:-/tmp}/lvfsck-spdk-tgt EXTRA=$DEST-extra
[ -x "$DEST/bin/spdk_tgt" ] || { echo "no spdk_tgt in $DEST (run: go run ./internal/realtgt/version)" >&2; exit 8; }
LIBS=$DEST/lib:$EXTRA; [ "${SEMANTICS:-forced}" = fixed ] && LIBS=$DEST/lib-fixed:$LIBS
WORK=$(mktemp -d /tmp/lvfsck-guard.XXXXXX); REAL=$WORK/real.sock SOCK=$WORK/spdk.sock IMG=$WORK/disk.img
export LVFSCK_STATE_DIR=$WORK/state
exec 8>"${TMPDIR:-/tmp}/lvfsck-realtgt.lock"; flock 8
truncate -s 80G $IMG
LD_LIBRARY_PATH=$LIBS $DEST/bin/spdk_tgt --no-huge -s 1024 -r $REAL -m 0x1 --disable-cpumask-locks -L lvol > $WORK/tgt.log 2>&1 & TGT=$!
trap 'kill -9 $TGT $G 2>/dev/null; rm -rf $WORK' EXIT
until $SIM rpc --socket $REAL framework_wait_init >/dev/null 2>&1; do sleep 0.1; done
$BIN guard --listen $SOCK --target $REAL --log-level info > $WORK/guard.log 2>&1 & G=$!
until [ -S $SOCK ]; do sleep 0.05; done
rpc() { $SIM rpc --socket $SOCK "$@"; }
rpc bdev_aio_create "{\"name\":\"aio0\",\"filename\":\"$IMG\",\"block_size\":4096}" >/dev/null
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
$SIM rpc --socket $REAL spdk_kill_instance '{"sig_name":"SIGINT"}' >/dev/null
for _ in $(seq 100); do kill -0 $TGT 2>/dev/null || break; sleep 0.1; done
kill -0 $TGT 2>/dev/null && { echo "spdk_tgt still running 10 s after SIGINT (a hidden zombie): killed"; kill -9 $TGT; }
wait $TGT 2>/dev/null
LD_LIBRARY_PATH=$LIBS $DEST/bin/spdk_tgt --no-huge -s 1024 -r $REAL -m 0x1 --disable-cpumask-locks -L lvol >> $WORK/tgt.log 2>&1 & TGT=$!
until $SIM rpc --socket $REAL framework_wait_init >/dev/null 2>&1; do sleep 0.1; done
rpc bdev_aio_create "{\"name\":\"aio0\",\"filename\":\"$IMG\",\"block_size\":4096}" >/dev/null; rpc bdev_wait_for_examine >/dev/null
echo "### check through the guard after the restart"; $BIN --log-level error check --socket $SOCK | head -14
echo "### clean shutdown through the guard"; rpc spdk_kill_instance '{"sig_name":"SIGINT"}'
for _ in $(seq 50); do kill -0 $TGT 2>/dev/null || break; sleep 0.1; done; kill -0 $TGT 2>/dev/null && echo "TARGET HUNG" || echo "target exited"
kill -TERM $G; wait $G; echo "guard exit $?"; tail -5 $WORK/guard.log
