package collect

import (
	"github.com/lvfsck/lvfsck/finding"
	"github.com/lvfsck/lvfsck/reconcile"
	"github.com/lvfsck/lvfsck/scanner"
)

// Scan is the result of scanning one device: a view, or why there is none.
type Scan struct {
	Device string
	View   *scanner.View // nil when Err is set
	Err    error
}

// Persisted maps scan results onto reconcile's persisted view. Each blob
// with an lvol identity becomes a PersistedLvol (its parent's name taken from the
// parent blob's name xattr); each device becomes a PersistedLvstore, unreadable
// ones with Readable false and the error. complete says every live
// lvstore's device is among the scans (see Complete).
func Persisted(scans []Scan, complete bool) *reconcile.Persisted {
	p := &reconcile.Persisted{Complete: complete}
	n := 0
	for _, s := range scans {
		if s.View != nil {
			n += len(s.View.Blobs)
		}
	}
	p.Lvols = make([]reconcile.PersistedLvol, 0, n)
	for _, s := range scans {
		v := s.View
		if v == nil {
			msg := "no view"
			if s.Err != nil {
				msg = s.Err.Error()
			}
			p.Lvstores = append(p.Lvstores, reconcile.PersistedLvstore{Device: s.Device, Readable: false, Err: msg})
			continue
		}
		dev := s.Device
		if dev == "" {
			dev = v.Device
		}
		ls := v.Lvstore
		p.Lvstores = append(p.Lvstores, reconcile.PersistedLvstore{
			UUID: ls.UUID, Name: ls.Name, Device: dev, ClusterSize: uint64(ls.ClusterSize),
			Clean: ls.Clean, Readable: true, Loads: ls.Loads,
		})
		if ls.UUID == "" {
			continue // no lvstore identity: its blobs load as no lvol
		}
		names := make(map[uint64]string, len(v.Blobs))
		for _, b := range v.Blobs {
			if b.IsLvol {
				names[b.ID] = b.LvolName
			}
		}
		for _, b := range v.Blobs {
			if !b.IsLvol {
				continue
			}
			p.Lvols = append(p.Lvols, reconcile.PersistedLvol{
				LvstoreUUID:       ls.UUID,
				BlobID:            b.ID,
				Name:              b.LvolName,
				UUID:              b.LvolUUID,
				SizeBytes:         b.SizeBytes,
				Thin:              b.Thin,
				ReadOnly:          b.ReadOnly,
				IsSnapshot:        b.IsSnapshot,
				IsClone:           b.Parent != 0,
				EsnapClone:        b.ExternalSnapshot != "",
				ParentBlobID:      b.Parent,
				ParentName:        names[b.Parent],
				Loads:             b.Loads,
				AllocatedClusters: b.AllocatedClusters,
				Pages:             b.Pages,
			})
		}
	}
	return p
}

// Complete reports whether every live lvstore's device was scanned: its
// uuid is on a readable scan, or its base bdev's file is one of the scanned
// devices. Only then does reconcile treat a live lvstore missing from the
// disk as an error rather than "not scanned".
func Complete(live reconcile.Live, scans []Scan) bool {
	devs := map[string]bool{}
	uuids := map[string]bool{}
	for _, s := range scans {
		devs[s.Device] = true
		if s.View != nil {
			devs[s.View.Device] = true
			if s.View.Lvstore.UUID != "" {
				uuids[s.View.Lvstore.UUID] = true
			}
		}
	}
	for _, ls := range live.Lvstores {
		if uuids[ls.UUID] || (ls.Device != "" && devs[ls.Device]) {
			continue
		}
		return false
	}
	return true
}

// IntegrityFindings returns the scanner's findings of every readable scan,
// with the lvstore's name and uuid filled in where the scanner left them
// empty, so that the report groups them with the lvstore.
func IntegrityFindings(scans []Scan) []finding.Finding {
	var out []finding.Finding
	for _, s := range scans {
		if s.View == nil {
			continue
		}
		for _, f := range s.View.Findings {
			if f.LvstoreUUID == "" {
				f.LvstoreUUID = s.View.Lvstore.UUID
			}
			if f.Lvstore == "" {
				f.Lvstore = s.View.Lvstore.Name
			}
			out = append(out, f)
		}
	}
	return out
}
