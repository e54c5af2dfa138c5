package dashboard

import (
	"reflect"
	"testing"
)

func TestANSISpans(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []span
	}{
		{"plain", "hello <b>", []span{{Text: "hello <b>"}}},
		{"red then reset", "\x1b[31merror\x1b[0m done", []span{{"fg1", "error"}, {"", " done"}}},
		{"bold bright on blue", "\x1b[1;92;44mok", []span{{"fg10 bg4 b", "ok"}}},
		{"256 palette low", "\x1b[38;5;9mx", []span{{"fg9", "x"}}},
		{"truecolor dropped", "\x1b[38;2;1;2;3mx\x1b[39my", []span{{"", "xy"}}},
		{"cursor moves dropped", "a\x1b[2Kb\x1b[1Ac", []span{{"", "abc"}}},
		{"osc link dropped", "\x1b]8;;http://x\x07link\x1b]8;;\x1b\\", []span{{"", "link"}}},
		{"controls dropped", "a\rb\x00c\td", []span{{"", "abc\td"}}},
		{"cut short", "a\x1b[3", []span{{"", "a"}}},
		{"only escapes", "\x1b[0m", []span{{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ansiSpans(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ansiSpans(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzANSISpans(f *testing.F) {
	for _, s := range []string{"\x1b[31mx", "\x1b]0;t\x07", "\x1b[38;5;", "a\x1b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sp := range ansiSpans(s) {
			for i := 0; i < len(sp.Text); i++ {
				if sp.Text[i] == 0x1b {
					t.Fatalf("escape left in %q", sp.Text)
				}
			}
		}
	})
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                     "/",
		"/orgs/a?x=1":          "/orgs/a?x=1",
		"//evil.example/":      "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"javascript:alert(1)":  "/",
		"orgs/a":               "/",
		"/a\r\nSet-Cookie: x":  "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
