#!/usr/bin/env bash
# lvfsck watch by hand beside the REAL spdk_tgt (../shared/spdk-tgt), as an
# operator would meet it: a snapshot is made and deleted while a checksum
# reads it, between two polls; watch names the drop (a pending
# resurrection; on the fixed target a hidden zombie) in its log and
# /metrics; the target restarts (the fixed target's shutdown hangs and is
# killed after 10 s) and watch names the lvol resurrected, and only it.
#   scripts/real-watch.sh path/to/lvfsck [path/to/spdk-sim]
# SEMANTICS=fixed for Longhorn's fixed target; WLOG=debug for watch's
# debug log. Root; the target's setup is scripts/real-lib.sh.
set -uo pipefail
. "$(dirname "$0")/real-lib.sh"
real_init watch "$@"
SOCK=$WORK/spdk.sock IMG=$WORK/disk.img
truncate -s 80G $IMG
start() { tgt_start $SOCK $WORK/tgt.log; tgt_aio $SOCK $IMG; }
rpc() { $SIM rpc --socket $SOCK "$@"; }
W=
trap 'kill -9 $TGT $W 2>/dev/null; rm -rf $WORK' EXIT
start
rpc bdev_lvol_create_lvstore '{"bdev_name":"aio0","lvs_name":"lvs-r","cluster_sz":1048576}' >/dev/null
rpc bdev_lvol_create '{"lvs_name":"lvs-r","lvol_name":"replica-a","size_in_mib":49152,"thin_provision":false}' >/dev/null
$BIN watch --socket $SOCK --listen 127.0.0.1:19643 --log-level ${WLOG:-info} > $WORK/watch.log 2>&1 & W=$!
sleep 2
echo "### a snapshot made and deleted busy between two checks, watch running"
rpc bdev_lvol_snapshot '{"lvol_name":"lvs-r/replica-a","snapshot_name":"backup-1"}' >/dev/null
rpc --timeout 60s bdev_lvol_register_snapshot_checksum '{"name":"lvs-r/backup-1"}' >/dev/null & CK=$!
sleep 0.01; rpc bdev_lvol_delete '{"name":"lvs-r/backup-1"}'; wait $CK
sleep 1.5
echo "### watch log"; cut -c1-300 $WORK/watch.log
echo "### metrics"; curl -s 127.0.0.1:19643/metrics | grep -E "^lvfsck_watch_(findings|events)"; $BIN history --wait-lock 5s | cut -c1-250
echo "### restart the target (kill after 10 s if it hangs)"
tgt_stop $SOCK; start; sleep 4
echo "### watch log after the restart"; tail -6 $WORK/watch.log | cut -c1-300
echo "### metrics"; curl -s 127.0.0.1:19643/metrics | grep -E "^lvfsck_watch_findings"
echo "### check beside the watch"; $BIN --log-level error check --socket $SOCK | head -3; echo "exit ${PIPESTATUS[0]}"
kill -TERM $W; T=$(date +%s.%N); wait $W; echo "watch exit $? after $(echo "$(date +%s.%N) - $T" | bc) s"
