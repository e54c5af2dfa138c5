package giteatest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hiddenInput matches a form's hidden inputs as Gitea's templates write
// them: type, name, value in that order.
var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// formValues are the hidden inputs of an HTML page.
func formValues(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// BrowserLogin answers with an HTTP client whose cookie jar is signed in
// to Gitea's web UI as the admin user, the way a browser is (the sign-in
// form, with its _csrf field when the page has one: Gitea 1.27 relies on
// Go's cross-origin protection instead). The client follows redirects
// within Gitea only, so a redirect to another host (an OAuth2 client's
// callback) is answered, not followed.
func (g *Gitea) BrowserLogin(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := url.Parse(g.URL)
	c := &http.Client{
		Jar:     jar,
		Timeout: 60 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host != self.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	page := g.get(t, c, g.URL+"/user/login")
	form := url.Values{"user_name": {g.User}, "password": {g.Password}}
	if csrf := formValues(page).Get("_csrf"); csrf != "" {
		form.Set("_csrf", csrf)
	}
	resp, err := c.PostForm(g.URL+"/user/login", form)
	if err != nil {
		t.Fatalf("gitea sign-in: %v", err)
	}
	resp.Body.Close()
	// Signed in, the settings page answers itself; signed out, it
	// redirects to the sign-in page.
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = noFollow.Get(g.URL + "/user/settings")
	if err != nil {
		t.Fatalf("gitea sign-in: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gitea sign-in failed: /user/settings answered %d (Location %q)", resp.StatusCode, resp.Header.Get("Location"))
	}
	return c
}

func (g *Gitea) get(t testing.TB, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("gitea GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("gitea GET %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gitea GET %s: %d", u, resp.StatusCode)
	}
	return string(b)
}

// Authorize goes through Gitea's OAuth2 authorization page at authURL
// (the URL an OAuth2 client sends the browser to) with a client from
// BrowserLogin, grants consent when Gitea asks (the grant form of
// templates/user/auth/grant.tmpl: client_id, state, scope, nonce,
// redirect_uri, granted=true) and answers with Gitea's redirect to the
// client's callback, which carries code and state (or error).
func (g *Gitea) Authorize(t testing.TB, client *http.Client, authURL string) *url.URL {
	t.Helper()
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("gitea authorize: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		// The consent page.
		form := formValues(string(body))
		if form.Get("client_id") == "" {
			t.Fatalf("gitea authorize: no grant form in the page:\n%.2000s", body)
		}
		form.Set("granted", "true")
		resp, err = c.PostForm(g.URL+"/login/oauth/grant", form)
		if err != nil {
			t.Fatalf("gitea grant: %v", err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if resp.StatusCode/100 != 3 {
		t.Fatalf("gitea authorize: %d, no redirect:\n%.2000s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("gitea authorize: %v", err)
	}
	if strings.HasPrefix(loc.String(), g.URL+"/user/login") {
		t.Fatalf("gitea authorize: redirected to sign in (client not signed in)")
	}
	return loc
}
