package tgtlog

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lvfsck/lvfsck/blobstore"
)

// The messages, as SPDK v24.09 (and Longhorn's fork of it) formats them.
const (
	msgForced       = "Could not remove blob on lvol gracefully - forced removal"
	msgOpenSnap     = "Cannot remove snapshot because it is open"
	msgSnapClones   = "Cannot remove snapshot with more than one clone"
	msgBusyBlob     = "Cannot remove blob - another operation in progress"
	msgBusyClone    = "Cannot remove blob - another operation in progress on its clone"
	msgFailedRemove = "Failed to remove blob"
	msgUnloading    = "Unloading lvol store"
	msgUnloaded     = "Lvol store unloaded"
	msgOpenBlobs    = "Blobstore still has open blobs"
	msgLvolsPending = "Cannot unload lvol store - operations on lvols pending"
	preBusyKept     = "Error -16 deleting lvol "
	msgRecovery     = "Performing recovery on blobstore"
	preErrOpening   = "Error opening lvol "
	preCannotCreate = "Cannot create bdev for lvol "
	preBdevName     = "Bdev name "
	sufExists       = " already exists"
	preLostParent   = "Cannot obtain parent snapshots name for lvol "
	preLvol         = "Lvol "
	sufDeleted      = " deleted"
	sufClosed       = " closed"
	preAdded        = "added lvol "
	preDegraded     = "lvol "
	sufDegraded     = ": blob is degraded: deferring bdev creation"
	preStarting     = "Starting SPDK "
	preSuperblob    = "found superblob "
	preHotRemove    = "bdev "
	midHotRemove    = " being removed: closing lvstore "
	preRecover      = "Recover: blob 0x"
	preDeleting     = "Deleting blob 0x"
	preUnregister   = "Unable to unregister bdev '"
	quoteEnd        = "'" // ends the bdev name of an unregister failure
)

// classify recognises one line. ok is false for lines of no interest.
func classify(l line) (r Record, ok bool) {
	m := l.msg
	switch {
	case len(m) == 0:
		return r, false
	case eq(m, msgForced):
		r.Kind = ForcedRemoval
	case eq(m, msgOpenSnap):
		r.Kind = CannotRemoveOpenSnapshot
	case eq(m, msgSnapClones):
		r.Kind = CannotRemoveSnapshotClones
	case eq(m, msgBusyBlob), eq(m, msgBusyClone):
		r.Kind = CannotRemoveBusyBlob
	case eq(m, msgFailedRemove):
		r.Kind = DeleteBlobFailed
	case eq(m, msgUnloading):
		r.Kind = LvstoreUnload
	case eq(m, msgUnloaded):
		r.Kind = LvstoreUnloaded
	case eq(m, msgOpenBlobs):
		r.Kind = UnloadOpenBlobs
	case eq(m, msgLvolsPending):
		r.Kind = UnloadLvolsPending
	case eq(m, msgRecovery):
		r.Kind = RecoveryStart
	default:
		if !classifyVar(m, &r) {
			return r, false
		}
	}
	r.At = l.at
	r.Level = string(l.level)
	if len(l.file) > 0 {
		r.Src = string(l.file) + ":" + string(l.lineNo)
	}
	r.Func = string(l.fn)
	r.Text = clip(m, MaxText)
	return r, true
}

// classifyVar recognises the messages with a variable part.
func classifyVar(m []byte, r *Record) bool {
	if id, ok := cut(m, preErrOpening, ""); ok {
		r.Kind = ErrorOpeningLvol
		return setID(r, string(id))
	}
	if id, ok := cut(m, preCannotCreate, ""); ok {
		r.Kind = CannotCreateBdev
		return setID(r, string(id))
	}
	if name, ok := cut(m, preBdevName, sufExists); ok {
		r.Kind = BdevNameExists
		return setBdevName(r, string(name))
	}
	if name, ok := cut(m, preBusyKept, ""); ok {
		r.Kind = DeleteBusyKept
		r.LvolName = string(name)
		return validName(r.LvolName)
	}
	if name, ok := cut(m, preLostParent, ""); ok {
		r.Kind = LostParentName
		r.LvolName = string(name)
		return validName(r.LvolName)
	}
	if id, ok := cut(m, preLvol, sufDeleted); ok {
		r.Kind = LvolDeleted
		return setID(r, string(id))
	}
	if id, ok := cut(m, preLvol, sufClosed); ok {
		r.Kind = LvolClosed
		return setID(r, string(id))
	}
	if rest, ok := cut(m, preAdded, ")"); ok {
		// "added lvol <unique id> (<uuid>)"; the uuid is all zeros when the
		// blob had none, and the unique id then carries the blob id.
		i := bytes.LastIndex(rest, []byte(" ("))
		if i <= 0 {
			return false
		}
		r.Kind = LvolLoaded
		if u := string(rest[i+2:]); blobstore.ValidUUID(u) && u != nullUUID {
			return setID(r, u)
		}
		return setID(r, string(rest[:i]))
	}
	if id, ok := cut(m, preDegraded, sufDegraded); ok {
		r.Kind = LvolDegraded
		return setID(r, string(id))
	}
	if bytes.HasPrefix(m, []byte(preStarting)) {
		r.Kind = TargetStart
		return true
	}
	if n, ok := cut(m, preSuperblob, ""); ok {
		id, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil {
			return false
		}
		r.Kind, r.BlobID = LvstoreLoad, id
		return true
	}
	if rest, ok := cut(m, preHotRemove, ""); ok {
		i := bytes.Index(rest, []byte(midHotRemove))
		if i <= 0 {
			return false
		}
		r.Kind = LvstoreHotRemove
		r.Bdev, r.Lvstore = string(rest[:i]), string(rest[i+len(midHotRemove):])
		return validName(r.Bdev) && validName(r.Lvstore)
	}
	if h, ok := cut(m, preRecover, ""); ok {
		page, err := strconv.ParseUint(string(h), 16, 32)
		if err != nil {
			return false
		}
		// The number is the md page of the blob's first page; its id is
		// that page index with bit 32 set.
		r.Kind, r.BlobID = RecoveryBlob, 1<<32|page
		return true
	}
	if h, ok := cut(m, preDeleting, ""); ok {
		id, err := strconv.ParseUint(string(h), 16, 64)
		if err != nil {
			return false
		}
		r.Kind, r.BlobID = DeletingBlob, id
		return true
	}
	if rest, ok := cut(m, preUnregister, ""); ok {
		i := bytes.Index(rest, []byte(quoteEnd))
		if i <= 0 {
			return false
		}
		r.Kind, r.Bdev = UnregisterFailed, string(rest[:i])
		return validName(r.Bdev)
	}
	return false
}

// cut returns what lies between prefix and suffix when m is exactly
// prefix + something + suffix, with something non-empty and bounded.
func cut(m []byte, prefix, suffix string) ([]byte, bool) {
	if len(m) < len(prefix)+len(suffix)+1 || string(m[:len(prefix)]) != prefix || string(m[len(m)-len(suffix):]) != suffix {
		return nil, false
	}
	mid := m[len(prefix) : len(m)-len(suffix)]
	return mid, len(mid) <= 4*maxID
}

func eq(m []byte, s string) bool { return string(m) == s }

const nullUUID = "00000000-0000-0000-0000-000000000000"

// setID stores an lvol id as SPDK logs it: the uuid, or for an lvol without
// one, "<lvstore uuid>_<blob id>" (lib/lvol: unique_id).
func setID(r *Record, id string) bool {
	if blobstore.ValidUUID(id) {
		r.LvolUUID = id
		return true
	}
	if i := strings.IndexByte(id, '_'); i == 36 && blobstore.ValidUUID(id[:i]) {
		if b, err := strconv.ParseUint(id[i+1:], 10, 64); err == nil {
			r.LvstoreUUID, r.BlobID = id[:i], b
			return true
		}
	}
	return false
}

// setBdevName reads the name of a "Bdev name <x> already exists": an lvol
// bdev's alias ("lvs/name"), an lvol bdev's own name (its uuid), or another
// bdev.
func setBdevName(r *Record, name string) bool {
	if !validName(name) {
		return false
	}
	if blobstore.ValidUUID(name) {
		r.LvolUUID = name
		return true
	}
	if lvs, n, ok := strings.Cut(name, "/"); ok && lvs != "" && n != "" && !strings.Contains(n, "/") {
		r.Alias, r.Lvstore, r.LvolName = name, lvs, n
		return true
	}
	r.Bdev = name
	return true
}

func validName(s string) bool {
	return s != "" && len(s) <= maxID && utf8.ValidString(s)
}

// clip returns b as a string of at most n bytes, cut on a rune boundary.
func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	b = b[:n]
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return string(b)
}
