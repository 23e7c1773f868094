package scanner

import "github.com/lvfsck/lvfsck/finding"

// Finding codes of the on-disk integrity checks. Stable: never reuse a code
// for another meaning.
const (
	CodeBadSuperBlock      finding.Code = "bad-super-block"    // signature, version, CRC, bstype, geometry or size
	CodeTruncated          finding.Code = "device-truncated"   // the device is smaller than the super block says or the md region needs
	CodeMDCRC              finding.Code = "md-crc-mismatch"    // a page a blob needs fails its CRC
	CodeChainBroken        finding.Code = "chain-broken"       // next points to an empty page or out of the md region
	CodeChainLoop          finding.Code = "chain-loop"         // a chain comes back to one of its own pages
	CodeChainCrossLink     finding.Code = "chain-cross-linked" // a page is claimed by two chains
	CodeChainForeign       finding.Code = "chain-foreign-page" // a chain page carries another blob's id (Longhorn #13944)
	CodeChainSequence      finding.Code = "chain-sequence"     // a chain page's sequence number is out of order
	CodeDescriptor         finding.Code = "descriptor-malformed"
	CodeExtentMismatch     finding.Code = "extent-mismatch"      // extent table / extent pages disagree with the cluster count
	CodeExtentPage         finding.Code = "extent-page-invalid"  // an extent page the table points at is not a valid extent page
	CodeClusterShared      finding.Code = "cluster-shared"       // one cluster owned by two blobs
	CodeClusterRange       finding.Code = "cluster-out-of-range" // a cluster index beyond the device
	CodeClusterLeaked      finding.Code = "cluster-leaked"       // clean: marked used, owned by nobody
	CodeClusterUnmarked    finding.Code = "cluster-unmarked"     // clean: owned, not marked used
	CodePageMaskLeaked     finding.Code = "page-mask-leaked"     // clean: md page marked used, owned by nobody
	CodePageMaskUnmarked   finding.Code = "page-mask-unmarked"   // clean: md page owned, not marked used
	CodeBlobIDMaskLeaked   finding.Code = "blobid-mask-leaked"   // clean: blob id marked, no valid first page
	CodeBlobIDMaskUnmarked finding.Code = "blobid-mask-unmarked" // clean: valid first page, id not marked
	CodeMaskHeader         finding.Code = "mask-header"          // a mask's type or length is wrong
	CodeDanglingParent     finding.Code = "dangling-parent"      // SNAP names a blob that does not load
	CodeUnknownFlags       finding.Code = "unknown-invalid-flags"
	CodeLeftoverSnapTmp    finding.Code = "leftover-snaptmp"
	CodeLeftoverSnapRm     finding.Code = "leftover-snaprm"
	CodeLvstoreIdentity    finding.Code = "lvstore-identity" // super blob missing, or its name/uuid invalid
	CodeLvolNoName         finding.Code = "lvol-no-name"
	CodeLvolNoUUID         finding.Code = "lvol-no-uuid"
	CodeDuplicateName      finding.Code = "duplicate-lvol-name"
	CodeDuplicateUUID      finding.Code = "duplicate-lvol-uuid"
	CodeMissingEsnap       finding.Code = "esnap-clone"    // an esnap clone loads degraded until its external snapshot exists
	CodeReplayRejects      finding.Code = "replay-rejects" // recovery replay refuses a page: the whole blobstore fails to load
	CodeStaleMasks         finding.Code = "stale-masks"    // clean mode forced on a dirty store: masks not checked
)
