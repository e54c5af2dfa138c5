package executor_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildit-ci/buildit/executor"
)

func TestWorkspacePath(t *testing.T) {
	ws := t.TempDir()
	outside := t.TempDir()
	for _, d := range []string{"a/b", "real"} {
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"alias":    "real",                       // inside, relative
		"absolute": filepath.Join(ws, "a"),       // inside, absolute
		"up":       "..",                         // out
		"rootlink": "/",                          // out
		"away":     outside,                      // out
		"a/back":   "../alias",                   // through a link, inside
		"dangling": "nothing-here",               // to nothing
		"a/sneak":  "../up/" + filepath.Base(ws), // out and back in: out on the way
		"loop":     "loop",                       // to itself
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(ws, name)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		rel, want, escapeVia string
		missing              bool
	}{
		{rel: "", want: ws},
		{rel: ".", want: ws},
		{rel: "/", want: ws},
		{rel: "a/b", want: filepath.Join(ws, "a/b")},
		{rel: "/a/b", want: filepath.Join(ws, "a/b")},
		{rel: "a/../real", want: filepath.Join(ws, "real")},
		{rel: "alias", want: filepath.Join(ws, "real")},
		{rel: "absolute/b", want: filepath.Join(ws, "a/b")},
		{rel: "a/back", want: filepath.Join(ws, "real")},
		{rel: "../x", escapeVia: "-"},
		{rel: "a/../../x", escapeVia: "-"},
		{rel: "up", escapeVia: "up"},
		{rel: "rootlink/etc", escapeVia: "rootlink"},
		{rel: "away/x", escapeVia: "away"},
		{rel: "a/sneak", want: ws},
		{rel: "real/new", missing: true},
	}
	for _, c := range cases {
		got, err := executor.WorkspacePath(ws, c.rel)
		var esc *executor.EscapeError
		switch {
		case c.escapeVia != "":
			if !errors.As(err, &esc) || esc.Path != c.rel || (c.escapeVia != "-" && esc.Link != c.escapeVia) || (c.escapeVia == "-" && esc.Link != "") {
				t.Errorf("%q: %q, %v; want an escape through %s", c.rel, got, err, c.escapeVia)
			}
		case c.missing:
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%q: %q, %v; want not found", c.rel, got, err)
			}
		case err != nil || got != c.want:
			t.Errorf("%q: %q, %v; want %q", c.rel, got, err, c.want)
		}
	}
	for _, rel := range []string{"dangling", "loop/x"} {
		if _, err := executor.WorkspacePath(ws, rel); err == nil {
			t.Errorf("%q: no error", rel)
		}
	}
}

func TestMakeWorkspaceDir(t *testing.T) {
	ws := t.TempDir()
	if err := os.Symlink("/", filepath.Join(ws, "rootlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ws, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(ws, "alias")); err != nil {
		t.Fatal(err)
	}
	got, err := executor.MakeWorkspaceDir(ws, "alias/x/y", 0o755, nil)
	if want := filepath.Join(ws, "real/x/y"); err != nil || got != want {
		t.Errorf("through a link inside: %q %v, want %q", got, err, want)
	}
	if fi, err := os.Stat(got); err != nil || !fi.IsDir() {
		t.Errorf("not made: %v", err)
	}
	name := "buildit-made-" + filepath.Base(filepath.Dir(ws))
	var esc *executor.EscapeError
	if _, err := executor.MakeWorkspaceDir(ws, "rootlink/tmp/"+name, 0o755, nil); !errors.As(err, &esc) || esc.Link != "rootlink" {
		t.Errorf("through rootlink: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(os.TempDir(), name)); !os.IsNotExist(err) {
		t.Errorf("made outside the workspace: %v", err)
	}
}

// What resolving a workdir costs a stage (a few lstat calls per part).
func BenchmarkWorkspacePath(b *testing.B) {
	ws := b.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, "src/app/cmd"), 0o755); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := executor.WorkspacePath(ws, "src/app/cmd"); err != nil {
			b.Fatal(err)
		}
	}
}
