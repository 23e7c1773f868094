// Package tgtlog reads spdk_tgt logs and returns the lines that are
// evidence about lvols and lvstores: forced removals (with the lvol they
// concern, which the line itself does not name), refused deletes, lvols that
// got no bdev at load, name collisions, lost parent snapshots, lvstore loads
// and unloads, recovery, and a target that could not shut down.
//
// It is pure: an io.Reader in, records out, line by line with bounded memory.
// Lines too long or not text are skipped and counted, never fatal.
//
// Timestamps: spdk_tgt prints its local time with no zone. Records carry
// that wall time in Options.Location, UTC unless the caller says otherwise
// (spdk_tgt usually runs in a container whose zone is UTC).
package tgtlog
