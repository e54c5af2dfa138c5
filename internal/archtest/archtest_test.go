// Package archtest checks that BuildIt's packages import in the direction
// the architecture says: the domain in the middle imports nothing of ours.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/buildit-ci/buildit"

// rules maps a package folder to the import paths it may not use. A rule
// ending in "/" forbids every path under it.
var rules = map[string]struct {
	allowOurs []string // our packages it may import ("." is the root's); nil = none
	forbid    []string // third-party prefixes it may not import
	stdOnly   bool     // only the standard library (plus allowOurs)
}{
	// The run vocabulary at the root is shared by every side of a run:
	// it imports nothing, so that anything may import it.
	".":        {stdOnly: true},
	"kdl":      {stdOnly: true},
	"pipeline": {stdOnly: true, allowOurs: []string{"kdl"}},
	// The repository policy is applied by the API and by workers alike:
	// it stays light enough for both.
	"repourl": {stdOnly: true},
	// Workflow code is deterministic and knows no backend: executors,
	// Kubernetes and the database are reached through activities only.
	"workflows": {allowOurs: []string{".", "pipeline"}, forbid: []string{"github.com/docker/", "k8s.io/", "github.com/jackc/", "os/exec", "net/http", "math/rand"}},
	// The API's shapes and its client link no web framework, so that the
	// CLI's remote commands do not carry the server.
	"apiview": {allowOurs: []string{"."}, forbid: []string{"github.com/gin-gonic/"}},
	"remote":  {allowOurs: []string{".", "apiview"}, forbid: []string{"github.com/gin-gonic/"}},
}

func TestImportDirection(t *testing.T) {
	root := filepath.Join("..", "..")
	for dir, rule := range rules {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if len(files) == 0 {
			t.Errorf("%s: no Go files", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				ours := path == module || strings.HasPrefix(path, module+"/")
				switch {
				case ours:
					rel := "."
					if path != module {
						rel = strings.TrimPrefix(path, module+"/")
					}
					allowed := false
					for _, a := range rule.allowOurs {
						allowed = allowed || rel == a
					}
					if !allowed {
						t.Errorf("%s imports %s: %s may import only %v of ours", f, path, dir, rule.allowOurs)
					}
				case rule.stdOnly && strings.Contains(strings.Split(path, "/")[0], "."):
					t.Errorf("%s imports %s: %s may import only the standard library", f, path, dir)
				}
				for _, bad := range rule.forbid {
					if strings.HasPrefix(path, bad) {
						t.Errorf("%s imports %s, which %s must not", f, path, dir)
					}
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
}
