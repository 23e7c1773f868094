// Package owner tells which control plane an lvol belongs to, from the
// naming and xattr conventions those control planes follow, so that a
// finding can name the volume an operator finds in their UI. Each rule
// cites the source it was read from. An lvol no rule recognises has no
// owner: lvfsck never guesses.
package owner

import (
	"regexp"
	"strings"
)

// Systems, as --owner takes them.
const (
	Longhorn    = "longhorn"
	Mayastor    = "mayastor"
	SPDKCSI     = "spdk-csi"
	Simplyblock = "simplyblock"
)

// Systems lists every system a rule recognises.
var Systems = []string{Longhorn, Mayastor, SPDKCSI, Simplyblock}

// Owner is who owns an lvol: the system, what the lvol is to it, and the
// names it goes by there. Fields that a convention does not carry are empty.
type Owner struct {
	System string `json:"system"`
	Kind   string `json:"kind"`             // replica, snapshot, clone, volume, backing-image...
	Volume string `json:"volume,omitempty"` // the volume as the control plane names it
	Name   string `json:"name,omitempty"`   // the object's own name (a snapshot's, a backing image's)
	ID     string `json:"id,omitempty"`     // the object's id there (replica name, vuid, source uuid)
}

// String is the owner in words, for the text report.
func (o Owner) String() string {
	s := o.System + " " + o.Kind
	var parts []string
	if o.Volume != "" {
		parts = append(parts, "volume "+o.Volume)
	}
	if o.Name != "" {
		parts = append(parts, "name "+o.Name)
	}
	if o.ID != "" {
		parts = append(parts, "id "+o.ID)
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// Valid tells whether system is one --owner accepts.
func Valid(system string) bool {
	for _, s := range Systems {
		if s == system {
			return true
		}
	}
	return false
}

// Mayastor's xattrs. Replicas carry the user xattr entity_id, the volume
// they belong to: openebs/mayastor io-engine/src/lvs/lvs_lvol.rs
// (PropName::EntityId => "entity_id"). Snapshots and clones carry the
// io-engine.* xattrs of io-engine/src/core/snapshot.rs (SnapshotXattrs,
// CloneXattrs).
const (
	xReplicaEntity  = "entity_id"
	xSnapEntity     = "io-engine.entity_id"
	xSnapParent     = "io-engine.parent_id"
	xSnapDiscarded  = "io-engine.discarded_snapshot"
	xCloneSource    = "io-engine.source_uuid"
	mayastorReplica = "replica"
)

var (
	// Longhorn v2 (longhorn/longhorn-spdk-engine pkg/spdk/types.go):
	// IsProbablyReplicaName matches "^.+-r-[a-zA-Z0-9]{8}$" (the replica
	// is "<volume>-r-<8 characters>"); GetReplicaSnapshotLvolName is
	// "<replica>-snap-<snapshot>"; GetReplicaRebuildingLvolName is
	// "<replica>-rebuilding"; GetBackingImageSnapLvolName is
	// "bi-<backing image>-disk-<lvstore uuid>" and
	// GetBackingImageTempHeadLvolName the same with "-temp-head"
	// (ExtractBackingImageAndDiskUUID in pkg/spdk/util.go parses it back).
	lhReplica    = regexp.MustCompile(`^(.+)-r-[a-zA-Z0-9]{8}$`)
	lhSnapshot   = regexp.MustCompile(`^((.+)-r-[a-zA-Z0-9]{8})-snap-(.+)$`)
	lhRebuilding = regexp.MustCompile(`^((.+)-r-[a-zA-Z0-9]{8})-rebuilding$`)
	lhBacking    = regexp.MustCompile(`^bi-([a-zA-Z0-9-]+)-disk-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(-temp-head)?$`)

	// spdk-csi (spdk/spdk-csi pkg/util/jsonrpc.go, createVolume): the lvol
	// is named "csi-" + a random uuid, which is the CSI volume's name.
	csiVolume = regexp.MustCompile(`^csi-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$`)

	// simplyblock (simplyblock/sbcli simplyblock_core/controllers/
	// lvol_controller.py: lvol_bdev = f"LVOL_{vuid}"; snapshot_controller.py:
	// f"SNAP_{snap_vuid}" and f"CLN_{clone_vuid}"): the vuid is a number
	// from DBController.next_vuid (simplyblock_core/utils/__init__.py).
	sbName = regexp.MustCompile(`^(LVOL|SNAP|CLN)_([0-9]+)$`)
)

var sbKinds = map[string]string{"LVOL": "volume", "SNAP": "snapshot", "CLN": "clone"}

// Of returns the owner of an lvol named name with the given user xattrs
// (nil when unknown, e.g. an lvol only the live view knows), or nil.
// Xattrs come first: they are written by the control plane on purpose,
// where a name could follow a pattern by chance.
func Of(name string, xattrs map[string]string) *Owner {
	if o := byXattrs(xattrs); o != nil {
		return o
	}
	return byName(name)
}

func byXattrs(x map[string]string) *Owner {
	if len(x) == 0 {
		return nil
	}
	if v, ok := x[xSnapEntity]; ok {
		kind := "snapshot"
		if _, d := x[xSnapDiscarded]; d && x[xSnapDiscarded] != "" && x[xSnapDiscarded] != "false" {
			kind = "discarded snapshot"
		}
		return &Owner{System: Mayastor, Kind: kind, Volume: v, ID: x[xSnapParent]}
	}
	if v, ok := x[xCloneSource]; ok {
		return &Owner{System: Mayastor, Kind: "clone", ID: v}
	}
	if v, ok := x[xReplicaEntity]; ok && v != "" {
		return &Owner{System: Mayastor, Kind: mayastorReplica, Volume: v}
	}
	return nil
}

func byName(name string) *Owner {
	if m := lhBacking.FindStringSubmatch(name); m != nil {
		kind := "backing-image"
		if m[3] != "" {
			kind = "backing-image temp head"
		}
		return &Owner{System: Longhorn, Kind: kind, Name: m[1], ID: m[2]}
	}
	if m := lhSnapshot.FindStringSubmatch(name); m != nil {
		return &Owner{System: Longhorn, Kind: "snapshot", Volume: m[2], Name: m[3], ID: m[1]}
	}
	if m := lhRebuilding.FindStringSubmatch(name); m != nil {
		return &Owner{System: Longhorn, Kind: "rebuilding replica", Volume: m[2], ID: m[1]}
	}
	if m := lhReplica.FindStringSubmatch(name); m != nil {
		return &Owner{System: Longhorn, Kind: "replica", Volume: m[1], ID: name}
	}
	if m := csiVolume.FindStringSubmatch(name); m != nil {
		return &Owner{System: SPDKCSI, Kind: "volume", Volume: name, ID: m[1]}
	}
	if m := sbName.FindStringSubmatch(name); m != nil {
		return &Owner{System: Simplyblock, Kind: sbKinds[m[1]], ID: m[2]}
	}
	return nil
}
