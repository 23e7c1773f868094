// Package realtgt runs the real spdk_tgt shipped in ../shared/spdk-tgt for
// tests: it installs the build once per machine (the shared setup.sh), starts
// targets with either delete semantics (as released: forced removal; lib-fixed:
// Longhorn's fix), and stops them — SIGKILL as the last resort — when the test
// ends, whatever happened.
//
// A real target polls: it keeps one core busy for as long as it runs. On the
// 2-core machines CI uses, tests run one real target at a time: Start takes a
// machine-wide lock (a flock on a file under $TMPDIR) that every test process
// shares, held until the target is stopped.
//
// A missing ../shared/spdk-tgt or a failing install is a test failure with the
// reason, never a silent skip: what lvfsck says about real targets is proven on
// real targets.
package realtgt
