package api

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/internal/giteatest"
)

// noFollow makes c answer redirects instead of following them, as the
// tests follow them by hand between BuildIt and the forge.
func (c *client) noFollow() *client {
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// answer is the status and redirect of a GET.
type answer struct {
	StatusCode int
	Header     http.Header
}

// get GETs an absolute URL (a callback with its query) with c's cookies.
func (c *client) get(t *testing.T, u string) answer {
	t.Helper()
	res, err := c.hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return answer{StatusCode: res.StatusCode, Header: res.Header}
}

// startAt begins a sign-in at BuildIt and answers with the forge's
// authorization URL it redirects to.
func startAt(t *testing.T, c *client, forgeName, query string) string {
	t.Helper()
	r := c.do("GET", "/auth/oauth/"+forgeName+"/start"+query, nil)
	if r.status != http.StatusFound {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	return r.header.Get("Location")
}

func meOf(t *testing.T, c *client) apiview.User {
	t.Helper()
	var me apiview.Me
	c.must(200, "GET", "/me", nil).json(t, &me)
	if me.User == nil {
		t.Fatal("/me: no user")
	}
	return *me.User
}

// TestOAuthWithGitea signs in to BuildIt through a real Gitea's OAuth2
// provider: the browser steps (Gitea's sign-in form and consent page) are
// giteatest's, over HTTP as a browser does them.
func TestOAuthWithGitea(t *testing.T) {
	g := giteatest.Start(t)
	e := setup(t)
	e.api.cfg.PublicURL = e.srv.URL
	callback := e.srv.URL + "/api/v1/auth/oauth/gitea/callback"
	id, secret := g.CreateOAuthApp(t, "buildit", callback)
	e.api.cfg.OAuth = map[forge.Kind]OAuthProvider{forge.Gitea: {ClientID: id, ClientSecret: secret, BaseURL: g.URL}}

	var providers struct{ Items []struct{ Forge string } }
	e.anon().must(200, "GET", "/auth/oauth/providers", nil).json(t, &providers)
	if len(providers.Items) != 1 || providers.Items[0].Forge != "gitea" {
		t.Errorf("providers %+v", providers)
	}
	e.anon().must(404, "GET", "/auth/oauth/github/start", nil)
	e.anon().must(404, "GET", "/auth/oauth/bitbucket/start", nil)
	e.anon().must(400, "GET", "/auth/oauth/gitea/start?return_to=https://evil.test/", nil)
	e.anon().must(400, "GET", "/auth/oauth/gitea/start?return_to=//evil.test/x", nil)

	adminBrowser := g.BrowserLogin(t)
	signIn := func(t *testing.T, browser *http.Client, c *client, query string) answer {
		t.Helper()
		authURL := startAt(t, c, "gitea", query)
		u, _ := url.Parse(authURL)
		if !strings.HasPrefix(authURL, g.URL+"/login/oauth/authorize") || u.Query().Get("code_challenge_method") != "S256" ||
			u.Query().Get("code_challenge") == "" || u.Query().Get("state") == "" || u.Query().Get("redirect_uri") != callback {
			t.Fatalf("authorization URL %s", authURL)
		}
		cb := g.Authorize(t, browser, authURL)
		return c.get(t, cb.String())
	}

	// First sign-in: the user is made, and signed in with the session
	// cookie; back to return_to.
	alice := e.anon().noFollow()
	res := signIn(t, adminBrowser, alice, "?return_to=/orgs/acme?tab=runs")
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/orgs/acme?tab=runs" {
		t.Fatalf("callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	first := meOf(t, alice)
	if first.Email != giteatest.AdminEmail {
		t.Errorf("user %+v, want email %s", first, giteatest.AdminEmail)
	}
	// The second finds the same user.
	again := e.anon().noFollow()
	if res := signIn(t, adminBrowser, again, ""); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/" {
		t.Fatalf("second callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if second := meOf(t, again); second.ID != first.ID {
		t.Errorf("second sign-in is user %s, want %s", second.ID, first.ID)
	}

	// A wrong or missing state is a 400, and signs nobody in.
	mallory := e.anon().noFollow()
	cb := g.Authorize(t, adminBrowser, startAt(t, mallory, "gitea", ""))
	q := cb.Query()
	q.Set("state", "forged")
	cb.RawQuery = q.Encode()
	if res := mallory.get(t, cb.String()); res.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong state: %d", res.StatusCode)
	}
	mallory.must(401, "GET", "/me", nil)
	if res := e.anon().noFollow().get(t, callback+"?code=x&state=y"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("no cookie: %d", res.StatusCode)
	}

	// Bob has a password account; his Gitea account has the same address.
	g.API(t, http.MethodPost, "/admin/users", map[string]any{
		"username": "bob", "email": "bob@example.com", "password": "Bob-pass-12345", "must_change_password": false,
	}, nil)
	bobGitea := *g
	bobGitea.User, bobGitea.Password = "bob", "Bob-pass-12345"
	bobBrowser := bobGitea.BrowserLogin(t)
	bob := e.signup("bob@example.com", "Bobs").noFollow()
	bobID := meOf(t, bob).ID

	// Signing in with Gitea does not take over his account: 409.
	stranger := e.anon().noFollow()
	res = signIn(t, bobBrowser, stranger, "")
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("email collision: %d, want 409", res.StatusCode)
	}
	stranger.must(401, "GET", "/me", nil)

	// Signed in with his password, he links Gitea…
	var link struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	bob.must(200, "POST", "/me/oauth/gitea/link", nil).json(t, &link)
	cb = bobGitea.Authorize(t, bobBrowser, link.AuthorizeURL)
	if res := bob.get(t, cb.String()); res.StatusCode != http.StatusFound {
		t.Fatalf("link callback: %d", res.StatusCode)
	}
	// …and signs in with it from then on.
	later := e.anon().noFollow()
	if res := signIn(t, bobBrowser, later, ""); res.StatusCode != http.StatusFound {
		t.Fatalf("sign-in after the link: %d", res.StatusCode)
	}
	if u := meOf(t, later); u.ID != bobID {
		t.Errorf("signed in as %s, want bob %s", u.ID, bobID)
	}
	// The admin's Gitea identity cannot be linked to bob too.
	bob.must(200, "POST", "/me/oauth/gitea/link", nil).json(t, &link)
	if res := bob.get(t, g.Authorize(t, adminBrowser, link.AuthorizeURL).String()); res.StatusCode != http.StatusConflict {
		t.Errorf("linking another user's identity: %d, want 409", res.StatusCode)
	}
	// No client secret or token in the log.
	if strings.Contains(e.logs.String(), secret) {
		t.Error("the log holds the client secret")
	}
}

func TestSafeReturnTo(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/orgs/acme": "/orgs/acme", "/": "/", "/a?b=c": "/a?b=c",
		"": "", "//evil.test": "", "https://evil.test/": "", "/\\evil.test": "", "evil": "", "/a\nb": "",
	} {
		if got := safeReturnTo(in); got != want {
			t.Errorf("safeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

// forgeStandIn is an httptest stand-in of GitHub (Enterprise paths) or
// GitLab's OAuth2 token endpoint and user API, following their documented
// requests and answers: the token endpoint checks the code and the PKCE
// verifier against the challenge the authorization URL carried.
type forgeStandIn struct {
	srv       *httptest.Server
	challenge string
	exchanged int
}

func newForgeStandIn(t *testing.T, kind forge.Kind) *forgeStandIn {
	f := &forgeStandIn{}
	mux := http.NewServeMux()
	token := func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "authorization_code" || r.Form.Get("code") != "the-code" {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"bad_verification_code"}`))
			return
		}
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != f.challenge {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"PKCE verification failed"}`))
			return
		}
		f.exchanged++
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"forge-token-1","token_type":"bearer","scope":"read:user"}`))
	}
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer forge-token-1" {
				w.WriteHeader(401)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			h(w, r)
		}
	}
	switch kind {
	case forge.GitHub:
		mux.HandleFunc("POST /login/oauth/access_token", token)
		mux.HandleFunc("GET /api/v3/user", authed(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"id":583231,"login":"octocat","name":"The Octocat"}`))
		}))
		mux.HandleFunc("GET /api/v3/user/emails", authed(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`[{"email":"octocat@github.test","primary":true,"verified":true,"visibility":"public"}]`))
		}))
	case forge.GitLab:
		mux.HandleFunc("POST /oauth/token", token)
		mux.HandleFunc("GET /api/v4/user", authed(func(w http.ResponseWriter, _ *http.Request) {
			// A user whose email is private: no address.
			_, _ = w.Write([]byte(`{"id":1,"username":"john_smith","name":"John Smith","email":"","confirmed_at":null}`))
		}))
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// TestOAuthStandIns signs in through stand-ins of GitHub and GitLab (no
// real one runs here): the authorization step is the stand-in's browser
// answer, a redirect to the callback with a code and the state.
func TestOAuthStandIns(t *testing.T) {
	e := setup(t)
	e.api.cfg.PublicURL = e.srv.URL
	gh, gl := newForgeStandIn(t, forge.GitHub), newForgeStandIn(t, forge.GitLab)
	e.api.cfg.OAuth = map[forge.Kind]OAuthProvider{
		forge.GitHub: {ClientID: "gh-id", ClientSecret: "gh-secret", BaseURL: gh.srv.URL},
		forge.GitLab: {ClientID: "gl-id", ClientSecret: "gl-secret", BaseURL: gl.srv.URL},
	}
	for _, tc := range []struct {
		kind      forge.Kind
		f         *forgeStandIn
		authPath  string
		wantEmail string
	}{
		{forge.GitHub, gh, "/login/oauth/authorize", "octocat@github.test"},
		{forge.GitLab, gl, "/oauth/authorize", "gitlab-1@users.oauth.invalid"},
	} {
		c := e.anon().noFollow()
		authURL := startAt(t, c, string(tc.kind), "")
		u, err := url.Parse(authURL)
		if err != nil || !strings.HasPrefix(authURL, tc.f.srv.URL+tc.authPath) {
			t.Fatalf("%s: authorization URL %s", tc.kind, authURL)
		}
		q := u.Query()
		tc.f.challenge = q.Get("code_challenge")
		if q.Get("code_challenge_method") != "S256" || tc.f.challenge == "" || q.Get("client_id") == "" {
			t.Fatalf("%s: authorization URL %s", tc.kind, authURL)
		}
		// A wrong code: the forge refuses, and the answer is a 502
		// without the forge's words.
		res := c.get(t, q.Get("redirect_uri")+"?code=wrong&state="+url.QueryEscape(q.Get("state")))
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: wrong code: %d", tc.kind, res.StatusCode)
		}
		// The state was used up with the cookie: start again.
		u, _ = url.Parse(startAt(t, c, string(tc.kind), ""))
		q = u.Query()
		tc.f.challenge = q.Get("code_challenge")
		res = c.get(t, q.Get("redirect_uri")+"?code=the-code&state="+url.QueryEscape(q.Get("state")))
		if res.StatusCode != http.StatusFound || tc.f.exchanged != 1 {
			t.Fatalf("%s: callback %d, %d exchanges", tc.kind, res.StatusCode, tc.f.exchanged)
		}
		if me := meOf(t, c); me.Email != tc.wantEmail {
			t.Errorf("%s: signed in as %+v, want %s", tc.kind, me, tc.wantEmail)
		}
	}
	for _, s := range []string{"gh-secret", "gl-secret", "forge-token-1"} {
		if strings.Contains(e.logs.String(), s) || strings.Contains(e.seen.String(), s) {
			t.Errorf("%q is in the log or an answer", s)
		}
	}
}
