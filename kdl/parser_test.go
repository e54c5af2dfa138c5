package kdl

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Document {
	t.Helper()
	doc, err := Parse([]byte(src))
	if err != nil {
		var kerr *Error
		if errors.As(err, &kerr) {
			t.Fatalf("Parse(%q): %v\n%s", src, err, kerr.Snippet())
		}
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return doc
}

func checkPos(t *testing.T, what string, got Pos, line, col, off int) {
	t.Helper()
	if want := (Pos{Line: line, Col: col, Offset: off}); got != want {
		t.Errorf("%s: position %+v, want %+v", what, got, want)
	}
}

func TestPositions(t *testing.T) {
	src := "α \"ß\" k=1\r\n" +
		"  (t)β 0x10 key=(u)\"x\"\n" +
		"\u3000γ {\n" +
		"    child\u2028δ\n" +
		"}\n"
	doc := mustParse(t, src)
	if len(doc.Nodes) != 3 {
		t.Fatalf("got %d nodes, want 3", len(doc.Nodes))
	}
	n0, n1, n2 := doc.Nodes[0], doc.Nodes[1], doc.Nodes[2]
	checkPos(t, "node α", n0.Pos, 1, 1, 0)
	checkPos(t, "name α", n0.NamePos, 1, 1, 0)
	checkPos(t, "arg ß", n0.Args[0].Pos, 1, 3, 3)
	checkPos(t, "prop k", n0.Props[0].Pos, 1, 7, 8)
	checkPos(t, "prop k value", n0.Props[0].Value.Pos, 1, 9, 10)

	checkPos(t, "node β (type annotation)", n1.Pos, 2, 3, 15)
	checkPos(t, "name β", n1.NamePos, 2, 6, 18)
	checkPos(t, "arg 0x10", n1.Args[0].Pos, 2, 8, 21)
	checkPos(t, "prop key", n1.Props[0].Pos, 2, 13, 26)
	checkPos(t, "prop key value (type annotation)", n1.Props[0].Value.Pos, 2, 17, 30)

	checkPos(t, "node γ", n2.Pos, 3, 2, 40)
	if len(n2.Children) != 2 {
		t.Fatalf("γ has %d children, want 2", len(n2.Children))
	}
	checkPos(t, "child", n2.Children[0].Pos, 4, 5, 49)
	// U+2028 (LINE SEPARATOR) is a newline: δ starts line 5.
	checkPos(t, "δ", n2.Children[1].Pos, 5, 1, 57)
}

func TestPositionsAfterMultiLineTokens(t *testing.T) {
	src := "a \"\"\"\n  x\n  \"\"\" b /* c\n */ d\ne"
	doc := mustParse(t, src)
	a := doc.Nodes[0]
	checkPos(t, "multi-line string", a.Args[0].Pos, 1, 3, 2)
	checkPos(t, "b", a.Args[1].Pos, 3, 7, 16)
	checkPos(t, "d", a.Args[2].Pos, 4, 5, 27)
	checkPos(t, "e", doc.Nodes[1].Pos, 5, 1, 29)
	if a.Args[0].Str != "x" {
		t.Errorf("multi-line string = %q, want %q", a.Args[0].Str, "x")
	}
}

func TestPositionsWithBOM(t *testing.T) {
	// The byte order mark is not a visible column.
	doc := mustParse(t, "\uFEFFnode 1")
	checkPos(t, "node", doc.Nodes[0].Pos, 1, 1, 3)
	checkPos(t, "arg", doc.Nodes[0].Args[0].Pos, 1, 6, 8)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
		msg       string
	}{
		{"node \"abc", 1, 6, "unterminated string"},
		{"node \"abc\ndef\"", 1, 10, "cannot contain a newline"},
		{"node }", 1, 6, "unexpected '}'"},
		{"a {\n  b\n", 1, 3, "unterminated children block"},
		{"node 0n", 1, 6, "identifier cannot start with a digit"},
		{"ü é 1x", 1, 5, "identifier cannot start with a digit"},
		{"node .5", 1, 6, "a number must start with a digit"},
		{"a\r\nb \"\\q\"", 2, 4, `invalid escape \q`},
		{"node key=", 1, 10, "expected a value after '='"},
		{"node (t)", 1, 9, "expected a value after the type annotation"},
		{"node ()1", 1, 6, "empty type annotation"},
		{"a /* unterminated", 1, 3, "unterminated block comment"},
		{"node \"x\"\"y\"", 1, 9, "separated by whitespace"},
		{"\t\tnode  \u200Earg", 1, 9, "disallowed code point U+200E"},
		{"node \xff", 1, 6, "invalid UTF-8"},
		{"node\x00", 1, 5, "disallowed control character U+0000"},
		{"a\nb \uFEFF", 2, 3, "byte order mark"},
		{"node true", 1, 6, "bare true is not allowed"},
		{"node #maybe", 1, 6, "unknown keyword #maybe"},
		{"node key=/-1", 1, 10, "slashdash (/-) cannot comment out only a property's value"},
		{"node key /- =1", 1, 10, "cannot go between a property key and '='"},
		{"node 1=2", 1, 6, "a property key must be a string"},
		{"node {} 1", 1, 9, "after a children block"},
		{"node {} {}", 1, 9, "only one children block"},
		{"node /-", 1, 6, "slashdash (/-) must be followed by"},
		{"/-", 1, 1, "slashdash (/-) must be followed by a node"},
		{"node \\ x", 1, 6, "line continuation"},
		{"node 0x", 1, 8, "expected a hexadecimal digit"},
		{"node 0o8", 1, 8, "expected a octal digit"},
		{"node 1.5.2", 1, 9, "invalid character '.' in number"},
		{"node #\"abc", 1, 6, "unterminated raw string"},
		{"node \"\"\"abc\"\"\"", 1, 9, "must start with a newline"},
		{"node \"\"\"\n  a\n b\n  \"\"\"", 3, 1, "every line of a multi-line string"},
		{"node \"\"\"\n  a\n  b\"\"\"", 3, 3, "closing \"\"\" of a multi-line string must be on its own line"},
		{"node \"\\u{D800}\"", 1, 7, "not a Unicode scalar value"},
		{"node \"\\u{1234567}\"", 1, 7, "1 to 6 hexadecimal digits"},
		{"(t)", 1, 4, "expected a node name"},
		{"1 2", 1, 1, "node name must be a string"},
		{"#true", 1, 1, "node name must be a string, not the keyword #true"},
		{"node (a b)", 1, 9, "expected ')'"},
		{"node a; ;", 1, 9, "expected a node name, found ';'"},
	}
	for _, tt := range tests {
		// Some of these are valid KDL 1.0, so parse with the KDL 2.0
		// grammar only.
		_, err := ParseVersion([]byte(tt.src), 2)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.src, tt.msg)
			continue
		}
		var kerr *Error
		if !errors.As(err, &kerr) {
			t.Errorf("Parse(%q): error %v is a %T, want *Error", tt.src, err, err)
			continue
		}
		if kerr.Pos.Line != tt.line || kerr.Pos.Col != tt.col || !strings.Contains(kerr.Msg, tt.msg) {
			t.Errorf("Parse(%q) = %q, want %d:%d: ...%s...\n%s", tt.src, err, tt.line, tt.col, tt.msg, kerr.Snippet())
		}
		if want := err.Error(); !strings.HasPrefix(want, fmt.Sprintf("%d:%d: ", tt.line, tt.col)) {
			t.Errorf("Error() = %q, want it to start with LINE:COL", want)
		}
	}
}

func TestErrorOffsetAndSourceLine(t *testing.T) {
	_, err := Parse([]byte("a\r\nbé \"x"))
	kerr := asError(t, err)
	checkPos(t, "error", kerr.Pos, 2, 4, 7)
	if kerr.SourceLine != "bé \"x" {
		t.Errorf("SourceLine = %q", kerr.SourceLine)
	}
}

func TestSnippet(t *testing.T) {
	_, err := Parse([]byte("a 1\nnode \"abc\nnext"))
	kerr := asError(t, err)
	want := "node \"abc\n         ^"
	if got := kerr.Snippet(); got != want {
		t.Errorf("Snippet() =\n%s\nwant\n%s", got, want)
	}

	// Tabs are kept so that the caret lines up; dangerous characters are
	// replaced.
	e := &Error{Pos: Pos{Line: 1, Col: 4}, Msg: "x", SourceLine: "\tab\u202Ec"}
	if got, want := e.Snippet(), "\tab\uFFFDc\n\t  ^"; got != want {
		t.Errorf("Snippet() = %q, want %q", got, want)
	}
	// An error at the end of the line puts the caret after it.
	e = &Error{Pos: Pos{Line: 1, Col: 6}, Msg: "x", SourceLine: "abc"}
	if got, want := e.Snippet(), "abc\n     ^"; got != want {
		t.Errorf("Snippet() = %q, want %q", got, want)
	}
	if got, want := e.Error(), "1:6: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestKDL1Fallback(t *testing.T) {
	doc := mustParse(t, "node true false null 1 r\"raw\\n\" r#\"a\"b\"# \"a\\/b\" key=true x=\"multi\nline\"")
	if doc.Version != 1 {
		t.Fatalf("Version = %d, want 1", doc.Version)
	}
	n := doc.Nodes[0]
	wantArgs := []string{"#true", "#false", "#null", "1", `"raw\\n"`, `"a\"b"`, `"a/b"`}
	if len(n.Args) != len(wantArgs) {
		t.Fatalf("got %d args, want %d", len(n.Args), len(wantArgs))
	}
	for i, w := range wantArgs {
		if got := n.Args[i].String(); got != w {
			t.Errorf("arg %d = %s, want %s", i, got, w)
		}
	}
	if n.Args[0].Kind != KindBool || !n.Args[0].Bool || n.Args[2].Kind != KindNull {
		t.Errorf("keywords parsed as %v and %v", n.Args[0].Kind, n.Args[2].Kind)
	}
	if p, ok := n.Prop("key"); !ok || p.Value.Kind != KindBool || !p.Value.Bool {
		t.Errorf("key = %+v", p)
	}
	if p, ok := n.Prop("x"); !ok || p.Value.Str != "multi\nline" {
		t.Errorf("x = %+v", p)
	}
	if n.Type != "" {
		t.Errorf("node type %q", n.Type)
	}

	// Valid in both versions: KDL 2.0 wins.
	if doc := mustParse(t, `node "x" 1`); doc.Version != 2 {
		t.Errorf("Version = %d, want 2", doc.Version)
	}
	// Invalid in both: the KDL 2.0 error is returned.
	_, err := Parse([]byte("node true #false"))
	if err == nil || !strings.Contains(err.Error(), "1:6: bare true") {
		t.Errorf("error = %v, want the KDL 2.0 error at 1:6", err)
	}
	// KDL 1.0 identifiers cannot be bare values.
	if _, err := ParseVersion([]byte("node foo"), 1); err == nil {
		t.Error("KDL 1.0 accepted a bare identifier argument")
	}
}

func TestVersionMarker(t *testing.T) {
	// "/- kdl-version 2" never falls back.
	_, err := Parse([]byte("/- kdl-version 2\nnode true"))
	if err == nil || !strings.Contains(err.Error(), "2:6: bare true") {
		t.Errorf("error = %v, want a KDL 2.0 error", err)
	}
	// "/- kdl-version 1" parses as KDL 1.0 only.
	doc := mustParse(t, "\uFEFF/- kdl-version 1\nnode true")
	if doc.Version != 1 || len(doc.Nodes) != 1 || doc.Nodes[0].Args[0].Kind != KindBool {
		t.Errorf("got version %d: %s", doc.Version, Format(doc))
	}
	if _, err := Parse([]byte("/- kdl-version 1\nnode #true")); err == nil {
		t.Error("a KDL 1.0 document accepted #true")
	}
	if _, err := Parse([]byte("/- kdl-version 1\nnode \"\"\"\nx\n\"\"\"")); err == nil {
		t.Error("a KDL 1.0 document accepted a multi-line string")
	}
	doc = mustParse(t, "/- kdl-version 2\nnode #true")
	if doc.Version != 2 || len(doc.Nodes) != 1 {
		t.Errorf("got version %d: %s", doc.Version, Format(doc))
	}
	// Only a marker on a line of its own counts.
	doc = mustParse(t, "/- kdl-version 2 3\nnode true")
	if doc.Version != 1 {
		t.Errorf("Version = %d, want 1", doc.Version)
	}
	if _, err := ParseVersion([]byte("a"), 3); err == nil {
		t.Error("ParseVersion accepted version 3")
	}
}

func TestDeepNesting(t *testing.T) {
	deep := strings.Repeat("a {", 1000) + strings.Repeat("}", 1000)
	_, err := Parse([]byte(deep))
	if err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("error = %v, want a nesting error", err)
	}
	ok := strings.Repeat("a{", MaxDepth) + strings.Repeat("}", MaxDepth)
	doc := mustParse(t, ok)
	depth := 0
	for n := doc.Nodes[0]; len(n.Children) > 0; n = n.Children[0] {
		depth++
	}
	if depth != MaxDepth-1 {
		t.Errorf("depth %d, want %d", depth, MaxDepth-1)
	}
	// Slashdashed blocks count too.
	if _, err := Parse([]byte("x /-" + deep)); err == nil {
		t.Error("deep slashdashed block accepted")
	}
	// Block comments nest without recursion.
	mustParse(t, "node "+strings.Repeat("/*", 100000)+strings.Repeat("*/", 100000))
}

func TestValues(t *testing.T) {
	doc := mustParse(t, `n 1_000 -0x10 0b101 0o17 123456789012345678901234567890 1.5e3 #inf #-inf #nan #true #null "s" #"r\"# ident`)
	a := doc.Nodes[0].Args
	ints := []int64{1000, -16, 5, 15}
	for i, w := range ints {
		if got, ok := a[i].Int64(); !ok || got != w {
			t.Errorf("arg %d: Int64() = %d, %v; want %d", i, got, ok, w)
		}
	}
	if _, ok := a[4].Int64(); ok || a[4].Int.String() != "123456789012345678901234567890" {
		t.Errorf("big int: %v", a[4].Int)
	}
	if _, ok := a[5].Int64(); ok || a[5].Kind != KindFloat || a[5].Float != 1500 {
		t.Errorf("float: %+v", a[5])
	}
	if !math.IsInf(a[6].Float, 1) || !math.IsInf(a[7].Float, -1) || !math.IsNaN(a[8].Float) {
		t.Errorf("float keywords: %v %v %v", a[6].Float, a[7].Float, a[8].Float)
	}
	if a[9].Kind != KindBool || !a[9].Bool || a[10].Kind != KindNull {
		t.Errorf("keywords: %+v %+v", a[9], a[10])
	}
	if a[11].Str != "s" || a[11].Raw != `"s"` || a[12].Str != `r\` || a[13].Str != "ident" {
		t.Errorf("strings: %q %q %q %q", a[11].Str, a[11].Raw, a[12].Str, a[13].Str)
	}
	wantStrings := []string{"1000", "-16", "5", "15", "123456789012345678901234567890", "1.5E+3",
		"#inf", "#-inf", "#nan", "#true", "#null", "s", `"r\\"`, "ident"}
	for i, w := range wantStrings {
		if got := a[i].String(); got != w {
			t.Errorf("arg %d: String() = %s, want %s", i, got, w)
		}
	}
	// Appending to a value slice must not clobber another node's values.
	doc = mustParse(t, "a 1\nb 2")
	_ = append(doc.Nodes[0].Args, Value{Kind: KindNull})
	if doc.Nodes[1].Args[0].Kind != KindInt {
		t.Error("append to Args clobbered the next node")
	}
}

func TestNodeProp(t *testing.T) {
	doc := mustParse(t, `node a=1 b=2 a=3`)
	n := doc.Nodes[0]
	if len(n.Props) != 3 {
		t.Fatalf("got %d props, want all 3 in source order", len(n.Props))
	}
	p, ok := n.Prop("a")
	if v, _ := p.Value.Int64(); !ok || v != 3 {
		t.Errorf("Prop(a) = %+v, %v; want the last one", p, ok)
	}
	checkPos(t, "Prop(a)", p.Pos, 1, 14, 13)
	if _, ok := n.Prop("c"); ok {
		t.Error("Prop(c) found")
	}
}

func TestValueString(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Value{Kind: KindString, Str: "plain"}, "plain"},
		{Value{Kind: KindString, Str: "two words"}, `"two words"`},
		{Value{Kind: KindString, Str: ""}, `""`},
		{Value{Kind: KindString, Str: "true"}, `"true"`},
		{Value{Kind: KindString, Str: "-1x"}, `"-1x"`},
		{Value{Kind: KindString, Str: ".5"}, `".5"`},
		{Value{Kind: KindString, Str: "a\x01\u2028\u200e\"\\"}, `"a\u{1}\u{2028}\u{200e}\"\\"`},
		{Value{Kind: KindString, Str: "x", Type: "my type"}, `("my type")x`},
		{Value{Kind: KindString, Str: "x", HasType: true}, `("")x`},
		{Value{Kind: KindFloat, Float: 0.1}, "0.1"},
		{Value{Kind: KindFloat, Float: 3}, "3.0"},
		{Value{Kind: KindFloat, Float: 1e300}, "1E+300"},
		{Value{Kind: KindFloat, Float: 2.5, Raw: "1.0"}, "2.5"}, // stale Raw is ignored
		{Value{Kind: KindInt}, "0"},
		{Value{Kind: KindBool}, "#false"},
		{Value{Kind: KindNull, Type: "t"}, "(t)#null"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%+v.String() = %s, want %s", tt.v, got, tt.want)
		}
		// Every rendering is valid KDL that reads back the same.
		doc, err := Parse([]byte("n " + tt.v.String()))
		if err != nil {
			t.Errorf("re-parsing %s: %v", tt.v.String(), err)
			continue
		}
		if got := doc.Nodes[0].Args[0].String(); got != tt.want {
			t.Errorf("re-parsed %s as %s", tt.want, got)
		}
	}
}

func TestFormat(t *testing.T) {
	src := "// comment\n(t)node 1 z=1 \"a b\" a=#\"x\"# z=2 {\n  child; /- skipped\n  other { leaf }\n}\nempty {}\n"
	want := "(t)node 1 \"a b\" a=x z=2 {\n    child\n    other {\n        leaf\n    }\n}\nempty\n"
	doc := mustParse(t, src)
	if got := doc.String(); got != want {
		t.Errorf("Format =\n%s\nwant\n%s", got, want)
	}
	if got := Format(&Document{}); string(got) != "\n" {
		t.Errorf("empty document prints %q", got)
	}
	if got := doc.Nodes[1].String(); got != "empty\n" {
		t.Errorf("Node.String() = %q", got)
	}
}

func TestNeverPanics(t *testing.T) {
	// A few nasty inputs; FuzzParse explores many more.
	inputs := []string{
		"", "\uFEFF", "\\", "/", "/-", "/*", "(", "()", "(a", "#", "##", "#\"", "r#", "\"", "\"\\", "\"\\u{", "\"\"\"",
		"\"\"\"\n", "\"\"\"\n\\", "#\"\"\"\n\"\"\"", "n 0x", "n -", "n +.", "n 1e+", "a {", "a }", "a=1", "{", "}",
		"n \"\\u{}\"", "n \"\\u{110000}\"", "n \"\"\"\n  \\\n\"\"\"", "/- kdl-version 1", "/- kdl-version 1\nr#\"",
	}
	for _, in := range inputs {
		doc, err := Parse([]byte(in))
		if err == nil {
			Format(doc)
		}
	}
}

func TestKDL1Positions(t *testing.T) {
	doc := mustParse(t, "a true\r\n  b r\"x\" k=null")
	if doc.Version != 1 {
		t.Fatalf("Version = %d, want 1", doc.Version)
	}
	b := doc.Nodes[1]
	checkPos(t, "b", b.Pos, 2, 3, 10)
	checkPos(t, "r\"x\"", b.Args[0].Pos, 2, 5, 12)
	checkPos(t, "k", b.Props[0].Pos, 2, 10, 17)
	checkPos(t, "null", b.Props[0].Value.Pos, 2, 12, 19)
	if got := doc.String(); got != "a #true\nb x k=#null\n" {
		t.Errorf("Format = %q", got)
	}
}

// asError returns err as a parse *Error, failing the test when it is not one.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var kerr *Error
	if !errors.As(err, &kerr) {
		t.Fatalf("error %v is not a *kdl.Error", err)
	}
	return kerr
}
