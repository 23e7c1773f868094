// Package testfix holds test helpers shared by several packages' tests:
// golden-file comparison under the -update flag and inflating the captured
// images of testdata/fixtures. Only _test.go files import it.
//
// testfix registers the -update flag itself, so a test package that uses
// Golden must not define its own.
package testfix
