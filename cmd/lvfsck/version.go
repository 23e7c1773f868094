package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// ldVersion and ldCommit are set at build time (make build):
// -ldflags "-X main.ldVersion=$(git describe) -X main.ldCommit=$(git rev-parse HEAD)".
var ldVersion, ldCommit string

// build is what this binary says it is; version is its version string, in
// every report.
var (
	build   = resolveBuild(ldVersion, ldCommit, readBuildInfo())
	version = build.Version
)

// buildInfo identifies a build of lvfsck.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
}

func readBuildInfo() *debug.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return bi
}

// resolveBuild takes the version and commit from the linker flags, falling
// back to what the Go toolchain records: the module version (set by `go
// install module@version`, and since Go 1.24 by `go build` from a VCS
// checkout) and the vcs.revision and vcs.modified settings. "dev" is left
// only when there is nothing at all (go test, go run without VCS).
func resolveBuild(ldVersion, ldCommit string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: ldVersion, Commit: ldCommit, Go: runtime.Version()}
	var modVersion string
	if bi != nil {
		b.Go = bi.GoVersion
		if v := bi.Main.Version; v != "(devel)" {
			modVersion = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = modVersion
	}
	if b.Version == "" && b.Commit != "" {
		b.Version = "devel-" + b.Commit[:min(12, len(b.Commit))]
		if b.Modified {
			b.Version += "-dirty"
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if strings.HasSuffix(b.Version, "-dirty") || strings.HasSuffix(b.Version, "+dirty") {
		b.Modified = true
	}
	return b
}

// String is the one line `lvfsck --version` prints.
func (b buildInfo) String() string {
	s := "lvfsck " + b.Version
	if b.Commit != "" && !strings.Contains(b.Version, b.Commit[:min(7, len(b.Commit))]) {
		s += " (commit " + b.Commit + ")"
	}
	return s + ", " + b.Go
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print lvfsck's version and commit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if !asJSON {
				_, err := fmt.Fprintln(out, build)
				return err
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(build)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print version, commit and Go version as a JSON object")
	return cmd
}
