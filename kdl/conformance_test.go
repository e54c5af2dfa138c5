package kdl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// specTestsDir returns the folder of the KDL conformance suite: the one named
// by $KDL_SPEC_TESTS, else shared/kdl-spec-tests beside the repository clone
// (../../shared/kdl-spec-tests from this package's folder) when it is there,
// else the copy in testdata, so that a clone anywhere runs the suite.
func specTestsDir(t testing.TB) string {
	t.Helper()
	dir := defaultSpecTestsDir()
	if fi, err := os.Stat(filepath.Join(dir, "input")); err != nil || !fi.IsDir() {
		t.Fatalf("KDL conformance suite not found at %q (set KDL_SPEC_TESTS to its folder)", dir)
	}
	return dir
}

func defaultSpecTestsDir() string {
	if dir := os.Getenv("KDL_SPEC_TESTS"); dir != "" {
		return dir
	}
	beside := filepath.Join("..", "..", "shared", "kdl-spec-tests")
	if fi, err := os.Stat(filepath.Join(beside, "input")); err == nil && fi.IsDir() {
		return beside
	}
	return filepath.Join("testdata", "kdl-spec-tests")
}

// specDisagreements lists the suite's cases where the KDL 2.0 specification
// wins over the case, with the reason. It is empty: every case agrees with
// the specification.
var specDisagreements = map[string]string{}

// TestSpecConformance runs every case of the KDL 2.0 conformance suite. Each
// input is parsed with the KDL 2.0 grammar only (ParseVersion 2): a few
// inputs the suite rejects are valid KDL 1.0 (for example r#"raw"# or the
// \/ escape), which Parse accepts by falling back to 1.0, as designed. For
// those the test also checks that Parse either fails or reports Version 1.
func TestSpecConformance(t *testing.T) {
	dir := specTestsDir(t)
	inputs, err := filepath.Glob(filepath.Join(dir, "input", "*.kdl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatalf("no *.kdl inputs in %s", filepath.Join(dir, "input"))
	}
	for _, in := range inputs {
		name := filepath.Base(in)
		t.Run(name, func(t *testing.T) {
			if why, ok := specDisagreements[name]; ok {
				t.Skip("the KDL 2.0 spec disagrees with this case: " + why)
			}
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := ParseVersion(src, 2)
			if strings.HasSuffix(strings.TrimSuffix(name, ".kdl"), "_fail") {
				if err == nil {
					t.Fatalf("parsed, want an error; got:\n%s", Format(doc))
				}
				var kerr *Error
				if !errors.As(err, &kerr) {
					t.Fatalf("error %v is a %T, want *Error", err, err)
				}
				t.Logf("error (as expected): %v\n%s", err, kerr.Snippet())
				if doc, err := Parse(src); err == nil && doc.Version != 1 {
					t.Fatalf("Parse accepted it as version %d", doc.Version)
				} else if err == nil {
					t.Logf("valid KDL 1.0: Parse falls back to it")
				}
				return
			}
			if kerr := (*Error)(nil); errors.As(err, &kerr) {
				t.Fatalf("unexpected error: %v\n%s", err, kerr.Snippet())
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "expected_kdl", name))
			if err != nil {
				t.Fatal(err)
			}
			if got := Format(doc); string(got) != string(want) {
				t.Fatalf("printed:\n%s\nwant:\n%s", got, want)
			}
			// Parse must pick the KDL 2.0 reading of a valid 2.0 document.
			doc2, err := Parse(src)
			if err != nil || doc2.Version != 2 {
				t.Fatalf("Parse: version %v, error %v; want version 2", doc2, err)
			}
		})
	}
}

// TestSpecExpectedIsCanonical checks that every expected file of the suite,
// which is in canonical form, parses and prints back unchanged.
func TestSpecExpectedIsCanonical(t *testing.T) {
	dir := specTestsDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "expected_kdl", "*.kdl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := ParseVersion(want, 2)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if got := Format(doc); string(got) != string(want) {
			t.Errorf("%s: printed\n%s\nwant\n%s", filepath.Base(f), got, want)
		}
	}
}

// TestSpecInputPrefixes parses every prefix of every input of the suite: no
// panics, only *Error errors, and documents that print and read back alike.
func TestSpecInputPrefixes(t *testing.T) {
	dir := specTestsDir(t)
	inputs, err := filepath.Glob(filepath.Join(dir, "input", "*.kdl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		src, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(src); i++ {
			doc, err := Parse(src[:i])
			if err != nil {
				var kerr *Error
				if !errors.As(err, &kerr) {
					t.Fatalf("%s[:%d]: error %v is a %T", filepath.Base(in), i, err, err)
				}
				continue
			}
			out := Format(doc)
			doc2, err := ParseVersion(out, 2)
			if err != nil || string(Format(doc2)) != string(out) {
				t.Fatalf("%s[:%d]: round trip failed: %v\n%s", filepath.Base(in), i, err, out)
			}
		}
	}
}
