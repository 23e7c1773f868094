package blobstore

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/lvfsck/lvfsck/internal/testfix"
	"github.com/stretchr/testify/require"
)

func TestDumpGolden(t *testing.T) {
	for _, name := range []string{"basic-1m", "default-cluster-esnap", "dirty-kill9", "tags-clean"} {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			var buf bytes.Buffer
			require.NoError(t, Dump(&buf, f.sb, scanBlobs(t, f)))
			testfix.Golden(t, filepath.Join("testdata", name+".dump.golden"), buf.Bytes())
		})
	}
}
