// Command version installs the real spdk_tgt the tests use (../shared's
// setup.sh, once per machine) and prints its version, so that `make test`'s
// log says which real target the real-target tier ran against.
package main

import (
	"fmt"
	"os"

	"github.com/lvfsck/lvfsck/internal/realtgt"
)

func main() {
	v, err := realtgt.Version()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in, _ := realtgt.Setup()
	fmt.Printf("real spdk_tgt for the e2e tier: %s (%s; lib-fixed for the fixed semantics)\n", v, in.Dir)
}
