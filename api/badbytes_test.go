package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// raw sends a request with the headers given as they are (no Content-Type
// is added) and the body as bytes, with c's cookies or key.
func (c *client) raw(method, path string, header map[string]string, body string) resp {
	c.e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.e.srv.URL+"/api/v1"+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range header {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: b, header: res.Header}
}

// errorMessage returns the message of a JSON error answer, or "".
func (r resp) errorMessage() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Message
}

// NUL bytes and invalid UTF-8 in the path, the query, the headers and the
// fields of JSON bodies, on the public endpoints and on authenticated ones:
// every answer is a 400 whose JSON error names the part of the request at
// fault, never a 500 (Postgres refuses NUL in text and \u0000 in jsonb, and
// such bytes reached it).
func TestSecurityBadBytesAre400(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "p1", "source": helloKDL})
	key := owner.apiKey("acme", map[string]any{"name": "k", "scopes": Scopes})
	anon, bot := e.anon(), e.withKey(key)
	const (
		nul = `\u0000` // as JSON writes it
		bad = "\xff\xfe"
	)
	signup := func(field, value string) string {
		f := map[string]string{"email": `"new@acme.test"`, "password": `"a fine long passphrase"`, "name": `"New"`, "organization": `"New Org"`}
		f[field] = `"` + value + `"`
		return fmt.Sprintf(`{"email":%s,"password":%s,"name":%s,"organization":%s}`, f["email"], f["password"], f["name"], f["organization"])
	}
	asJSON := map[string]string{"Content-Type": "application/json"}
	const tenant = "/orgs/acme/tenants/t1"
	for _, tc := range []struct {
		name         string
		c            *client
		method, path string
		header       map[string]string
		body         string
		field        string
	}{
		{"login email NUL", anon, "POST", "/auth/login", asJSON, `{"email":"owner@acme.test` + nul + `","password":"x"}`, "field email"},
		{"login email UTF-8", anon, "POST", "/auth/login", asJSON, `{"email":"owner` + bad + `@acme.test","password":"x"}`, "field email"},
		{"login password NUL", anon, "POST", "/auth/login", asJSON, `{"email":"owner@acme.test","password":"pass` + nul + `"}`, "field password"},
		{"login unknown field NUL", anon, "POST", "/auth/login", asJSON, `{"email":"a@b.test","password":"x","z` + nul + `":1}`, "unknown field"},
		{"signup email NUL", anon, "POST", "/auth/signup", asJSON, signup("email", "a"+nul+"@acme.test"), "field email"},
		{"signup name UTF-8", anon, "POST", "/auth/signup", asJSON, signup("name", "N"+bad), "field name"},
		{"signup organization NUL", anon, "POST", "/auth/signup", asJSON, signup("organization", "Org"+nul), "field organization"},
		{"signup password UTF-8", anon, "POST", "/auth/signup", asJSON, signup("password", "a fine long "+bad), "field password"},
		{"tenant name NUL", owner, "POST", "/orgs/acme/tenants", asJSON, `{"name":"t` + nul + `"}`, "field name"},
		{"tenant slug UTF-8", owner, "PATCH", tenant, asJSON, `{"slug":"t` + bad + `"}`, "field slug"},
		{"member email NUL", owner, "POST", "/orgs/acme/members", asJSON, `{"email":"x` + nul + `@acme.test"}`, "field email"},
		{"key scope NUL", owner, "POST", "/orgs/acme/api-keys", asJSON, `{"name":"k","scopes":["runs:read","runs` + nul + `"]}`, "field scopes[1]"},
		{"pipeline source NUL", bot, "PUT", tenant + "/pipelines/p1", asJSON, `{"source":"pipeline \"p1\"` + nul + `"}`, "field source"},
		{"secret value NUL", bot, "PUT", tenant + "/secrets/S1", asJSON, `{"value":"a` + nul + `b"}`, "field value"},
		{"target setting UTF-8", bot, "POST", tenant + "/targets", asJSON, `{"name":"tg","kind":"fly","settings":{"app":"a` + bad + `"}}`, "field settings.app"},
		{"trigger env key NUL", bot, "POST", tenant + "/pipelines/p1/runs", asJSON, `{"env":{"A` + nul + `":"1"}}`, "field env"},
		{"path NUL", owner, "GET", "/orgs/acme%00", nil, "", "path"},
		{"path UTF-8", owner, "GET", "/orgs/acme/tenants/t%FF", nil, "", "path"},
		{"path NUL in pipeline", bot, "DELETE", tenant + "/pipelines/p%00", nil, "", "path"},
		{"path NUL public", anon, "POST", "/auth/login%00", asJSON, `{}`, "path"},
		{"query NUL", owner, "GET", "/orgs/acme/tenants?after=%00", nil, "", "query parameter after"},
		{"query UTF-8", bot, "GET", "/orgs/acme/audit-logs?actor=%FF", nil, "", "query parameter actor"},
		{"query name UTF-8", bot, "GET", "/orgs/acme/tenants?%FF=1", nil, "", "query parameter"},
		{"Authorization UTF-8", anon, "GET", "/me", map[string]string{"Authorization": "Bearer bik_" + bad + "abcdef_" + strings.Repeat("x", 43)}, "", "header Authorization"},
		{"Cookie UTF-8", anon, "GET", "/me", map[string]string{"Cookie": SessionCookie + "=" + bad}, "", "header Cookie"},
		{"X-Request-ID UTF-8", anon, "POST", "/auth/login", map[string]string{"X-Request-ID": "id-" + bad, "Content-Type": "application/json"}, `{"email":"a@b.test","password":"x"}`, "header X-Request-ID"},
		{"Content-Type UTF-8", anon, "POST", "/auth/login", map[string]string{"Content-Type": "application/json; charset=" + bad}, `{"email":"a@b.test","password":"x"}`, "header Content-Type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.raw(tc.method, tc.path, tc.header, tc.body)
			if r.status != 400 || r.code() != CodeBadRequest || !strings.Contains(strings.ToLower(r.errorMessage()), strings.ToLower(tc.field)) {
				t.Errorf("%s %s: %d %s, want 400 with an error naming %q", tc.method, tc.path, r.status, r.body, tc.field)
			}
		})
	}
	// A NUL in a header never reaches the API: net/http refuses the
	// request itself (with a plain-text 400).
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\x00b\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("NUL in a header: %d, want 400", res.StatusCode)
	}
}
