package bundle

import (
	"errors"
	"time"
)

// Format identifies the bundle layout; a reader refuses any other.
const Format = "lvfsck-bundle/1"

// Entry names inside the tar. Images are stored as chunk entries under
// imageDir/<index>/<offset in hex>: runs of non-zero pages, so that holes
// cost nothing and nothing needs sizing before it is read.
const (
	manifestName = "manifest.json"
	rpcDir       = "rpc/"
	imageDir     = "images/"
	journalName  = "journal/history.json"
	logName      = "log/spdk_tgt.log"
)

// RPC methods captured, in the order they are asked.
var Methods = []string{
	"spdk_get_version",
	"rpc_get_methods",
	"bdev_lvol_get_lvstores",
	"bdev_lvol_get_lvols",
	"bdev_get_bdevs",
	"notify_get_notifications",
}

// ErrBundle wraps every reason a bundle cannot be read: not a bundle,
// truncated, damaged, an entry that does not match the manifest.
var ErrBundle = errors.New("bad bundle")

// Manifest describes a bundle. It is the last tar entry.
type Manifest struct {
	Format  string    `json:"format"`
	Version string    `json:"lvfsck_version"`
	Created time.Time `json:"created"`
	// Socket is the target the RPC answers came from ("" when none).
	Socket      string `json:"socket,omitempty"`
	Incarnation string `json:"incarnation,omitempty"`
	// Mode is the scan mode a check of the bundle defaults to: recovery
	// when it was taken beside a live target (what would load if it
	// restarted), auto otherwise.
	Mode   string            `json:"mode"`
	Images []ImageInfo       `json:"images"`
	RPC    map[string]string `json:"rpc,omitempty"` // method → entry name
	// Errors are the parts that could not be captured, in words.
	Errors     []string     `json:"errors,omitempty"`
	Obfuscated *Obfuscation `json:"obfuscated,omitempty"`
	// Entries lists every other entry with its size and sha256.
	Entries []EntrySum `json:"entries"`
}

// ImageInfo is one captured device.
type ImageInfo struct {
	Index  int    `json:"index"`
	Device string `json:"device"`
	Size   int64  `json:"size"` // bytes of the device: the image's size once extracted
	// Captured is the bytes of non-zero metadata stored.
	Captured int64 `json:"captured_bytes"`
	// Regions are the byte ranges read, as "start+length".
	Regions []string `json:"regions"`
	Note    string   `json:"note,omitempty"`
}

// EntrySum is one entry's checksum.
type EntrySum struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Obfuscation says what an obfuscated bundle hides and keeps.
type Obfuscation struct {
	Hidden []string `json:"hidden"`
	Kept   []string `json:"kept"`
	Tokens int      `json:"tokens"` // distinct names and values replaced
}

func obfuscationStatement(tokens int) *Obfuscation {
	return &Obfuscation{
		Hidden: []string{
			"lvstore names", "lvol names (and the lvstore/lvol aliases made of them)",
			"user xattr values (lvol and lvstore blobs)",
			"the bytes after the NUL of an lvol's fixed-size name value (remnants of earlier names)",
			"names in the journal excerpt and, word by word, in the target's log (names the bundle knows from the image, the answers and the journal)",
			"the control planes' naming conventions: owners (check's owner field) cannot be told from an obfuscated bundle",
		},
		Kept: []string{
			"uuids, blob ids, sizes, cluster maps, flags, internal xattrs",
			"the length of every name and value replaced (tokens have the same length)",
			"xattr names", "base bdev names and device paths", "the target's version and methods",
		},
		Tokens: tokens,
	}
}
