package archive_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildit-ci/buildit/archive"
)

func write(t *testing.T, dir, rel, body string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, src, "dist/app", "binary")
	write(t, src, "reports/a.xml", "<a/>")
	write(t, src, "reports/b.txt", "no")
	write(t, src, "deep/x/y/z.log", "log")
	var buf bytes.Buffer
	st, err := archive.Pack(context.Background(), &buf, []archive.Tree{{Dir: src, Paths: []string{"dist/app", "reports/*.xml", "**/*.log"}}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 3 {
		t.Errorf("packed %d files, want 3", st.Files)
	}
	if _, err := archive.Unpack(context.Background(), &buf, []archive.Tree{{Dir: dst}}); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"dist/app": "binary", "reports/a.xml": "<a/>", "deep/x/y/z.log": "log"} {
		got, err := os.ReadFile(filepath.Join(dst, rel))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", rel, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "reports/b.txt")); err == nil {
		t.Error("reports/b.txt was unpacked but not asked for")
	}
}

func TestMissing(t *testing.T) {
	src := t.TempDir()
	_, err := archive.Pack(context.Background(), &bytes.Buffer{}, []archive.Tree{{Dir: src, Paths: []string{"nope/app"}}})
	if _, ok := err.(*archive.MissingError); !ok {
		t.Fatalf("err = %v, want a MissingError", err)
	}
}
