package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct") || !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Fatalf("hash %q", h)
	}
	if err := CheckPassword(h, "correct horse battery"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := CheckPassword(h, "correct horse batterY"); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v", err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2id$", "$bcrypt$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA"} {
		if err := CheckPassword(bad, "x"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("CheckPassword(%q) = %v, want a format error", bad, err)
		}
	}
}

func TestAPIKey(t *testing.T) {
	k := NewAPIKey()
	prefix, secret, ok := ParseAPIKey(k.Key)
	if !ok || prefix != k.Prefix || !CheckToken(k.Hash, secret) {
		t.Fatalf("ParseAPIKey(%q) = %q, %q, %v", k.Key, prefix, secret, ok)
	}
	if strings.Contains(string(k.Hash), secret) || CheckToken(k.Hash, secret+"x") {
		t.Error("hash check is wrong")
	}
	for _, bad := range []string{"", "bik_", "bik_short_" + strings.Repeat("a", 43), "xyz_abcdefgh_" + strings.Repeat("a", 43), "bik_abcdefgh_short"} {
		if _, _, ok := ParseAPIKey(bad); ok {
			t.Errorf("ParseAPIKey(%q) accepted", bad)
		}
	}
	if NewAPIKey().Prefix == k.Prefix {
		t.Error("two keys share a prefix")
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	h, _ := HashPassword("correct horse battery")
	for b.Loop() {
		_ = CheckPassword(h, "correct horse battery")
	}
}
