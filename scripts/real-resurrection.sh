#!/usr/bin/env bash
# The resurrection story by hand on the REAL spdk_tgt (../shared/spdk-tgt),
# as an operator would meet it: build an lvstore, check (clean), delete a
# snapshot while a checksum reads it (forced removal), check first after the
# damage, import the target's log, restart, check again, repair, restart,
# check clean, history.
#   scripts/real-resurrection.sh path/to/lvfsck [path/to/spdk-sim]
# SEMANTICS=fixed runs Longhorn's fixed target (lib-fixed) instead: the busy
# delete hides a zombie, a retry fails, the clean shutdown hangs (killed
# after 10 s, as an operator must) and the lvol is back after the restart.
# Root (setup.sh installs packages); stops everything it started. The
# target's setup is scripts/real-lib.sh.
set -euo pipefail
. "$(dirname "$0")/real-lib.sh"
real_init real "$@"
SOCK=$WORK/spdk.sock IMG=$WORK/disk.img LOG=$WORK/spdk_tgt.log
TGT=""
cleanup() { rc=$?; [ -n "$TGT" ] && kill -9 "$TGT" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; exit $rc; }
trap cleanup EXIT

rpc() { "$SIM" rpc --socket "$SOCK" "$@"; }
say() { printf '\n### %s\n' "$*"; }
lv() { "$BIN" --log-level error "$@" || echo "(exit $?)"; }
start() { tgt_start "$SOCK" "$LOG"; tgt_aio "$SOCK" "$IMG"; }
stop() { tgt_stop "$SOCK"; }

truncate -s 80G "$IMG"
start
say "real target ($SEMANTICS semantics): $(rpc spdk_get_version)"
rpc bdev_lvol_create_lvstore '{"bdev_name":"aio0","lvs_name":"lvs-r","cluster_sz":1048576,"num_md_pages_per_cluster_ratio":3}' >/dev/null
rpc bdev_lvol_create '{"lvs_name":"lvs-r","lvol_name":"replica-a","size_in_mib":49152,"thin_provision":false}' >/dev/null
rpc bdev_lvol_create '{"lvs_name":"lvs-r","lvol_name":"bystander","size_in_mib":8,"thin_provision":false}' >/dev/null
rpc bdev_lvol_snapshot '{"lvol_name":"lvs-r/replica-a","snapshot_name":"backup-1"}' >/dev/null
say "check before anything goes wrong"
lv check --socket "$SOCK"

say "checksum of backup-1 (48 GiB thick) and, 10 ms in, its delete"
rpc --timeout 60s bdev_lvol_register_snapshot_checksum '{"name":"lvs-r/backup-1"}' >/dev/null & CK=$!
sleep 0.01
rpc bdev_lvol_delete '{"name":"lvs-r/backup-1"}' || true
wait $CK
rpc bdev_lvol_delete '{"name":"lvs-r/backup-1"}' || true

say "FIRST check after the damage"
lv check --socket "$SOCK"
say "the control plane's retry, through lvfsck delete"
lv delete --socket "$SOCK" lvs-r/backup-1
say "the target's log, imported"
lv log import "$LOG"
say "lvfsck repair (no restart yet)"
lv repair --socket "$SOCK"

say "clean restart"
stop; start
say "check after the restart"
lv check --socket "$SOCK"
say "repair --yes"
lv repair --yes --socket "$SOCK"
say "restart, check"
stop; start
lv check --socket "$SOCK"
say "history of backup-1"
lv history lvs-r/backup-1
stop
