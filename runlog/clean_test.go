package runlog

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	// Not parallel: AllocsPerRun refuses to run beside other tests.
	cases := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"empty", "", ""},
		{"NUL", "a\x00b\x00", "ab"},
		{"invalid byte", "a\xffb", "a\uFFFDb"},
		{"run of invalid bytes", "a\xff\xfe\xfdb", "a\uFFFDb"},
		{"truncated character", "\xe2\x9c", "\uFFFD"},
		{"both", "\x00\xff", "\uFFFD"},
		{"valid multibyte", "✓ é", "✓ é"},
	}
	for _, tc := range cases {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("%s: clean(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { clean("a clean line of output") }); n != 0 {
		t.Errorf("clean of a valid line allocates %v times", n)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		strings.Repeat("x", MaxLineBytes),
		strings.Repeat("x", MaxLineBytes+1),
		strings.Repeat("é", MaxLineBytes),   // 2 bytes each: a boundary falls inside one
		strings.Repeat("€", MaxLineBytes),   // 3 bytes each
		strings.Repeat("😀", MaxLineBytes/2), // 4 bytes each
	} {
		var parts []string
		rest := in
		for {
			var part string
			part, rest = cut(rest)
			parts = append(parts, part)
			if rest == "" {
				break
			}
		}
		for _, p := range parts {
			if len(p) > MaxLineBytes || !utf8.ValidString(p) {
				t.Errorf("a part of %d bytes, valid UTF-8 %v", len(p), utf8.ValidString(p))
			}
		}
		if strings.Join(parts, "") != in {
			t.Errorf("the %d parts of a %d-byte line do not make it up", len(parts), len(in))
		}
		if want := max(1, (len(in)+MaxLineBytes-1)/MaxLineBytes); len(parts) > want+1 {
			t.Errorf("%d parts for %d bytes", len(parts), len(in))
		}
	}
}
