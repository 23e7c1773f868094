// Package spdk is a JSON-RPC 2.0 client for spdk_tgt over its unix socket:
// typed methods for the calls lvfsck makes, typed errors that hide which of
// SPDK's several error forms a target used, and the identity (incarnation)
// of the process behind the socket.
//
// Wire facts (captures of a real v24.09 target, and lib/jsonrpc): requests
// are single JSON objects, with "params" left out when a method takes none
// (some methods reject an empty object); answers arrive as a stream of JSON
// values with no framing, matched to requests by "id". The target queues
// answers in completion order, so answers on one connection can come out
// of order (bdev_lvol_register_snapshot_checksum answers only when the
// checksum is done); the client therefore multiplexes calls on one
// connection by id. The target reads a request into a 32 KiB buffer
// (longer requests are refused here, see MaxRequest), caps one answer at
// 32 MiB, and accepts at most 64 connections.
package spdk
