package sim

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Logger writes lines in spdk_tgt's format, so that tools importing target
// logs can be tested on the sim's output:
//
//	[2026-11-24 22:14:54.864046] lvol.c:1084:lvol_delete_blob_cb: *ERROR*: Could not ...
type Logger struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewLogger logs to w (nil discards).
func NewLogger(w io.Writer) *Logger {
	if w == nil {
		w = io.Discard
	}
	return &Logger{w: w, now: time.Now}
}

// Log levels as spdk_tgt prints them.
const (
	lvlError   = "ERROR"
	lvlNotice  = "NOTICE"
	lvlWarning = "WARNING"
	lvlInfo    = "INFO"
)

// src names the SPDK source location a line imitates (file, line, function),
// so the sim's lines read like the real target's.
type src struct {
	file string
	line int
	fn   string
}

// The locations of the lines the real target printed in the fixtures.
var (
	srcAppStart        = src{"app.c", 917, "spdk_app_start"}
	srcReactor         = src{"reactor.c", 990, "reactor_run"}
	srcLvsInit         = src{"lvol.c", 812, "spdk_lvs_init"}
	srcLvsInitCb       = src{"lvol.c", 669, "lvs_init_cb"}
	srcFoundSuper      = src{"lvol.c", 284, "load_next_lvol"}
	srcAddedLvol       = src{"lvol.c", 343, "load_next_lvol"}
	srcLvolClosed      = src{"lvol.c", 1059, "lvol_close_blob_cb"}
	srcLvsUnload       = src{"lvol.c", 971, "spdk_lvs_unload"}
	srcLvsUnloaded     = src{"lvol.c", 926, "_lvs_unload_cb"}
	srcNotDeletable    = src{"blobstore.c", 8681, "bs_is_blob_deletable"}
	srcDeleteFinish    = src{"blobstore.c", 8621, "bs_delete_blob_finish"}
	srcDeleteBlobCb    = src{"lvol.c", 1084, "lvol_delete_blob_cb"}
	srcLvolDeleted     = src{"lvol.c", 1086, "lvol_delete_blob_cb"}
	srcDumpInfo        = src{"vbdev_lvol.c", 864, "vbdev_lvol_dump_info_json"}
	srcGetChecksum     = src{"vbdev_lvol_rpc.c", 2103, "rpc_bdev_lvol_get_snapshot_checksum"}
	srcRegChecksum     = src{"vbdev_lvol_rpc.c", 2060, "rpc_bdev_lvol_register_snapshot_checksum"}
	srcChecksumNotSnap = src{"blobstore.c", 8039, "bs_snapshot_checksum_blob_open_cpl"}
	srcChecksumCb      = src{"lvol.c", 2779, "lvol_snapshot_checksum_cb"}
	srcCheckCopy       = src{"vbdev_lvol_rpc.c", 1743, "rpc_bdev_lvol_check_shallow_copy"}
	srcStartCopy       = src{"vbdev_lvol_rpc.c", 1640, "rpc_bdev_lvol_start_shallow_copy"}
	srcRecover         = src{"blobstore.c", 4904, "bs_recover"}
	srcReplay          = src{"blobstore.c", 4851, "bs_load_replay_md_cpl"}
	srcOpenLvolFail    = src{"vbdev_lvol.c", 1804, "_vbdev_lvs_examine_finish"}
	srcDestroyLvol     = src{"vbdev_lvol.c", 752, "_vbdev_lvol_destroy"}
	srcGetBdevs        = src{"bdev_rpc.c", 810, "rpc_bdev_get_bdevs"}
	srcAppStop         = src{"app.c", 1070, "spdk_app_stop"}
	srcShallowCopyRO   = src{"lvol.c", 2457, "spdk_lvol_shallow_copy"}
	srcHotRemove       = src{"vbdev_lvol.c", 263, "vbdev_lvs_hotremove_cb"}
	srcBdevNameAdd     = src{"bdev.c", 4696, "bdev_name_add"}
	srcCreateDisk      = src{"vbdev_lvol.c", 1811, "_vbdev_lvs_examine_finish"}
	srcBsUnload        = src{"blobstore.c", 5917, "spdk_bs_unload"}
	srcBdevFinish      = src{"bdev.c", 2374, "bdev_finish_unregister_bdevs_iter"}
	srcBdevFinishCl    = src{"bdev.c", 2427, "bdev_finish_unregister_bdevs_iter"}
	srcGetIostat       = src{"bdev_rpc.c", 360, "rpc_bdev_get_iostat"}
	srcNvmfGetSubs     = src{"nvmf_rpc.c", 294, "rpc_nvmf_get_subsystems"}
	srcNvmfCreateSub   = src{"nvmf_rpc.c", 405, "rpc_nvmf_create_subsystem"}
	srcNvmfListen      = src{"nvmf.c", 842, "spdk_nvmf_tgt_listen_ext"}
	srcNvmfAddNS       = src{"nvmf_rpc.c", 1569, "rpc_nvmf_subsystem_add_ns"}
	srcNvmfAddNSPaus   = src{"nvmf_rpc.c", 1517, "nvmf_rpc_ns_paused"}
	srcNvmfRemoveNS    = src{"nvmf_rpc.c", 1750, "nvmf_rpc_remove_ns_paused"}
	srcDeleteBusyErr   = src{"lvol.c", 1085, "lvol_delete_blob_cb"}
	srcLvsUnloadBusy   = src{"lvol.c", 946, "spdk_lvs_unload"}
)

func (l *Logger) logf(s src, lvl, format string, a ...any) {
	if l == nil {
		return
	}
	msg := fmt.Sprintf(format, a...)
	msg = strings.TrimRight(msg, "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "[%s] %s:%4d:%s: *%s*: %s\n", l.stamp(), s.file, s.line, s.fn, lvl, msg)
}

// plain writes a line without a source location (the banner lines).
func (l *Logger) plain(format string, a ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "[%s] %s\n", l.stamp(), fmt.Sprintf(format, a...))
}

func (l *Logger) stamp() string {
	return l.now().UTC().Format("2006-01-02 15:04:05.000000")
}
