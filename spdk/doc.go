// Package spdk is a JSON-RPC 2.0 client for spdk_tgt over its unix socket:
// typed methods for the calls lvfsck makes, typed errors that hide which of
// SPDK's several error forms a target used, and the identity (incarnation)
// of the process behind the socket.
//
// Wire facts (from captures of a real v24.09 target): requests are single
// JSON objects, "params" is omitted when a method takes none (some methods
// reject an empty object), and answers arrive as a stream of JSON values with
// no framing, one per request, matched by "id". A target may answer requests
// of one connection out of order (an asynchronous handler such as
// bdev_lvol_register_snapshot_checksum answers only when its work is done),
// so the client multiplexes calls on one connection by id.
package spdk
