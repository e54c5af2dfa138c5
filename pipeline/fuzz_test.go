package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzLoad checks Load on any input, as a server loads a tenant's pushed
// pipeline: it never panics; the Pipeline is nil exactly when a diagnostic
// is an error; every diagnostic names the file, points into it and says
// something, in source order, and there are at most MaxDiagnostics (and the
// one that says how many more were left out); and a loaded pipeline
// expands into a plan, or is refused by a limit, whose waves hold every
// step once, after the steps it needs, and whose JSON (a run's workflow
// input) encodes.
//
// The seed corpus is testdata/fuzz/FuzzLoad plus the pipelines of
// examples/. `make fuzz` runs it beside kdl's FuzzParse.
func FuzzLoad(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*.kdl"))
	for _, file := range examples {
		if src, err := os.ReadFile(file); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const file = "fuzz.kdl"
		p, diags := Load(file, src)
		if (p == nil) != diags.HasErrors() {
			t.Fatalf("pipeline %v with errors %v", p != nil, diags.Errors())
		}
		if len(diags) > MaxDiagnostics+1 {
			t.Fatalf("%d diagnostics, want at most %d", len(diags), MaxDiagnostics+1)
		}
		// KDL counts U+2028, NEL and the like as newlines too: a line or a
		// column is at most one past the runes there are.
		most := utf8.RuneCount(src) + 1
		for i, d := range diags {
			if d.File != file || d.Message == "" || d.Line < 1 || d.Col < 1 || d.Line > most || d.Col > most {
				t.Fatalf("diagnostic %+v", d)
			}
			// The last of MaxDiagnostics+1 says how many were left out,
			// at the first of them.
			if i > 0 && i < MaxDiagnostics && (d.Line < diags[i-1].Line || d.Line == diags[i-1].Line && d.Col < diags[i-1].Col) {
				t.Fatalf("diagnostics out of order: %v before %v", diags[i-1], d)
			}
		}
		if p == nil {
			return
		}
		plan, err := p.Plan(context.Background())
		if err != nil {
			var refused Diagnostics
			if !errors.As(err, &refused) {
				t.Fatalf("plan: %v", err)
			}
			return
		}
		seen := map[string]int{}
		for w, ids := range plan.Waves {
			for _, id := range ids {
				if _, dup := seen[id]; dup {
					t.Fatalf("step %q in two waves", id)
				}
				seen[id] = w
			}
		}
		if len(seen) != len(plan.Steps) {
			t.Fatalf("%d steps, %d in the waves", len(plan.Steps), len(seen))
		}
		for _, s := range plan.Steps {
			w, ok := seen[s.ID]
			if !ok || w != s.Wave {
				t.Fatalf("step %q of wave %d is in wave %d (%v)", s.ID, s.Wave, w, ok)
			}
			for _, n := range s.Needs {
				if nw, ok := seen[n]; !ok || nw >= w {
					t.Fatalf("step %q (wave %d) needs %q (wave %d, %v)", s.ID, w, n, nw, ok)
				}
			}
		}
		if _, err := json.Marshal(plan); err != nil {
			t.Fatalf("the plan does not encode: %v", err)
		}
	})
}
