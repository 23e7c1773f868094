// Package guard is `lvfsck guard`: a JSON-RPC proxy on unix sockets in
// front of spdk_tgt that passes every byte through unchanged and refuses
// (or, with Config.DeleteWait, holds) a bdev_lvol_delete of an lvol that a
// running checksum, shallow copy or other operation holds — the delete the
// target would turn into a forced removal or a hidden zombie. It answers
// such a delete as the target answers a busy one (BusyMessage), so control
// planes already retry it.
//
// Framer finds where JSON values end in the byte stream without keeping
// it; Tracker knows what holds each lvol, by the uuid the target gives for
// a name; Proxy ties them to the sockets. Every delete decision goes to a
// Sink (JournalSink: guard records in the journal) and to Metrics. Long
// holds are kept in a state file so that a restarted guard takes them
// over against the same target incarnation (state.go). The one call the
// guard answers itself is spdk.MethodGuardTarget: which target run its
// upstream connection reaches, since SO_PEERCRED on the guard's socket
// names the guard, not the target.
package guard
