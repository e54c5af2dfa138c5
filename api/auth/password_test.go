package auth

import (
	"strings"
	"testing"
)

func TestCheckNewPassword(t *testing.T) {
	if n := len(sortedCommon()); n < 10000 {
		t.Fatalf("%d common passwords embedded, want at least 10,000", n)
	}
	for _, pw := range []string{
		strings.Repeat(" ", 10), strings.Repeat(" ", 12), "kq7-vz2-pw9", "a fine long\x00passphrase",
		"a fine long\npassphrase", "qwerty123456", "QWERTY123456", "ｑｗｅｒｔｙ123456", "password1234",
		"!!Sunshine2024!!", "  dragon  1234", strings.Repeat("z", 16), "abcabcabcabc", "passwordpassword",
		strings.Repeat("long", 65) + "!",
	} {
		if err := CheckNewPassword(pw); err == nil || !strings.HasPrefix(err.Error(), "password ") {
			t.Errorf("CheckNewPassword(%q) = %v, want a refusal", pw, err)
		}
	}
	for _, pw := range []string{"tidy-ocelot-73", "ünïcödé-lämp-9", "correct horse battery staple", "sunshine over the bay 42", "日本語のパスフレーズです"} {
		if err := CheckNewPassword(pw); err != nil {
			t.Errorf("CheckNewPassword(%q) = %v, want nil", pw, err)
		}
	}
}
