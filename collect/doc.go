// Package collect gathers the three views reconcile.Check compares: the
// live view from spdk_tgt (or from captured RPC answers), the persisted view
// from scanner results, and the history from the journal; and what changed
// on the target while its devices were read (Flux), which no finding may
// rest on.
//
// Everything here is an adapter. The gathering functions take small
// interfaces (LiveSource, JournalReader) so they test without sockets or a
// database; the pure mappings (BuildLive, Persisted, Devices) take values.
package collect
