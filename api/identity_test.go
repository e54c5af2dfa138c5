package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/apiview"
)

func signupBody(email, password, name, org string) map[string]string {
	return map[string]string{"email": email, "password": password, "name": name, "organization": org}
}

// Weak passwords are refused at signup with a 422 about the password:
// under 12 characters (ten spaces among them), control characters,
// whitespace or one character repeated, and the common passwords of the
// embedded list in any letter case, alone or stretched with digits and
// punctuation.
func TestSecurityPasswordRules(t *testing.T) {
	t.Parallel()
	e := setup(t)
	anon := e.anon()
	for name, pw := range map[string]string{
		"ten spaces":         strings.Repeat(" ", 10),
		"twelve spaces":      strings.Repeat(" ", 12),
		"eleven characters":  "kq7-vz2-pw9",
		"NUL inside":         "a fine long\x00passphrase",
		"tab inside":         "a fine long\tpassphrase",
		"escape inside":      "a fine long\x1bpassphrase",
		"common, long":       "qwerty123456",
		"common, any case":   "LeaveMeAlone",
		"common stretched":   "password1234",
		"common with marks":  "Sunshine2024!!",
		"one character":      strings.Repeat("z", 16),
		"repeated short run": "abcabcabcabc",
	} {
		email := strings.NewReplacer(" ", "-", ",", "").Replace(name) + "@acme.test"
		r := anon.do("POST", "/auth/signup", signupBody(email, pw, "Weak", "Weak "+name))
		// (A NUL is refused by the decoder already: a 400 for the field.)
		if (r.status != 422 && r.status != 400) || !strings.Contains(r.errorMessage(), "password") {
			t.Errorf("%s (%q): %d %s, want 422 about the password", name, pw, r.status, r.body)
		}
	}
	// Twelve characters are enough, counted as characters, not bytes.
	for _, pw := range []string{"tidy-ocelot-73", "ünïcödé-lämp-9"} {
		anon.must(202, "POST", "/auth/signup", signupBody("ok"+itoa(len(pw))+"@acme.test", pw, "Ok", "Ok Org "+itoa(len(pw))))
	}
}

// Full-width and differently-cased forms of an email are the same account:
// signup creates nothing for them, login and invitations find the account.
func TestSecurityEmailsAreCanonical(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	e.signup("straße@acme.test", "Street")
	for _, email := range []string{"ＯＷＮＥＲ@ａｃｍｅ.test", "Owner@ACME.test", "ｏｗｎｅｒ＠ａｃｍｅ．ｔｅｓｔ", "STRASSE@acme.test"} {
		e.anon().must(202, "POST", "/auth/signup", signupBody(email, "another fine passphrase", "Twin", "Twin "+itoa(len(email))))
	}
	var n int
	if err := e.store.Pool().QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d users after signing up twins of two, want 2", n)
	}
	// Login finds the account from any form, with its own password only.
	for _, email := range []string{"ＯＷＮＥＲ@ａｃｍｅ.test", "ｏｗｎｅｒ＠ａｃｍｅ．ｔｅｓｔ", " Owner@Acme.Test "} {
		e.anon().must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "password-owner@acme.test"})
		e.anon().must(401, "POST", "/auth/login", map[string]string{"email": email, "password": "another fine passphrase"})
	}
	e.anon().must(200, "POST", "/auth/login", map[string]string{"email": "STRASSE@acme.test", "password": "password-straße@acme.test"})
	// An invitation by another form names the same user.
	r := owner.must(201, "POST", "/orgs/acme/members", map[string]string{"email": "STRASSE@ＡＣＭＥ.test"})
	var m apiview.Member
	r.json(t, &m)
	if m.Email != "straße@acme.test" {
		t.Errorf("invited %q, want the account straße@acme.test", m.Email)
	}
}

// Every display name (a user's, an organization's, a tenant's, an API
// key's) refuses control and bidirectional-override characters, which let
// a name pass for another in a list or an audit log.
func TestSecurityNamesRefuseControlAndBidi(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	anon := e.anon()
	for _, bad := range []string{"\u202E", "\u202A", "\u2066", "\u2069", "\u200E", "\u200F", "\u061C", "\u0007", "\u0085", "\u2028"} {
		for _, tc := range []struct {
			c            *client
			method, path string
			body         any
			field        string
		}{
			{anon, "POST", "/auth/signup", signupBody("bidi@acme.test", "a fine long passphrase", "Ann"+bad+"nimda", "Bidi Org"), "name"},
			{anon, "POST", "/auth/signup", signupBody("bidi@acme.test", "a fine long passphrase", "Ann", "Bidi"+bad+" Org"), "organization"},
			{owner, "POST", "/orgs/acme/tenants", map[string]string{"name": "t" + bad + "2"}, "name"},
			{owner, "PATCH", "/orgs/acme/tenants/t1", map[string]string{"name": "t" + bad + "1"}, "name"},
			{owner, "POST", "/orgs/acme/api-keys", map[string]any{"name": "deploy" + bad + "prod", "scopes": []string{"runs:read"}}, "name"},
		} {
			r := tc.c.do(tc.method, tc.path, tc.body)
			if r.status != 422 || !strings.HasPrefix(r.errorMessage(), tc.field+" ") {
				t.Errorf("%s %s with %U in %s: %d %s, want 422 about %s", tc.method, tc.path, []rune(bad)[0], tc.field, r.status, r.body, tc.field)
			}
		}
	}
	// Letters of any script, emoji with joiners and non-joiners stay fine.
	for _, name := range []string{"Zürich Ops", "日本チーム", "فريق", "👩‍💻 team", "می\u200cخواهم"} {
		owner.must(201, "POST", "/orgs/acme/api-keys", map[string]any{"name": name, "scopes": []string{"runs:read"}})
	}
}

// Login and signup answer byte for byte the same whether or not the email
// has an account: a wrong password and an unknown email get the same 401,
// and signup is a 202 with the same body for a new email and a taken one
// (which creates nothing and signs nobody in).
func TestSecurityLoginAndSignupSameWhetherEmailExists(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.signup("ann@acme.test", "Acme")
	e.api.signupFloor = defaultSignupFloor // as served
	same := func(what string, a, b resp) {
		t.Helper()
		if a.status != b.status || string(a.body) != string(b.body) {
			t.Errorf("%s: %d %s vs %d %s", what, a.status, a.body, b.status, b.body)
		}
		for _, h := range []http.Header{a.header, b.header} {
			h.Del("Date")
			h.Del("X-Request-Id")
		}
		if !equalHeaders(a.header, b.header) {
			t.Errorf("%s: headers differ:\n%v\n%v", what, a.header, b.header)
		}
	}
	wrong := e.anon().do("POST", "/auth/login", map[string]string{"email": "ann@acme.test", "password": "not her passphrase"})
	unknown := e.anon().do("POST", "/auth/login", map[string]string{"email": "nobody@acme.test", "password": "not her passphrase"})
	if wrong.status != 401 {
		t.Errorf("wrong password: %d %s", wrong.status, wrong.body)
	}
	same("login, wrong password vs unknown email", wrong, unknown)

	taken := e.anon()
	fresh := e.anon()
	rTaken := taken.do("POST", "/auth/signup", signupBody("ann@acme.test", "a fine long passphrase", "Imposter", "Imposter Org"))
	rFresh := fresh.do("POST", "/auth/signup", signupBody("bob@acme.test", "a fine long passphrase", "Bob", "Bob Org"))
	if rFresh.status != 202 {
		t.Errorf("signup of a new email: %d %s, want 202", rFresh.status, rFresh.body)
	}
	same("signup, taken vs new email", rTaken, rFresh)
	// Neither is signed in; the taken email created nothing.
	taken.must(401, "GET", "/me", nil)
	fresh.must(401, "GET", "/me", nil)
	if _, err := e.store.Organizations().GetBySlug(t.Context(), "imposter-org"); err == nil {
		t.Error("signup with a taken email created its organization")
	}
	fresh.must(200, "POST", "/auth/login", map[string]string{"email": "bob@acme.test", "password": "a fine long passphrase"})
	e.anon().must(401, "POST", "/auth/login", map[string]string{"email": "ann@acme.test", "password": "a fine long passphrase"})
	// A taken organization slug is still a 409: slugs are public.
	r := e.anon().do("POST", "/auth/signup", signupBody("carl@acme.test", "a fine long passphrase", "Carl", "Acme"))
	if r.status != 409 || !strings.Contains(r.errorMessage(), "organization_slug") {
		t.Errorf("taken slug: %d %s, want 409", r.status, r.body)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\n") != strings.Join(b[k], "\n") {
			return false
		}
	}
	return true
}

// A state-changing request signed in by the session cookie must say
// Content-Type: application/json, even without a body, so that a page on
// another site cannot make the browser send it (forms and simple requests
// cannot set that type without a CORS preflight). Signup and login are
// held to it too (login CSRF); API keys are not.
func TestSecurityCookieRequestsNeedJSONContentType(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t2"})
	key := owner.apiKey("acme", map[string]any{"name": "k", "scopes": Scopes})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		h := map[string]string{}
		if ct != "" {
			h["Content-Type"] = ct
		}
		for _, tc := range []struct {
			c            *client
			method, path string
			body         string
		}{
			{owner, "POST", "/orgs/acme/tenants", `{"name":"t3"}`},
			{owner, "PATCH", "/orgs/acme/tenants/t1", `{"name":"renamed"}`},
			{owner, "DELETE", "/orgs/acme/tenants/t2", ""},
			{owner, "POST", "/orgs/acme/api-keys", `{"name":"k2","scopes":["runs:read"]}`},
			{owner, "POST", "/auth/logout", ""},
			{e.anon(), "POST", "/auth/login", `{"email":"owner@acme.test","password":"password-owner@acme.test"}`},
			{e.anon(), "POST", "/auth/signup", `{"email":"x@acme.test","password":"a fine long passphrase","name":"X","organization":"X Org"}`},
		} {
			r := tc.c.raw(tc.method, tc.path, h, tc.body)
			if r.status != 415 || r.code() != CodeUnsupported {
				t.Errorf("%s %s with Content-Type %q: %d %s, want 415", tc.method, tc.path, ct, r.status, r.body)
			}
		}
	}
	// The session still works, and nothing above happened.
	owner.must(200, "GET", "/orgs/acme/tenants/t2", nil)
	// With the type, the same requests go through.
	asJSON := map[string]string{"Content-Type": "application/json; charset=utf-8"}
	if r := owner.raw("DELETE", "/orgs/acme/tenants/t2", asJSON, ""); r.status != 204 {
		t.Errorf("DELETE with application/json: %d %s", r.status, r.body)
	}
	// An API key needs no Content-Type on a request without a body.
	bot := e.withKey(key)
	bot.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t4"})
	if r := bot.raw("DELETE", "/orgs/acme/tenants/t4", nil, ""); r.status != 204 {
		t.Errorf("DELETE with an API key and no Content-Type: %d %s", r.status, r.body)
	}
	// Reads need nothing.
	if r := owner.raw("GET", "/orgs/acme/tenants", nil, ""); r.status != 200 {
		t.Errorf("GET without Content-Type: %d %s", r.status, r.body)
	}
}
