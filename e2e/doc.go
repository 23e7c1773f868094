// Package e2e holds end-to-end tests: they build the real lvfsck binary and
// run its stories against two backends over real unix sockets: the sim
// (`spdk-sim serve` child processes, cmd/spdk-sim) and the real spdk_tgt of
// ../shared/spdk-tgt (internal/realtgt), with the same assertions. Stories
// only the sim can play (its fault injection) run on the sim alone. There is
// no non-test code here.
package e2e
