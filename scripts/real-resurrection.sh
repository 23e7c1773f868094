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
# (spdk-sim only sends the RPCs, as rpc.py would; beside lvfsck unless given)
# Root (setup.sh installs packages). Takes the machine-wide one-real-target
# lock that internal/realtgt uses; stops everything it started.
set -euo pipefail
BIN=${1:?usage: real-resurrection.sh path/to/lvfsck}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SIM=${2:-$(dirname "$BIN")/spdk-sim}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Installed by internal/realtgt (once per tarball): setup.sh itself would
# extract again under a target a test may be starting.
[ -x "${TMPDIR:-/tmp}/lvfsck-spdk-tgt/bin/spdk_tgt" ] || (cd "$ROOT" && go run ./internal/realtgt/version >&2)
DEST=${TMPDIR:-/tmp}/lvfsck-spdk-tgt
EXTRA=$DEST-extra # the libisal_crypto stub internal/realtgt builds (run its tests once)
[ -x "$DEST/bin/spdk_tgt" ] && [ -e "$EXTRA/libisal_crypto.so.2" ] || {
  echo "no usable spdk_tgt in $DEST (run: go run ./internal/realtgt/version)" >&2; exit 8; }

WORK=$(mktemp -d /tmp/lvfsck-real.XXXXXX)
SOCK=$WORK/spdk.sock IMG=$WORK/disk.img LOG=$WORK/spdk_tgt.log
export LVFSCK_STATE_DIR=$WORK/state
TGT=""
cleanup() { rc=$?; [ -n "$TGT" ] && kill -9 "$TGT" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; exit $rc; }
trap cleanup EXIT
exec 8>"${TMPDIR:-/tmp}/lvfsck-realtgt.lock"; flock 8

rpc() { "$SIM" rpc --socket "$SOCK" "$@"; }
say() { printf '\n### %s\n' "$*"; }
lv() { "$BIN" --log-level error "$@" || echo "(exit $?)"; }
SEMANTICS=${SEMANTICS:-forced}
LIBS=$DEST/lib:$EXTRA
[ "$SEMANTICS" = fixed ] && LIBS=$DEST/lib-fixed:$LIBS
start() {
  LD_LIBRARY_PATH=$LIBS "$DEST/bin/spdk_tgt" --no-huge -s 1024 -r "$SOCK" -m 0x1 \
    --disable-cpumask-locks -L lvol >>"$LOG" 2>&1 &
  TGT=$!
  until rpc framework_wait_init >/dev/null 2>&1; do sleep 0.1; done
  rpc bdev_aio_create "{\"name\":\"aio0\",\"filename\":\"$IMG\",\"block_size\":4096}" >/dev/null
  rpc bdev_wait_for_examine >/dev/null
}
# A clean shutdown; a target that has not exited 10 s later (the fixed
# target's zombie) is killed, as an operator would have to.
stop() {
  rpc spdk_kill_instance '{"sig_name":"SIGINT"}' >/dev/null || true
  for _ in $(seq 100); do kill -0 "$TGT" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$TGT" 2>/dev/null; then echo "spdk_tgt still running 10 s after SIGINT: killed (SIGKILL)"; kill -9 "$TGT"; fi
  wait "$TGT" 2>/dev/null || true; TGT=""
}

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
