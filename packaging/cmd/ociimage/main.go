// Command ociimage writes the DaemonSet's multi-arch OCI image (see
// packaging/ociimage) as the tar of an OCI layout, without a container
// engine or a registry. make release runs it after the binaries:
//
//	ociimage -o dist/lvfsck-image-oci.tar -version VERSION -revision COMMIT \
//	    amd64=dist/lvfsck-linux-amd64 arm64=dist/lvfsck-linux-arm64
//
// Every timestamp is SOURCE_DATE_EPOCH (0 when unset), so the same
// binaries give the same archive.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lvfsck/lvfsck/packaging/ociimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	out := fs.String("o", "", "the archive to write (an OCI layout's tar)")
	var o ociimage.Options
	fs.StringVar(&o.Version, "version", "", "the image's version label and tag")
	fs.StringVar(&o.Revision, "revision", "", "the commit it was built from (a label)")
	fs.StringVar(&o.Source, "source", "https://github.com/lvfsck/lvfsck", "the source repository (a label)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ociimage -o FILE -version V [-revision C] ARCH=BINARY...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-o FILE is required")
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	o.Created = created
	for _, a := range fs.Args() {
		arch, path, ok := strings.Cut(a, "=")
		if !ok || arch == "" || path == "" {
			return fmt.Errorf("%q: want ARCH=BINARY", a)
		}
		o.Binaries = append(o.Binaries, ociimage.Binary{Arch: arch, Path: path})
	}
	return ociimage.WriteFile(*out, o)
}

// sourceDateEpoch parses SOURCE_DATE_EPOCH (reproducible-builds.org):
// seconds since the epoch; unset is 0.
func sourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since the epoch", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
