package run

import (
	"bytes"
	"fmt"

	"github.com/lvfsck/lvfsck/collect"
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/owner"
)

// nameXattrs are SPDK's own xattrs, not a control plane's.
var nameXattrs = map[string]bool{"name": true, "uuid": true}

// Owners names, on each finding about an lvol, the control plane that owns
// it (package owner): from the lvol's name and, when its blob was read,
// its user xattrs. The owner goes into Owner and, in words, into the
// evidence the text report shows.
func Owners(fs []finding.Finding, scans []collect.Scan) {
	xattrs := map[string]map[string]string{} // lvol uuid → user xattrs
	for _, s := range scans {
		if s.View == nil {
			continue
		}
		for _, b := range s.View.Blobs {
			if !b.IsLvol || b.LvolUUID == "" {
				continue
			}
			m := map[string]string{}
			for _, x := range b.Xattrs {
				if !x.Internal && !nameXattrs[x.Name] {
					m[x.Name] = string(bytes.TrimRight(x.Raw, "\x00"))
				}
			}
			xattrs[b.LvolUUID] = m
		}
	}
	for i := range fs {
		f := &fs[i]
		if f.LvolName == "" && f.LvolUUID == "" {
			continue
		}
		o := owner.Of(f.LvolName, xattrs[f.LvolUUID])
		if o == nil {
			continue
		}
		f.Owner = o
		if f.Evidence == nil {
			f.Evidence = map[string]string{}
		}
		f.Evidence["owner"] = o.String()
	}
}

// OnlyOwner keeps the findings about lvols that system owns, and says in a
// note how many others it set aside.
func OnlyOwner(fs []finding.Finding, system string) ([]finding.Finding, string) {
	out := fs[:0:0]
	for _, f := range fs {
		if f.Owner != nil && f.Owner.System == system {
			out = append(out, f)
		}
	}
	note := ""
	if n := len(fs) - len(out); n > 0 {
		note = fmt.Sprintf("--owner %s: %d finding(s) about other lvols, or about no lvol, not shown", system, n)
	}
	return out, note
}
