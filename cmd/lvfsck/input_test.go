package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/spdk/rpctest"
)

// Bad input is said to be bad: each case is an operational error (exit 8)
// naming the file, never a finding about a device or an empty view.
func TestBadInputIsOperationalError(t *testing.T) {
	dir := t.TempDir()
	gz, err := os.ReadFile(basicImage)
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.img.gz")
	require.NoError(t, os.WriteFile(truncated, gz[:len(gz)*3/4], 0o600))
	noTrailer := filepath.Join(dir, "no-trailer.img.gz")
	require.NoError(t, os.WriteFile(noTrailer, gz[:len(gz)-8], 0o600))
	null := filepath.Join(dir, "null.json")
	require.NoError(t, os.WriteFile(null, []byte("null\n"), 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	lvs := filepath.Join(checkFixtures, "basic-1m.bdev_lvol_get_lvstores.json")
	lvols := filepath.Join(checkFixtures, "basic-1m.bdev_lvol_get_lvols.json")

	cases := []struct {
		name string
		args []string
		path string // the input the error must name
		want string
	}{
		{"scan truncated gzip", []string{"scan", truncated}, truncated, "truncated"},
		{"scan gzip without trailer", []string{"scan", "--json", noTrailer}, noTrailer, "truncated"},
		{"check truncated gzip image", []string{"check", "--image", truncated, "--lvstores-json", lvs, "--lvols-json", lvols}, truncated, "truncated"},
		{"scan fifo", []string{"scan", fifo}, fifo, "not a regular file or block device (a FIFO)"},
		{"check fifo image", []string{"check", "--image", fifo, "--lvstores-json", lvs, "--lvols-json", lvols}, fifo, "a FIFO"},
		{"null lvols", []string{"check", "--lvstores-json", lvs, "--lvols-json", null}, null, "null"},
		{"null lvstores", []string{"check", "--lvstores-json", null, "--lvols-json", lvols}, null, "null"},
		{"null bdevs", []string{"check", "--lvstores-json", lvs, "--lvols-json", lvols, "--bdevs-json", null}, null, "null"},
		{"null notify", []string{"check", "--lvstores-json", lvs, "--lvols-json", lvols, "--notify-json", null}, null, "null"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan lvfsckResult, 1)
			go func() { done <- runLvfsck(t, nil, c.args...) }()
			var r lvfsckResult
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("still running after 20s")
			}
			all := r.out + r.errText
			require.Equal(t, report.ExitOperational, r.code, all)
			require.Contains(t, all, c.path)
			require.Contains(t, all, c.want)
			require.NotContains(t, all, "device-truncated")
		})
	}
}

// --timeout and --deadline must be positive, on every command that has them.
func TestTimeoutFlagsMustBePositive(t *testing.T) {
	lvs := filepath.Join(checkFixtures, "basic-1m.bdev_lvol_get_lvstores.json")
	offline := []string{"--lvstores-json", lvs, "--lvols-json", lvs}
	for _, args := range [][]string{
		append([]string{"check", "--timeout", "0"}, offline...),
		append([]string{"check", "--timeout", "-5s"}, offline...),
		append([]string{"check", "--deadline", "0"}, offline...),
		append([]string{"check", "--deadline", "-1m"}, offline...),
		{"delete", "--timeout", "0", "lvs/vol"},
		{"repair", "--timeout", "-1s", "--dry-run"},
	} {
		t.Run(strings.Join(args[:3], " "), func(t *testing.T) {
			_, errText, code := checkCLI(t, args...)
			require.Equal(t, report.ExitUsage, code, errText)
			require.Contains(t, errText, "want a positive duration")
		})
	}
}

// A target that accepts and never answers: --deadline ends the run (exit
// 8, saying so, the JSON document "incomplete"), and --timeout still ends
// each call within the deadline.
func TestCheckDeadline(t *testing.T) {
	srv := rpctest.Start(t)
	srv.HandleResult("bdev_lvol_get_lvstores", []any{})
	srv.SetFault("bdev_lvol_get_lvstores", rpctest.Fault{Kind: rpctest.FaultNoAnswer})

	start := time.Now()
	out, errText, code := checkCLI(t, "check", "--no-journal", "--json", "--socket", srv.Path, "--deadline", "1s")
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, report.ExitOperational, code, errText)
	require.Contains(t, errText, "no result within --deadline 1s")
	doc := jsonDoc[report.JSONReport](t, out)
	require.Equal(t, "incomplete", doc.Status)
	require.Equal(t, report.ExitOperational, doc.ExitCode)

	start = time.Now()
	_, errText, code = checkCLI(t, "check", "--no-journal", "--socket", srv.Path, "--timeout", "500ms", "--deadline", "1h")
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, report.ExitOperational, code, errText)
	require.Contains(t, errText, "live view from "+srv.Path)
	require.NotContains(t, errText, "--deadline")
}

func TestVersionFlagAndCommand(t *testing.T) {
	out, errText, code := checkCLI(t, "--version")
	require.Equal(t, 0, code, errText)
	require.Equal(t, build.String()+"\n", out)
	require.True(t, strings.HasPrefix(out, "lvfsck "+version), out)

	out, errText, code = checkCLI(t, "version", "--json")
	require.Equal(t, 0, code, errText)
	var b buildInfo
	require.NoError(t, json.Unmarshal([]byte(out), &b))
	require.Equal(t, build, b)
}

// The version comes from the linker flags, else from the Go toolchain's
// build info; "dev" only when neither says anything.
func TestResolveBuild(t *testing.T) {
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	cases := []struct {
		name         string
		ldVer, ldRev string
		bi           *debug.BuildInfo
		want         buildInfo
		line         string
	}{
		{"make build", "v1.2.0-3-g0123456", rev, info("(devel)"),
			buildInfo{Version: "v1.2.0-3-g0123456", Commit: rev, Go: "go1.99"}, "lvfsck v1.2.0-3-g0123456, go1.99"},
		{"make build, dirty", "0123456-dirty", rev, info("(devel)"),
			buildInfo{Version: "0123456-dirty", Commit: rev, Modified: true, Go: "go1.99"}, "lvfsck 0123456-dirty, go1.99"},
		{"go install @version", "", "", info("v1.3.0"),
			buildInfo{Version: "v1.3.0", Go: "go1.99"}, "lvfsck v1.3.0, go1.99"},
		{"go build with vcs stamping", "", "", info("v0.0.0-20261204150000-0123456789ab", "vcs.revision", rev, "vcs.modified", "false"),
			buildInfo{Version: "v0.0.0-20261204150000-0123456789ab", Commit: rev, Go: "go1.99"}, "lvfsck v0.0.0-20261204150000-0123456789ab, go1.99"},
		{"vcs only", "", "", info("(devel)", "vcs.revision", rev, "vcs.modified", "true"),
			buildInfo{Version: "devel-0123456789ab-dirty", Commit: rev, Modified: true, Go: "go1.99"}, "lvfsck devel-0123456789ab-dirty, go1.99"},
		{"nothing", "", "", info("(devel)"),
			buildInfo{Version: "dev", Go: "go1.99"}, "lvfsck dev, go1.99"},
		{"tag without commit in it", "v2.0.0", rev, nil,
			buildInfo{Version: "v2.0.0", Commit: rev}, "lvfsck v2.0.0 (commit " + rev + "), "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := resolveBuild(c.ldVer, c.ldRev, c.bi)
			if c.bi == nil {
				got.Go = ""
			}
			require.Equal(t, c.want, got)
			require.Equal(t, c.line, got.String())
		})
	}
}
