package api

import (
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

// checkName returns a 422 unless name is a usable display name.
func checkName(field, name string) error {
	n := strings.TrimSpace(name)
	if n == "" {
		return invalid(field + " is required")
	}
	if len(n) > 200 {
		return invalid(field + " is longer than 200 bytes")
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return invalid(field + " contains control characters")
		}
	}
	return nil
}

// checkEmail returns the address normalised (trimmed; the domain
// lower-cased) or a 422.
func checkEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", invalid("email is not a valid address")
	}
	at := strings.LastIndexByte(e, '@')
	return e[:at] + strings.ToLower(e[at:]), nil
}
