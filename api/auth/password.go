package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// commonPasswords is the list of the 30,000 most common passwords, one a
// line, lower-cased (see commonpasswords/README.md for its source and
// licence).
//
//go:embed commonpasswords/list.txt
var commonPasswords string

// sortedCommon returns the common passwords sorted, for binary search;
// the strings point into the embedded list.
var sortedCommon = sync.OnceValue(func() []string {
	list := strings.Fields(commonPasswords)
	slices.Sort(list)
	return slices.Compact(list)
})

// IsCommonPassword reports whether password is on the list of common
// passwords, in any letter case and Unicode form.
func IsCommonPassword(password string) bool {
	_, found := slices.BinarySearch(sortedCommon(), foldPassword(password))
	return found
}

func foldPassword(s string) string {
	return cases.Fold().String(norm.NFKC.String(s))
}

// CheckNewPassword returns an error, whose message says what is wrong in
// words a person can act on, unless password may be chosen as a new one.
// The rules follow NIST SP 800-63B: at least MinPasswordLength characters (not bytes) and at most
// MaxPasswordLength bytes; no control characters (NUL, tab, newline,
// escape...), which a person cannot type the same way twice; not only
// spaces, nor one character or a short run repeated; and not a common
// password, in any letter case, alone or with digits, punctuation and
// spaces around it ("Password1234!").
func CheckNewPassword(password string) error {
	if !utf8.ValidString(password) {
		return errors.New("password is not valid UTF-8")
	}
	for _, r := range password {
		if unicode.IsControl(r) {
			return errors.New("password must not contain control characters (such as NUL, tab or newline)")
		}
	}
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLength:
		return fmt.Errorf("password must be at least %d characters", MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return fmt.Errorf("password must be at most %d bytes", MaxPasswordLength)
	}
	if strings.TrimSpace(password) == "" {
		return errors.New("password must not be only spaces")
	}
	if repeated(password) {
		return errors.New("password must not be one character or a short run repeated")
	}
	if IsCommonPassword(password) || IsCommonPassword(strings.TrimFunc(password, notLetter)) {
		return errors.New("password is too common: it is on a list of common passwords, alone or with digits and symbols around it; a few unrelated words make a good one")
	}
	return nil
}

// repeated reports whether s is a shorter string written twice or more
// ("aaaaaaaaaaaa", "abcabcabcabc", "passwordpassword").
func repeated(s string) bool {
	for n := 1; n <= len(s)/2; n++ {
		if len(s)%n == 0 && strings.Repeat(s[:n], len(s)/n) == s {
			return true
		}
	}
	return false
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }
