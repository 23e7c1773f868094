package scanner

import "github.com/lvfsck/lvfsck/finding"

// advice is the operator's next step per code, where one exists (a
// finding's Repair text). lvfsck never writes to the device; these say what
// to do through spdk_tgt or around it.
var advice = map[finding.Code]string{
	CodeChainForeign:       "do not restart spdk_tgt on this device: its next load crashes the target with every volume on it; copy the other lvols' data off first",
	CodeChainCrossLink:     "do not restart spdk_tgt on this device: recovery crashes the target; copy the lvols' data off first",
	CodeChainLoop:          "copy the lvol's data off while it is still open; a recovery load of this device crashes or hangs",
	CodeChainSequence:      "do not restart spdk_tgt on this device: opening the blob crashes the target",
	CodeLeftoverSnapTmp:    "none needed: SPDK finishes the interrupted snapshot at load",
	CodeLeftoverSnapRm:     "none needed: SPDK finishes the interrupted snapshot removal at load",
	CodeMissingEsnap:       "create the external snapshot bdev before the lvstore loads, or the clone stays degraded",
	CodeClusterLeaked:      "none needed: the next recovery load rebuilds the masks",
	CodePageMaskLeaked:     "none needed: the next recovery load rebuilds the masks",
	CodeDuplicateName:      "once loaded, rename or delete (lvfsck delete) the lvol that holds the name, then restart spdk_tgt so that this one loads",
	CodeDuplicateUUID:      "copy this lvol's data elsewhere: it gets no bdev while the other blob exists",
	CodeLvolNoUUID:         "copy the data to a new lvol: nothing can address this one by uuid",
	CodeDanglingParent:     "the clone's data depends on a snapshot that is gone or broken: restore from backup",
	CodeBlobIDMaskUnmarked: "a recovery load (after an unclean shutdown) brings this blob back; delete it through spdk_tgt then if it is unwanted",
}

// addAdvice fills the Repair text of the findings that have none.
func addAdvice(fs []finding.Finding) {
	for i := range fs {
		if fs[i].Repair == "" {
			fs[i].Repair = advice[fs[i].Code]
		}
	}
}
