package kdl

import "testing"

func TestPrintableRun(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 19; pos++ {
			b := []byte("abcdefghijklmnopqrs")
			b[pos] = byte(c)
			want := len(b)
			if c < 0x20 || c >= 0x7F {
				want = pos
			}
			if got := printableRun(string(b)); got != want {
				t.Fatalf("printableRun with %#x at %d = %d, want %d", c, pos, got, want)
			}
		}
	}
}

func TestRuneName(t *testing.T) {
	for r, want := range map[rune]string{0: "U+0000", 0x19: "U+0019", 0x200E: "U+200E", 0x10FFFF: "U+10FFFF"} {
		if got := runeName(r); got != want {
			t.Errorf("runeName(%#x) = %s, want %s", r, got, want)
		}
	}
}
