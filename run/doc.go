// Package run is one run of each lvfsck command that works on a target or
// the journal: Check (live view, devices, journal, comparison, summary),
// a Session for the write commands with StartDelete and StartRepair over
// it, and the log import (ImportAll, Show). It is the layer between the CLI
// (cmd/lvfsck: flags and exit codes) and the packages that observe
// (collect, scanner, spdk), compare (reconcile), remember (journal) and
// act (repair): every command reaches the target through Connect (dial,
// incarnation, live view, and the one "cannot reach spdk_tgt" message)
// and the journal through OpenJournal. What a run produces is a document
// package report renders; failures are *report.Failure with the exit code.
package run
