// Package bundle writes and reads lvfsck support bundles: one tar.gz with
// what an offline `lvfsck check` needs — a metadata-only image of each
// lvstore's base device (super block, masks and md region; everything else
// a hole), the target's RPC answers, its incarnation, an excerpt of the
// journal and, when given, the target's log — and a manifest listing every
// entry with its sha256, written last so that the bundle streams with
// bounded memory. A bundle whose manifest is missing or whose entries do
// not match it is refused whole (ErrBundle), never read in part.
//
// With obfuscation, lvol and lvstore names and user xattr values are
// replaced by tokens of the same length (the same name gives the same token
// in the image and in the RPC answers); in the image that means re-encoding
// the md pages that held them, with a fresh CRC (a page whose CRC was bad
// keeps a bad one). Uuids are kept.
package bundle
