// Package scanner builds the persisted view of an SPDK lvstore from its
// device or image — every blob, its lvol identity, size, allocation,
// snapshot relations and xattrs — and checks it as fsck checks a file
// system. Each finding says what a real spdk_tgt (SPDK v24.09, as in
// lib/blob/blobstore.c and lib/lvol/lvol.c) will do at its next load: load
// the blob, load it degraded, skip it silently, refuse the whole lvstore, or
// crash on an assertion.
//
// Two modes follow SPDK's two load paths. Clean (the super block says
// clean=1): the used-blobid mask lists the blobs and the used-page and
// used-cluster masks are trusted, and checked against what the chains own.
// Recovery (clean=0, as on a device a running target holds): every md page
// is read and SPDK's replay is simulated — CRC-valid first pages start
// chains, continuations are accepted by CRC alone, a page claimed twice
// crashes it — which is what would load if the target restarted now.
//
// The md region is read in large sequential batches (O_DIRECT with aligned
// buffers on devices and files; buffered where the file system refuses
// O_DIRECT), in order, two in flight so that the device never waits for
// the scan, into buffers on transparent huge pages (one segment a batch,
// not 256), while checkers verify the pages on the other cores.
// Only CRC-valid pages are kept, decoded into a compact form, so memory
// follows the blobs found, not the size of the md region. In clean mode the
// blob id mask names the blobs up front, so a blob opens as soon as its
// pages are read, during the read rather than after it. A page that fails
// its CRC where it matters is read once more before it is called corrupt.
// Nothing is ever written to the device.
//
// Two halves, each over its own files: the page reader (pages.go) reads
// the super block's regions and keeps what the md pages say, knowing
// nothing of blobs; the blob model (blob.go: open and chain checks,
// parse.go: descriptors and clusters, replay.go: recovery's replay, lvs.go:
// the lvol layer, checks.go: cluster and mask checks) asks it for pages and
// judges what SPDK's load makes of them. scan.go runs one scan through
// both; advice.go holds the operator's next step per finding code.
//
// Entry points: Scan over any Source (an io.ReaderAt with a size: tests use
// in-memory images), ScanPath over a path (gzip images are decompressed
// into a sparse temporary file first, unlinked from its creation; a gzip
// that is not whole is a read error), Open for the device itself. Only
// regular files and block devices are opened: a FIFO would block for ever.
// Every read returns when the scan's context ends, whether or not the
// device answers.
package scanner
