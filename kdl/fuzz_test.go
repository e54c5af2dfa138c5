package kdl

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is an *Error
// with a sane position, and that a parsed document survives a round trip:
// Format's output parses as KDL 2.0 and formats to the same text.
//
// The seed corpus is testdata/fuzz/FuzzParse plus the inputs of the
// conformance suite when it is present.
func FuzzParse(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join(defaultSpecTestsDir(), "input", "*.kdl"))
	for _, in := range inputs {
		if src, err := os.ReadFile(in); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		doc, err := Parse(src)
		if err != nil {
			var kerr *Error
			if !errors.As(err, &kerr) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if kerr.Pos.Offset < 0 || kerr.Pos.Offset > len(src) || kerr.Pos.Line < 1 || kerr.Pos.Col < 1 {
				t.Fatalf("error position %+v out of range for %d bytes", kerr.Pos, len(src))
			}
			_ = kerr.Snippet()
			return
		}
		checkPositions(t, string(src), doc.Nodes)
		out := Format(doc)
		doc2, err := ParseVersion(out, 2)
		if err != nil {
			t.Fatalf("formatted output does not parse: %v\ninput:  %q\noutput: %q", err, src, out)
		}
		if out2 := Format(doc2); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the document\ninput:  %q\nfirst:  %q\nsecond: %q", src, out, out2)
		}
	})
}

// checkPositions checks every position of the nodes against a fresh
// computation from the start of the source.
func checkPositions(t *testing.T, src string, nodes []*Node) {
	t.Helper()
	check := func(what string, p Pos) {
		t.Helper()
		if p.Offset < 0 || p.Offset >= len(src) {
			t.Fatalf("%s: offset %d out of range", what, p.Offset)
		}
		tr := newPosTracker(src)
		if want := tr.at(p.Offset); p != want {
			t.Fatalf("%s: position %+v, want %+v", what, p, want)
		}
	}
	for _, n := range nodes {
		check("node", n.Pos)
		check("node name", n.NamePos)
		for _, a := range n.Args {
			check("argument", a.Pos)
		}
		for _, pr := range n.Props {
			check("property", pr.Pos)
			check("property value", pr.Value.Pos)
		}
		checkPositions(t, src, n.Children)
	}
}
