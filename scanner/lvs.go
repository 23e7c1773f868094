package scanner

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/lvfsck/lvfsck/blobstore"
	"github.com/lvfsck/lvfsck/finding"
)

// loadIter is bs_load_iter: snapshots left half-made (SNAPTMP) or half
// removed (SNAPRM) by a power cut are kept or deleted at load.
func (m *blobModel) loadIter() {
	for _, b := range m.sortedBlobs() {
		if !b.opened {
			continue
		}
		code, name := CodeLeftoverSnapRm, "SNAPRM"
		v, ok := b.xattr(name, true)
		if !ok {
			code, name = CodeLeftoverSnapTmp, "SNAPTMP"
			if v, ok = b.xattr(name, true); !ok {
				continue
			}
		}
		var clone uint64
		if len(v) >= 8 {
			clone = binary.LittleEndian.Uint64(v)
		}
		ev := fmt.Sprintf("%s=%s", name, xattrText(v))
		c := m.blob(clone)
		switch {
		case c == nil || !c.opened:
			m.blobFinding(b, finding.Warning, code, finding.LoadOK, nil, ev,
				"%s left by an interrupted snapshot operation; its clone %#x does not open, so SPDK leaves the blob as it is", name, clone)
		case c.info.Parent == b.info.ID:
			m.blobFinding(b, finding.Info, code, finding.LoadOK, nil, ev,
				"%s left by an interrupted snapshot operation; clone %#x points at this snapshot, so SPDK keeps it and clears the xattr at load", name, clone)
		default:
			b.deleted = true
			m.blobFinding(b, finding.Warning, code, finding.LoadSkip, nil, ev,
				"%s left by an interrupted snapshot operation; clone %#x does not point at this snapshot, so SPDK deletes it at load", name, clone)
		}
	}
}

// uuidXattr checks a uuid xattr as lvs_read_uuid and load_next_lvol do:
// exactly 36 characters and a NUL, parseable.
func uuidXattr(v []byte, ok bool) (string, bool) {
	if !ok {
		return "", false
	}
	return checkUUID(v, cstr(v))
}

// checkUUID is uuidXattr's check of v, whose text up to the NUL is u.
func checkUUID(v []byte, u string) (string, bool) {
	return u, len(v) == uuidStrLen && v[uuidStrLen-1] == 0 && blobstore.ValidUUID(u)
}

// lvsLayer is lvs_load: the super blob's identity, then every other blob
// that opens becomes an lvol (load_next_lvol), then vbdev_lvol registers a
// bdev per lvol, which fails on duplicate names and uuids.
func (m *blobModel) lvsLayer(l *Lvstore) {
	m.superIdentity(l)
	lvols := m.lvols()
	m.registerBdevs(lvols)
	m.linkClones()
}

// superIdentity reads the lvstore's name and uuid from the super blob, as
// lvs_read_uuid and lvs_read_name do.
func (m *blobModel) superIdentity(l *Lvstore) {
	sbID := m.geo.sb.SuperBlob
	sup := m.blob(sbID)
	switch {
	case sup == nil:
		m.log.add(finding.Finding{Code: CodeLvstoreIdentity, Severity: finding.Critical, SPDK: finding.LoadRefuse,
			Message: fmt.Sprintf("super blob %#x is not a blob: SPDK does not load the lvstore", sbID)})
		return
	case !sup.opened:
		m.log.add(finding.Finding{Code: CodeLvstoreIdentity, Severity: finding.Critical, SPDK: finding.LoadRefuse, BlobID: sbID,
			Message: fmt.Sprintf("super blob %#x does not open: SPDK does not load the lvstore", sbID)})
		return
	}
	sup.info.IsSuper = true
	uv, uok := sup.xattr("uuid", false)
	u, valid := uuidXattr(uv, uok)
	nv, nok := sup.xattr("name", false)
	l.UUID, l.Name = u, cstr(nv)
	switch {
	case !valid:
		m.blobFinding(sup, finding.Critical, CodeLvstoreIdentity, finding.LoadRefuse, nil, fmt.Sprintf("uuid=%q", xattrText(uv)),
			"the super blob's uuid xattr is missing or invalid: SPDK does not load the lvstore")
	case !nok || len(nv) > maxLvolName:
		m.blobFinding(sup, finding.Critical, CodeLvstoreIdentity, finding.LoadRefuse, nil, fmt.Sprintf("name=%q", xattrText(nv)),
			"the super blob's name xattr is missing or too long: SPDK does not load the lvstore")
	}
}

// lvols is load_next_lvol over every blob but the super blob, in blob id
// order: each gets its lvol identity, and those that load are returned.
func (m *blobModel) lvols() []*blobState {
	var lvols []*blobState
	for _, b := range m.sortedBlobs() {
		if b.info.ID == m.geo.sb.SuperBlob {
			continue
		}
		id := &b.id
		b.info.IsLvol = id.nameOK
		if id.nameOK {
			b.info.LvolName = id.nameStr
		}
		if id.uuidValid {
			b.info.LvolUUID = id.uuid
		}
		if !b.opened || b.deleted {
			continue
		}
		if !id.nameOK || len(id.name) > maxLvolName {
			m.blobFinding(b, finding.Critical, CodeLvolNoName, finding.LoadRefuse, nil, fmt.Sprintf("name xattr present=%v length=%d", id.nameOK, len(id.name)),
				"blob has no usable name xattr: SPDK fails the whole lvstore load (\"Cannot assign lvol name\", SPDK #1831)")
			continue
		}
		if !id.uuidValid {
			m.blobFinding(b, finding.Warning, CodeLvolNoUUID, finding.LoadDegraded, nil, fmt.Sprintf("uuid=%q", xattrText(id.uuidRaw)),
				"lvol %q has no valid uuid xattr: SPDK loads it with a null uuid, so nothing that knows it by uuid finds it", b.info.LvolName)
		}
		lvols = append(lvols, b)
	}
	return lvols
}

// registerBdevs is vbdev_lvol opening all lvols at once, each registering
// its bdev (named by uuid, aliased lvs/name) when its open completes: of
// two lvols with one name or uuid, the first to finish opening keeps it.
// Opens race, so model the likely order: fewer dependent metadata reads
// first, then issue order. This matches the real v24.09 target, which
// gave a disputed name to a new empty lvol over an older snapshot with
// data, three restarts out of three.
func (m *blobModel) registerBdevs(lvols []*blobState) {
	m.openCosts(lvols)
	slices.SortStableFunc(lvols, func(a, b *blobState) int { return cmp.Compare(a.cost, b.cost) })
	names := make(map[string]uint64, len(lvols))
	uuids := make(map[string]uint64, len(lvols))
	for _, b := range lvols {
		if first, dup := names[b.info.LvolName]; dup {
			m.blobFinding(b, finding.Error, CodeDuplicateName, finding.LoadSkip, nil,
				fmt.Sprintf("name=%q holder=%#x open-cost=%d holder-open-cost=%d", b.info.LvolName, first, b.cost, m.blobs[first].cost),
				"lvol name %q is also used by blob %#x, which most likely finishes opening first (fewer metadata reads) and keeps the name: this lvol gets no bdev (`Cannot create bdev for lvol`)", b.info.LvolName, first)
			continue
		}
		names[b.info.LvolName] = b.info.ID
		if u := b.info.LvolUUID; u != "" {
			if first, dup := uuids[u]; dup {
				m.blobFinding(b, finding.Error, CodeDuplicateUUID, finding.LoadSkip, nil,
					fmt.Sprintf("uuid=%s holder=%#x open-cost=%d holder-open-cost=%d", u, first, b.cost, m.blobs[first].cost),
					"lvol uuid %s is also used by blob %#x, which most likely finishes opening first (fewer metadata reads) and keeps it: this lvol gets no bdev", u, first)
				continue
			}
			uuids[u] = b.info.ID
		}
	}
}

// linkClones lists each snapshot's clones, as bs_blob_list_add builds them
// from the blobs that open.
func (m *blobModel) linkClones() {
	for _, b := range m.sortedBlobs() {
		if !b.opened || b.deleted || b.info.Parent == 0 {
			continue
		}
		if p := m.blobs[b.info.Parent]; p != nil && p.opened {
			p.info.Clones = append(p.info.Clones, b.info.ID)
			p.info.IsSnapshot = true
		}
	}
}

// openCosts estimates, per lvol blob, when its open completes, in units of
// half a dependent metadata read: an open reads its chain pages, then its
// extent pages, one after another, and a clone's open completes only after
// its parent snapshot'm. The sim's examine uses the same model, which
// reproduces the bdev registration order of every captured restart. The
// estimate lands in blobState.cost (memoised there, not in a map: tens of
// thousands of lvols are sorted by it).
func (m *blobModel) openCosts(lvols []*blobState) {
	var walk func(b *blobState, depth int) int
	walk = func(b *blobState, depth int) int {
		if b.costSet {
			return b.cost
		}
		if depth > 64 {
			return 0
		}
		c := 2 * (len(b.info.Pages) + len(b.info.ExtentPages))
		if p := b.info.Parent; p != 0 && p != b.info.ID {
			if pb := m.blobs[p]; pb != nil {
				c = max(c, walk(pb, depth+1)+1)
			}
		}
		b.cost, b.costSet = c, true
		return c
	}
	for _, b := range lvols {
		walk(b, 0)
	}
}
