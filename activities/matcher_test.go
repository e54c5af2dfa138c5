package activities

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The matcher masks exactly the bytes that some occurrence of some pattern
// covers, as a naive search finds them: with short patterns, and with
// patterns of 4 bytes or more (which go through the prefilter).
func TestMatcherMasksWhatEveryOccurrenceCovers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[r.IntN(3)]
		}
		return string(b)
	}
	for _, shortest := range []int{1, 4} {
		for range 2000 {
			var patterns []string
			for range 1 + r.IntN(5) {
				patterns = append(patterns, word(shortest+r.IntN(4)))
			}
			text := word(r.IntN(30))
			covered := make([]bool, len(text))
			for _, p := range patterns {
				for i := 0; i+len(p) <= len(text); i++ {
					if text[i:i+len(p)] == p {
						for j := i; j < i+len(p); j++ {
							covered[j] = true
						}
					}
				}
			}
			var want strings.Builder
			for i := 0; i < len(text); i++ {
				if !covered[i] {
					want.WriteByte(text[i])
					continue
				}
				if i == 0 || !covered[i-1] {
					want.WriteString("*")
				}
			}
			m := newMatcher(patterns)
			long := !slices.ContainsFunc(patterns, func(p string) bool { return len(p) < 4 })
			if (m.prefix != nil) != long {
				t.Fatalf("patterns %q: prefilter %v", patterns, m.prefix != nil)
			}
			if got := m.replace(text, "*"); got != want.String() {
				t.Fatalf("patterns %q in %q: got %q, want %q", patterns, text, got, want.String())
			}
		}
	}
}

func TestMaskErrorKeepsAnErrorWithoutSecrets(t *testing.T) {
	k := newMasker(map[string]string{"TOKEN": token})
	if err := k.maskError(errors.New("x: " + hex.EncodeToString([]byte(token)))); err.Error() != "x: ***" {
		t.Errorf("an error with the secret in hex: %v", err)
	}
	plain := errors.New("no secret here")
	if err := k.maskError(plain); err != plain { //nolint:errorlint // the very error value must come back, not one wrapping it
		t.Errorf("an error without a secret is not kept as it is: %v", err)
	}
	var none *masker
	if none.mask("x") != "x" || none.maskError(plain) != plain { //nolint:errorlint // the very error value must come back
		t.Error("a nil masker changed something")
	}
}
