package blobstore

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDumpGolden(t *testing.T) {
	for _, name := range []string{"basic-1m", "default-cluster-esnap", "dirty-kill9", "tags-clean"} {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			var buf bytes.Buffer
			require.NoError(t, Dump(&buf, f.sb, scanBlobs(t, f)))
			golden := filepath.Join("testdata", name+".dump.golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create %s", golden)
			require.Equal(t, string(want), buf.String())
		})
	}
}
