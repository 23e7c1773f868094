// Package repair is lvfsck's write path as pure logic: the guarded delete
// executor (DESIGN "Guarded deletion", steps 1–6), the roll-forward of a
// delete that an earlier run left without an outcome, repair planning from
// findings, and the guarded lvstore reload that finishes a forced removal
// without restarting the target.
//
// Everything here talks to the outside through small interfaces — Target
// (what a real spdk_tgt shows over JSON-RPC, nothing more), Disk (a
// recovery-mode read of the base device), Journal (intents and outcomes) and
// Clock — so it tests without sockets, files or real sleeping. Package
// repair/adapt implements them over the spdk client, the scanner's recovery
// read of a device and the badger journal; package run wires them for a
// command.
//
// The one promise: lvfsck never reports a deletion that did not happen. A
// deletion counts only when the lvol is gone from the live view AND its blob's
// metadata pages are gone from the device. "No such device" from the target
// is never taken as success on its own.
package repair
