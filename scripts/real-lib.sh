# Sourced by scripts/real-*.sh: the real spdk_tgt of ../shared/spdk-tgt, as
# internal/realtgt installs it (once per tarball: setup.sh itself would
# extract again under a target a test may be starting), one target at a
# time machine-wide (internal/realtgt's lock), started and stopped as an
# operator would. spdk-sim only sends the RPCs, as rpc.py would.

# real_init NAME ARGS...: BIN and SIM from ARGS (path/to/lvfsck
# [path/to/spdk-sim], spdk-sim beside lvfsck unless given); DEST, EXTRA,
# LIBS (SEMANTICS=fixed: Longhorn's fix, lib-fixed); WORK, a new directory,
# with the journal in it; the lock taken.
real_init() {
  local name=$1 root
  shift
  BIN=${1:?usage: $name path/to/lvfsck [path/to/spdk-sim]}
  BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
  SIM=${2:-$(dirname "$BIN")/spdk-sim}
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  DEST=${TMPDIR:-/tmp}/lvfsck-spdk-tgt
  EXTRA=$DEST-extra # the libisal_crypto stub internal/realtgt builds
  [ -x "$DEST/bin/spdk_tgt" ] || (cd "$root" && go run ./internal/realtgt/version >&2)
  if ! [ -x "$DEST/bin/spdk_tgt" ] || ! [ -e "$EXTRA/libisal_crypto.so.2" ]; then
    echo "no usable spdk_tgt in $DEST (run: go run ./internal/realtgt/version)" >&2
    exit 8
  fi
  SEMANTICS=${SEMANTICS:-forced}
  LIBS=$DEST/lib:$EXTRA
  if [ "$SEMANTICS" = fixed ]; then LIBS=$DEST/lib-fixed:$LIBS; fi
  WORK=$(mktemp -d "/tmp/lvfsck-$name.XXXXXX")
  export LVFSCK_STATE_DIR=$WORK/state
  exec 8>"${TMPDIR:-/tmp}/lvfsck-realtgt.lock"
  flock 8
}

# tgt_start SOCK LOG: a target on SOCK, logging to LOG, up; TGT is its pid.
tgt_start() {
  LD_LIBRARY_PATH=$LIBS "$DEST/bin/spdk_tgt" --no-huge -s 1024 -r "$1" -m 0x1 \
    --disable-cpumask-locks -L lvol >>"$2" 2>&1 &
  TGT=$!
  until "$SIM" rpc --socket "$1" framework_wait_init >/dev/null 2>&1; do sleep 0.1; done
}

# tgt_aio SOCK IMG: IMG as the AIO bdev aio0, its lvstore examined.
tgt_aio() {
  "$SIM" rpc --socket "$1" bdev_aio_create "{\"name\":\"aio0\",\"filename\":\"$2\",\"block_size\":4096}" >/dev/null
  "$SIM" rpc --socket "$1" bdev_wait_for_examine >/dev/null
}

# tgt_stop SOCK: a clean shutdown; a target that has not exited 10 s later
# (the fixed target's zombie) is killed, as an operator would have to.
tgt_stop() {
  "$SIM" rpc --socket "$1" spdk_kill_instance '{"sig_name":"SIGINT"}' >/dev/null || true
  for _ in $(seq 100); do kill -0 "$TGT" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$TGT" 2>/dev/null; then
    echo "spdk_tgt still running 10 s after SIGINT: killed (SIGKILL)"
    kill -9 "$TGT"
  fi
  wait "$TGT" 2>/dev/null || true
  TGT=""
}
