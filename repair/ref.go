package repair

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lvfsck/lvfsck/blobstore"
)

// Ref names an lvol the way an operator does: by alias "lvs/name", by uuid,
// or by name with an lvstore (name or uuid).
type Ref struct {
	UUID    string
	Alias   string // "lvstore/name"
	Name    string
	Lvstore string // lvstore name or uuid, with Name
}

// ErrBadRef: the lvol reference cannot name anything.
var ErrBadRef = errors.New("bad lvol reference")

// Limits from SPDK: lvol and lvstore names are shorter than 64 bytes
// (SPDK_LVOL_NAME_MAX / SPDK_LVS_NAME_MAX); anything longer is not a name.
const maxNameLen = 64

// ParseRef parses what the operator typed. lvstore is the --lvstore flag
// (may be empty).
func ParseRef(s, lvstore string) (Ref, error) {
	s = strings.TrimSpace(s)
	lvstore = strings.TrimSpace(lvstore)
	switch {
	case s == "":
		return Ref{}, fmt.Errorf("%w: empty", ErrBadRef)
	case len(s) > 2*maxNameLen+1 || len(lvstore) >= maxNameLen:
		return Ref{}, fmt.Errorf("%w: too long", ErrBadRef)
	case strings.Contains(lvstore, "/"):
		return Ref{}, fmt.Errorf("%w: lvstore %q contains a slash", ErrBadRef, lvstore)
	case blobstore.ValidUUID(s):
		return Ref{UUID: strings.ToLower(s)}, nil
	case strings.Contains(s, "/"):
		lvs, name, _ := strings.Cut(s, "/")
		if lvs == "" || name == "" || strings.Contains(name, "/") {
			return Ref{}, fmt.Errorf("%w: %q is not lvstore/name", ErrBadRef, s)
		}
		if len(lvs) >= maxNameLen || len(name) >= maxNameLen {
			return Ref{}, fmt.Errorf("%w: %q: names are under %d bytes", ErrBadRef, s, maxNameLen)
		}
		if lvstore != "" && lvstore != lvs {
			return Ref{}, fmt.Errorf("%w: alias %q contradicts --lvstore %q", ErrBadRef, s, lvstore)
		}
		return Ref{Alias: s}, nil
	case lvstore == "":
		return Ref{}, fmt.Errorf("%w: %q: a bare name needs --lvstore (or use lvstore/name, or the uuid)", ErrBadRef, s)
	case len(s) >= maxNameLen:
		return Ref{}, fmt.Errorf("%w: %q: names are under %d bytes", ErrBadRef, s, maxNameLen)
	default:
		return Ref{Name: s, Lvstore: lvstore}, nil
	}
}

// UUIDRef refers to an lvol by uuid.
func UUIDRef(uuid string) Ref { return Ref{UUID: strings.ToLower(uuid)} }

func (r Ref) String() string {
	switch {
	case r.UUID != "":
		return r.UUID
	case r.Alias != "":
		return r.Alias
	case r.Lvstore != "":
		return r.Lvstore + "/" + r.Name
	default:
		return r.Name
	}
}

// lvstoreAndName splits an alias or name ref; empty for a uuid ref.
func (r Ref) lvstoreAndName() (lvs, name string) {
	if r.Alias != "" {
		lvs, name, _ = strings.Cut(r.Alias, "/")
		return lvs, name
	}
	return r.Lvstore, r.Name
}

// Matches tells whether l is the lvol r names.
func (r Ref) Matches(l Lvol) bool {
	if r.UUID != "" {
		return strings.EqualFold(l.UUID, r.UUID)
	}
	lvs, name := r.lvstoreAndName()
	if name == "" || l.Name != name {
		return false
	}
	return lvs == l.LvstoreName || strings.EqualFold(lvs, l.LvstoreUUID)
}
