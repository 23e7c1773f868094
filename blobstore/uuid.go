package blobstore

// UUIDStrLen is the length of a uuid in SPDK's string form, without the NUL
// the lvol and lvstore uuid xattrs carry after it.
const UUIDStrLen = 36

// ValidUUID reports whether s has the shape spdk_uuid_parse accepts:
// 8-4-4-4-12 hex digits of either case. The lvol and lvstore uuid xattrs are
// stored in this form, and SPDK prints it in logs and RPC answers, so the
// scanner, the log parser and the repair planner share this one check.
func ValidUUID(s string) bool {
	if len(s) != UUIDStrLen {
		return false
	}
	for i := 0; i < UUIDStrLen; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
