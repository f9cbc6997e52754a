package sluice_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sluicehq/sluice"

// layers ranks the module's packages (docs/design.md, "Layers"): a package may import only
// packages of a lower rank. Leaf packages (rank 0) import only the standard library, connectors
// never import internal packages, and the DSL (rank 3) never imports the runtime. A package
// missing from the table fails the test, so every new package takes a place on purpose.
var layers = []struct {
	prefix string
	rank   int
}{
	{"window", 0}, {"watermark", 0}, {"agg", 0}, {"state", 0},
	{"internal/cputime", 0}, {"internal/hugepage", 0}, {"internal/flow", 1}, {"checkpoint", 1}, {"checkpoint/faultfs", 2}, {"state/pebble", 2},
	{"internal/plan", 2}, {"internal/kafkatest", 2},
	{"", 3}, // the public DSL at the module root
	{"internal/runtime", 4},
	{"engine", 5}, {"kafka", 5}, {"sluicetest", 5}, {"connector", 5}, {"serde", 5},
	{"internal/fixture", 6}, {"examples", 6}, {"metrics", 6}, {"ui", 6},
	{"bench", 7},
	{"cmd", 8},
}

func rankOf(rel string) (int, bool) {
	best, rank := -1, 0
	for _, l := range layers {
		match := rel == l.prefix || (l.prefix != "" && strings.HasPrefix(rel, l.prefix+"/"))
		if match && len(l.prefix) > best {
			best, rank = len(l.prefix), l.rank
		}
	}
	return rank, best >= 0
}

func TestImportLayers(t *testing.T) {
	imports := map[string]map[string]bool{} // package dir -> imported paths
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == "." {
			dir = ""
		}
		if imports[dir] == nil {
			imports[dir] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			imports[dir][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 5 {
		t.Fatalf("found only %d packages: is the test running at the module root?", len(imports))
	}
	for dir, ims := range imports {
		rank, ok := rankOf(dir)
		if !ok {
			t.Errorf("package %q has no layer: add it to the table in layers_test.go and docs/design.md", dir)
			continue
		}
		for im := range ims {
			checkImport(t, dir, rank, im)
		}
	}
}

func checkImport(t *testing.T, dir string, rank int, im string) {
	t.Helper()
	name := dir
	if name == "" {
		name = "sluice (root)"
	}
	if !strings.HasPrefix(im, module) {
		if rank == 0 && strings.Contains(strings.SplitN(im, "/", 2)[0], ".") {
			t.Errorf("%s is a leaf package and may import only the standard library, not %s", name, im)
		}
		return
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(im, module), "/")
	r, ok := rankOf(rel)
	switch {
	case !ok:
		t.Errorf("%s imports %s, which has no layer", name, im)
	case r >= rank && rel != dir:
		t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down", name, rank, rel, r)
	case strings.HasPrefix(dir, "connector") && strings.HasPrefix(rel, "internal/"):
		t.Errorf("connector %s imports %s: connectors use the public API only", name, rel)
	}
}
