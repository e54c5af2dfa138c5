package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

// doHeader is do with extra request headers (what a browser adds), body
// JSON text.
func (c *client) doHeader(method, path, body string, header map[string]string) resp {
	c.e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, c.e.srv.URL+"/api/v1"+path, bytes.NewReader([]byte(body)))
	if err != nil {
		c.e.t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: b, header: res.Header}
}

// A state-changing request with the session cookie that a browser marks
// as coming from another site (Sec-Fetch-Site, Origin) is refused with a
// 403 before its handler, even with the JSON type a preflight would have
// guarded; reads, same-origin requests, clients that are not browsers and
// API keys are not affected.
func TestSecurityCrossSiteCookieRequests(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ann := e.signup("ann@example.com", "Acme")
	owner := e.signup("own@example.com", "KeyOrg")
	key := owner.apiKey("keyorg", map[string]any{"name": "ci", "scopes": []string{ScopeOrgAdmin}})
	self := "http://" + e.srv.Listener.Addr().String()
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"same-site sibling", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign origin only", map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", map[string]string{"Origin": "null"}, 403},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": self}, 201},
		{"no browser headers", nil, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slug := "t-" + map[int]string{403: "no", 201: "yes"}[tc.want] + "-" + slugOf(tc.name)
			r := ann.doHeader("POST", "/orgs/acme/tenants", `{"name":"`+slug+`","slug":"`+slug+`"}`, tc.header)
			if r.status != tc.want {
				t.Fatalf("POST with %v: %d, want %d\n%s", tc.header, r.status, tc.want, r.body)
			}
			if tc.want == 403 && r.code() != CodeForbidden {
				t.Errorf("code %q", r.code())
			}
		})
	}
	// Reads with the cookie from anywhere are what links and the
	// dashboard's pages do: not refused.
	if r := ann.doHeader("GET", "/orgs/acme/tenants", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); r.status != 200 {
		t.Errorf("cross-site GET: %d", r.status)
	}
	// An API key is sent by no browser on its own: the headers change
	// nothing for it.
	k := e.withKey(key)
	if r := k.doHeader("POST", "/orgs/keyorg/tenants", `{"name":"k1","slug":"k1"}`, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); r.status != 201 {
		t.Errorf("cross-site POST with an API key: %d %s", r.status, r.body)
	}
	// Signing in from another site's page is refused too (login CSRF).
	if r := e.anon().doHeader("POST", "/auth/login", `{"email":"ann@example.com","password":"password-ann@example.com"}`, map[string]string{"Origin": "https://evil.example"}); r.status != 403 {
		t.Errorf("cross-site login: %d", r.status)
	}
	// Signing out too: a page elsewhere must not end a session.
	if r := ann.doHeader("POST", "/auth/logout", `{}`, map[string]string{"Sec-Fetch-Site": "cross-site"}); r.status != 403 {
		t.Errorf("cross-site logout: %d", r.status)
	}
	ann.must(200, "GET", "/me", nil)
}

func slugOf(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch == ' ' {
			b[i] = '-'
		}
	}
	return string(b)
}
