#!/usr/bin/env bash
# The whole resurrection story on the embedded sim target, in one command
# (forced removal, check, restart, resurrection, history, repair, clean):
#   make demo        (or: scripts/demo.sh path/to/lvfsck [path/to/spdk-sim])
# Needs nothing but the lvfsck binary and the stand-in target's (spdk-sim,
# beside lvfsck unless given); works in a temporary directory and
# stops everything it started. Exits 0 when the story played out as
# expected, non-zero otherwise.
set -euo pipefail

BIN=${1:?usage: demo.sh path/to/lvfsck [path/to/spdk-sim]}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SIM=${2:-$(dirname "$BIN")/spdk-sim}
[ -x "$SIM" ] || { echo "demo.sh: no stand-in target at $SIM (make build builds it)" >&2; exit 1; }
SIM=$(cd "$(dirname "$SIM")" && pwd)/$(basename "$SIM")
OP=${DEMO_OP_DURATION:-3s}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lvfsck-demo.XXXXXX")
SOCK=$WORK/spdk.sock
IMG=$WORK/disk.img
export LVFSCK_STATE_DIR=$WORK/state
SIM_PID=""
CK_PID=""

cleanup() {
	local rc=$?
	for p in $CK_PID $SIM_PID; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
fail() { printf '\nDEMO FAILED: %s\n' "$*" >&2; exit 1; }
rpc() { "$SIM" --log-level error rpc --socket "$SOCK" "$@"; }

start_target() {
	"$SIM" --log-level error serve --socket "$SOCK" --image "$IMG" --size 128M \
		--flavor longhorn-v24.09 --delete-semantics forced --op-duration "$OP" \
		--log-file "$WORK/spdk_tgt.log" &
	SIM_PID=$!
	for _ in $(seq 100); do
		rpc spdk_get_version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "the sim target did not come up"
}

# check runs `lvfsck check` and insists on the exit code the story expects.
check() {
	local want=$1 rc=0
	"$BIN" check --socket "$SOCK" --no-color || rc=$?
	[ "$rc" -eq "$want" ] || fail "lvfsck check exited $rc, expected $want"
}

say "Start a stand-in spdk_tgt (the sim) with SPDK v24.09's delete behaviour, in $WORK"
start_target
echo "   listening on $SOCK, base device $IMG (an AIO bdev, as Longhorn uses)"

say "Create an lvstore, a volume with data, and a snapshot of it (the volume becomes its clone)"
rpc bdev_lvol_create_lvstore '{"bdev_name":"aio0","lvs_name":"lvs-demo","cluster_sz":1048576}' >/dev/null
rpc bdev_lvol_create '{"lvs_name":"lvs-demo","lvol_name":"replica","size_in_mib":32,"thin_provision":true}' >/dev/null
rpc sim_lvol_write '{"name":"lvs-demo/replica","offset":0,"length":16777216}' >/dev/null
SNAP=$(rpc bdev_lvol_snapshot '{"lvol_name":"lvs-demo/replica","snapshot_name":"backup-1"}' | tr -d '"')
rpc bdev_lvol_create '{"lvs_name":"lvs-demo","lvol_name":"bystander","size_in_mib":8,"thin_provision":false}' >/dev/null
echo "   lvs-demo/replica (16 MiB written), its snapshot lvs-demo/backup-1 ($SNAP), lvs-demo/bystander"
echo "   (a snapshot with one clone is what SPDK lets you delete: the clone takes over its data)"

say "lvfsck check: all consistent (exit 0)"
check 0

say "A snapshot checksum starts (it holds backup-1 open for $OP) ..."
rpc bdev_lvol_register_snapshot_checksum '{"name":"lvs-demo/backup-1"}' >/dev/null 2>&1 &
CK_PID=$!
sleep 0.5
echo "   ... and meanwhile the control plane deletes backup-1:"
if out=$(rpc bdev_lvol_delete '{"name":"lvs-demo/backup-1"}' 2>&1); then
	fail "the delete succeeded; the busy window was missed"
fi
echo "   the target answered: ${out#lvfsck: }"
out=$(rpc bdev_lvol_delete '{"name":"lvs-demo/backup-1"}' 2>&1) && fail "the retried delete succeeded"
echo "   a retry answers: ${out#lvfsck: }   <- a control plane reads this as 'already deleted'"
wait "$CK_PID" || true
CK_PID=""
grep -q "forced removal" "$WORK/spdk_tgt.log" && echo "   the target logged: $(grep -m1 -o 'Could not remove blob.*' "$WORK/spdk_tgt.log")"
rpc bdev_lvol_get_lvols | grep -q '"backup-1"' && fail "backup-1 is still listed"
echo "   bdev_lvol_get_lvols no longer lists backup-1. Its blob is still on disk."

say "lvfsck check: backup-1 is a pending resurrection (exit 4)"
check 4

say "Stop the target cleanly (spdk_kill_instance SIGINT) and start it again on the same device"
rpc spdk_kill_instance '{"sig_name":"SIGINT"}' >/dev/null || true
wait "$SIM_PID" || true
SIM_PID=""
start_target
rpc bdev_lvol_get_lvols | grep -q '"backup-1"' || fail "backup-1 did not come back"
echo "   backup-1 is listed again: the 'deleted' snapshot came back with its data."

say "lvfsck check: backup-1 resurrected, naming the earlier delete (exit 4)"
check 4

say "lvfsck history lvs-demo/backup-1: what the journal saw"
"$BIN" history "$SNAP" || fail "lvfsck history failed"

say "lvfsck repair --yes: a guarded, non-forced delete of the resurrected snapshot, verified on disk (exit 1: corrected)"
rc=0
"$BIN" repair --socket "$SOCK" --yes || rc=$?
[ "$rc" -eq 1 ] || fail "lvfsck repair exited $rc, expected 1"

say "Restart the target once more: backup-1 stays gone, and lvfsck check is clean (exit 0)"
rpc spdk_kill_instance '{"sig_name":"SIGINT"}' >/dev/null || true
wait "$SIM_PID" || true
SIM_PID=""
start_target
rpc bdev_lvol_get_lvols | grep -q '"backup-1"' && fail "backup-1 came back after the repair"
check 0

say "Stop the target"
rpc spdk_kill_instance '{"sig_name":"SIGINT"}' >/dev/null || true
wait "$SIM_PID" || true
SIM_PID=""

printf '\nThe story played out as expected. Next: `lvfsck check --help`.\n'
