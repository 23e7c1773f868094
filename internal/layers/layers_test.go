// Package layers holds the test that keeps the README's layering true: a
// package imports only from its own layer or the layers before it.
package layers

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/lvfsck/lvfsck/"

// layer is each production package's layer, as README.md's Layout lists
// them. A package missing here fails the test: place it first.
var layer = map[string]int{
	"finding": 1, "owner": 1, "blobstore": 1, "internal/procfs": 1, "internal/natsort": 1,
	"spdk": 2, "scanner": 2, "tgtlog": 2, "journal": 2,
	"reconcile": 3, "repair": 3,
	"report": 4, "prompt": 4,
	"collect": 5, "history": 5,
	"run": 6, "repair/adapt": 6,
	"cmd/lvfsck": 7, "watch": 7, "guard": 7, "bundle": 7,
	"sim": 8, "cmd/spdk-sim": 8, "e2e": 8, "internal/realtgt": 8, "internal/realtgt/version": 8,
	"internal/testfix": 8, "internal/layers": 8, "spdk/rpctest": 8, "run/runtest": 8,
}

func TestLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	seen := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			// Own modules and data are not packages of this module.
			if rel == "deploy" || rel == "packaging" || rel == "testdata" || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		own, ok := layer[pkg]
		require.True(t, ok, "%s is in no layer: add it to README's Layout and to this test", pkg)
		for _, im := range f.Imports {
			p := strings.Trim(im.Path.Value, `"`)
			if !strings.HasPrefix(p, module) {
				continue
			}
			dep := strings.TrimPrefix(p, module)
			l, ok := layer[dep]
			require.True(t, ok, "%s imports %s, which is in no layer", pkg, dep)
			require.LessOrEqual(t, l, own, "%s (layer %d) imports %s (layer %d): a layer imports only from itself and the layers before it", pkg, own, dep, l)
			seen++
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, seen, 50, "the walk found the module's imports")
}
