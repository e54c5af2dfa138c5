package api

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// slugRE is what org and tenant slugs look like: lower-case letters,
// digits and single hyphens inside, 2 to 40 characters (a URL path
// segment and a DNS label).
var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){1,39}$`)

const maxSlug = 40

// reservedSlugs would be confusing or collide with routes.
var reservedSlugs = map[string]bool{"api": true, "new": true, "admin": true, "settings": true, "me": true}

// checkSlug returns a 422 unless s is a valid slug.
func checkSlug(field, s string) error {
	if !slugRE.MatchString(s) || strings.Contains(s, "--") {
		return invalid(field + " must be 2-40 lower-case letters, digits and single hyphens, starting and ending with a letter or digit")
	}
	if reservedSlugs[s] {
		return invalid(field + " " + s + " is reserved")
	}
	return nil
}

// slugify derives a slug from a name: "Acme Corp." → "acme-corp",
// "Zürich Ops" → "zurich-ops". It returns "" when nothing usable is left.
func slugify(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r): // the accents NFKD split off
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(unicode.ToLower(r))
		default:
			hyphen = true
		}
		if b.Len() >= maxSlug {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > maxSlug {
		s = strings.TrimRight(s[:maxSlug], "-")
	}
	if len(s) < 2 {
		return ""
	}
	return s
}

// checkName returns a 422 unless name is a usable display name: the one
// check of every name a person gives (a user's, an organization's, a
// tenant's, an API key's). Control characters and the invisible
// characters that reorder or break text (bidirectional controls such as
// U+202E, line and paragraph separators) are refused: they let a name pass
// for another in a list, an email or an audit log. Letters of any script,
// and the joiners emoji and some scripts need, are fine.
func checkName(field, name string) error {
	n := strings.TrimSpace(name)
	if n == "" {
		return invalid(field + " is required")
	}
	if len(n) > 200 {
		return invalid(field + " is longer than 200 bytes")
	}
	for _, r := range n {
		if unsafeInName(r) {
			return invalid(fmt.Sprintf("%s contains %U, a control, bidirectional or separator character", field, r))
		}
	}
	return nil
}

// unsafeInName reports whether r may not appear in a display name.
func unsafeInName(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) ||
		unicode.In(r, unicode.Zl, unicode.Zp)
}

// checkEmail returns the address normalised (NFKC, so that full-width
// letters are plain ones; trimmed; the domain lower-cased) or a 422. The
// store compares addresses in their canonical form (db.CanonicalEmail:
// case-folded too), so every spelling of one address is one account.
func checkEmail(email string) (string, error) {
	e := strings.TrimSpace(norm.NFKC.String(email))
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", invalid("email is not a valid address")
	}
	for _, r := range e {
		if unsafeInName(r) {
			return "", invalid("email is not a valid address")
		}
	}
	at := strings.LastIndexByte(e, '@')
	return e[:at] + strings.ToLower(e[at:]), nil
}
