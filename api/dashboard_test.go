package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/dashboard"
	"github.com/buildit-ci/buildit/db"
)

// page GETs a dashboard page as a browser would (Accept: text/html), not
// following redirects.
func (c *client) page(path string) resp {
	c.e.t.Helper()
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, c.e.srv.URL+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		c.e.t.Errorf("GET %s: %d %s", path, res.StatusCode, b)
	}
	return resp{status: res.StatusCode, body: b, header: res.Header}
}

// doc parses an HTML answer.
func (r resp) doc(t testing.TB) *html.Node {
	t.Helper()
	n, err := html.Parse(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("not HTML: %v", err)
	}
	return n
}

// findAll returns the elements of n (depth first) for which match is true.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func withAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, ok := attr(n, key); return ok && (val == "" || v == val) }
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// checkPageHeaders checks the headers every page has, the error pages
// included.
func checkPageHeaders(t *testing.T, path string, r resp) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": dashboard.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
		}
	}
	if r.status != http.StatusSeeOther && !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") && !strings.HasSuffix(path, ".txt") && !strings.Contains(path, "log.txt") {
		t.Errorf("GET %s: Content-Type %q", path, r.header.Get("Content-Type"))
	}
}

// checkNoInline fails when a page has an inline script, an inline style or
// a style attribute, which the CSP would block, or a script that is not
// the dashboard's own.
func checkNoInline(t *testing.T, path string, doc *html.Node) {
	t.Helper()
	for _, s := range findAll(doc, tag("script")) {
		src, ok := attr(s, "src")
		ours := strings.HasPrefix(src, "/assets/app.") || strings.HasPrefix(src, "/assets/admin.")
		if !ok || !ours || text(s) != "" {
			t.Errorf("GET %s: a script that is not the dashboard's file: src=%q %q", path, src, text(s))
		}
	}
	if st := findAll(doc, tag("style")); len(st) > 0 {
		t.Errorf("GET %s: an inline <style>", path)
	}
	for _, n := range findAll(doc, func(n *html.Node) bool { _, ok := attr(n, "style"); return ok }) {
		t.Errorf("GET %s: a style attribute on <%s>", path, n.Data)
	}
	for _, n := range findAll(doc, func(n *html.Node) bool {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				return true
			}
		}
		return false
	}) {
		t.Errorf("GET %s: an event handler attribute on <%s>", path, n.Data)
	}
}

const dashKDL = `pipeline "app"
inputs { target type="choice" default="staging" { values "staging" "prod"; }; }
stage "build" { run "echo build"; }
stage "test" needs="build" { run "echo test"; matrix { os "linux" "mac"; }; }
stage "<script>alert(1)</script>" needs="build" { run "echo x"; }
stage "gate" needs="test" { approval { message "Ship <b>it</b>?"; approvers "ann@example.com"; }; }
`

// dashFixture is an organization "acme" with a tenant "web" whose pipeline
// "app" has run 1, recorded directly in the store: its stages (a matrix,
// a retried failure, a waiting gate, a stage named like a script) and a
// log with a script and ANSI colours in it.
type dashFixture struct {
	owner  *client
	tenant db.Tenant
	run    db.Run
	base   string // /orgs/acme/tenants/web
}

func (e *env) dashFixture(t *testing.T) dashFixture {
	t.Helper()
	ctx := context.Background()
	owner := e.signup("ann@example.com", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": dashKDL})
	tn, err := e.store.Tenants().Get(ctx, mustOrg(t, e, "acme"), "web")
	if err != nil {
		t.Fatal(err)
	}
	p := e.pipeline(t, tn.Slug, "app")
	params := `{"gates":{"gate":{"stage":"gate","approvers":["ann@example.com"]}}}`
	r, err := e.store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "<img src=x onerror=alert(3)>", Commit: "0123456789abcdef", Event: "manual", Trigger: "api", Actor: "ann@example.com", Params: json.RawMessage(params)})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = e.store.Runs().SetRunStatus(ctx, tn.ID, r.ID, buildit.RunWaiting); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute)
	t1 := t0.Add(12 * time.Second)
	for _, sr := range []db.StageRun{
		{StageID: "build", Attempt: 1, Status: buildit.StageSucceeded, StartedAt: &t0, EndedAt: &t1},
		{StageID: "test [os=linux]", Attempt: 1, Status: buildit.StageSucceeded, StartedAt: &t0, EndedAt: &t1},
		{StageID: "test [os=mac]", Attempt: 1, Status: buildit.StageFailed, StartedAt: &t0, EndedAt: &t1, Error: "exit 1"},
		{StageID: "test [os=mac]", Attempt: 2, Status: buildit.StageSucceeded, StartedAt: &t1, EndedAt: &t1},
		{StageID: "<script>alert(1)</script>", Attempt: 1, Status: buildit.StageSucceeded, StartedAt: &t0, EndedAt: &t1},
		{StageID: "gate", Attempt: 1, Status: buildit.StageWaiting, StartedAt: &t1},
	} {
		sr.RunID = r.ID
		if _, err := e.store.Runs().PutStageRun(ctx, tn.ID, sr); err != nil {
			t.Fatal(err)
		}
	}
	lines := []db.LogLine{
		{Seq: 1, Stream: db.LogStdout, Line: "building", At: t0},
		{Seq: 2, Stream: db.LogStdout, Line: "<script>alert(2)</script>", At: t0},
		{Seq: 3, Stream: db.LogStderr, Line: "\x1b[1;31merror:\x1b[0m not really", At: t0},
	}
	if err := e.store.Logs().AppendLogs(ctx, tn.ID, r.ID, "build", 1, lines); err != nil {
		t.Fatal(err)
	}
	return dashFixture{owner: owner, tenant: tn, run: r, base: "/orgs/acme/tenants/web"}
}

// pages are a path of every kind of page of the fixture's tenant, with the
// API route (under /api/v1) each mirrors.
func (f dashFixture) pages() []struct{ page, api string } {
	run := f.base + "/pipelines/app/runs/1"
	return []struct{ page, api string }{
		{"/orgs/acme", "/orgs/acme/tenants"},
		{f.base, f.base + "/pipelines"},
		{f.base + "/pipelines/app", f.base + "/pipelines/app/runs"},
		{run, run},
		{run + "/log?stage=build", run + "/logs?stage=build"},
		{run + "/log.txt?stage=build", run + "/logs?stage=build"},
	}
}

func TestDashboardPages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.dashFixture(t)
	ann := f.owner

	// / sends the user to their organization.
	if r := ann.page("/"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/orgs/acme" {
		t.Errorf("GET /: %d to %q", r.status, r.header.Get("Location"))
	}
	for _, p := range f.pages() {
		r := ann.page(p.page)
		if r.status != 200 {
			t.Fatalf("GET %s: %d\n%s", p.page, r.status, r.body)
		}
		checkPageHeaders(t, p.page, r)
		if !strings.Contains(p.page, "log.txt") {
			checkNoInline(t, p.page, r.doc(t))
		}
	}

	t.Run("org", func(t *testing.T) {
		doc := ann.page("/orgs/acme").doc(t)
		if links := findAll(doc, withAttr("href", f.base)); len(links) == 0 {
			t.Errorf("the org page links no tenant")
		}
		nav := findAll(doc, withAttr("aria-label", "Organizations and tenants"))
		if len(nav) != 1 || !strings.Contains(text(nav[0]), "Acme") {
			t.Errorf("no organization switcher")
		}
	})
	t.Run("pipelines", func(t *testing.T) {
		doc := ann.page(f.base).doc(t)
		rows := findAll(doc, tag("tr"))
		if len(rows) != 2 {
			t.Fatalf("%d rows, want a header and app", len(rows))
		}
		row := text(rows[1])
		for _, want := range []string{"app", "#1", "waiting", "0123456789", "<img src=x onerror=alert(3)>"} {
			if !strings.Contains(row, want) {
				t.Errorf("pipelines row %q lacks %q", row, want)
			}
		}
		forms := findAll(doc, withAttr("data-url", "/api/v1"+f.base+"/pipelines/app/runs"))
		if len(forms) != 1 || len(findAll(forms[0], withAttr("name", "input:target"))) != 1 {
			t.Errorf("no trigger form with the pipeline's input")
		}
		for _, th := range findAll(doc, tag("th")) {
			if _, ok := attr(th, "scope"); !ok {
				t.Errorf("a <th> without scope: %q", text(th))
			}
		}
	})
	t.Run("runs filtered", func(t *testing.T) {
		doc := ann.page(f.base + "/pipelines/app?status=waiting").doc(t)
		if n := len(findAll(doc, withAttr("data-number", "1"))); n != 1 {
			t.Errorf("status=waiting shows %d rows of run 1", n)
		}
		doc = ann.page(f.base + "/pipelines/app?status=failed").doc(t)
		if n := len(findAll(doc, withAttr("data-number", ""))); n != 0 {
			t.Errorf("status=failed shows %d runs", n)
		}
		if r := ann.page(f.base + "/pipelines/app?status=bogus"); r.status != 422 {
			t.Errorf("status=bogus: %d, want the API's 422", r.status)
		}
	})
	t.Run("run", func(t *testing.T) {
		r := ann.page(f.base + "/pipelines/app/runs/1")
		doc := r.doc(t)
		nodes := findAll(doc, withAttr("data-stage", ""))
		got := map[string]string{}
		for _, n := range nodes {
			id, _ := attr(n, "data-stage")
			cls, _ := attr(n, "class")
			got[id] = cls
			if href, _ := attr(n, "href"); !strings.HasPrefix(href, "1/log?stage=") {
				t.Errorf("node %q links %q", id, href)
			}
		}
		for id, cls := range map[string]string{
			"build": "node s-succeeded", "test [os=linux]": "node s-succeeded", "test [os=mac]": "node s-succeeded",
			"<script>alert(1)</script>": "node s-succeeded", "gate": "node s-waiting",
		} {
			if got[id] != cls {
				t.Errorf("node %q: class %q, want %q (all: %v)", id, got[id], cls, got)
			}
		}
		if g := findAll(doc, func(n *html.Node) bool { c, _ := attr(n, "class"); return c == "group" }); len(g) != 1 || !strings.Contains(text(g[0]), "test (2)") {
			t.Errorf("the matrix instances are not grouped: %d groups", len(g))
		}
		if edges := findAll(doc, tag("path")); len(edges) != 1 {
			t.Errorf("%d paths, want the edges' one", len(edges))
		} else if d, _ := attr(edges[0], "d"); strings.Count(d, "M") != 5 {
			t.Errorf("%d edges, want 5 (2 matrix + script from build, gate from 2 matrix)", strings.Count(d, "M"))
		}
		body := text(doc)
		for _, want := range []string{"waiting", "Ship <b>it</b>?", "Who may decide: ann@example.com", "0123456789abcdef", "ann@example.com"} {
			if !strings.Contains(body, want) {
				t.Errorf("the run page lacks %q", want)
			}
		}
		if f := findAll(doc, withAttr("data-url", "/api/v1"+f.base+"/pipelines/app/runs/1/stages/gate")); len(f) != 1 {
			t.Errorf("no approval form for the gate")
		}
	})
	t.Run("log", func(t *testing.T) {
		doc := ann.page(f.base + "/pipelines/app/runs/1/log?stage=build").doc(t)
		lis := findAll(doc, func(n *html.Node) bool { id, _ := attr(n, "id"); return n.Data == "li" && strings.HasPrefix(id, "L") })
		if len(lis) != 3 {
			t.Fatalf("%d lines, want 3", len(lis))
		}
		if id, _ := attr(lis[2], "id"); id != "L3" || len(findAll(lis[2], withAttr("href", "#L3"))) != 1 {
			t.Errorf("line 3: id %q, no #L3 link", id)
		}
		if red := findAll(lis[2], withAttr("class", "fg1 b")); len(red) != 1 || text(red[0]) != "error:" {
			t.Errorf("ANSI bold red not rendered as a class: %d", len(red))
		}
		if strings.Contains(text(lis[2]), "\x1b") {
			t.Errorf("an escape reached the page")
		}
		if _, ok := attr(findAll(doc, tag("ol"))[len(findAll(doc, tag("ol")))-1], "data-follow"); ok {
			t.Errorf("an ended stage is followed")
		}
		// Attempts are tabs.
		doc = ann.page(f.base + "/pipelines/app/runs/1/log?stage=" + url.QueryEscape("test [os=mac]") + "&attempt=1").doc(t)
		tabs := findAll(doc, withAttr("aria-label", "Attempts"))
		if len(tabs) != 1 || len(findAll(tabs[0], tag("a"))) != 2 || !strings.Contains(text(tabs[0]), "failed") {
			t.Errorf("no tabs for the two attempts")
		}
		// The waiting gate is followed live.
		doc = ann.page(f.base + "/pipelines/app/runs/1/log?stage=gate").doc(t)
		ol := findAll(doc, withAttr("id", "log"))
		if len(ol) != 1 {
			t.Fatal("no log list")
		}
		if fu, _ := attr(ol[0], "data-follow"); !strings.HasPrefix(fu, "/api/v1"+f.base+"/pipelines/app/runs/1/logs?stage=gate&attempt=1&follow=1") {
			t.Errorf("follow URL %q", fu)
		}
		txt := ann.page(f.base + "/pipelines/app/runs/1/log.txt?stage=build")
		if string(txt.body) != "building\n<script>alert(2)</script>\n\x1b[1;31merror:\x1b[0m not really\n" || !strings.HasPrefix(txt.header.Get("Content-Type"), "text/plain") ||
			!strings.HasPrefix(txt.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("log.txt: %q %v", txt.body, txt.header)
		}
		if r := ann.page(f.base + "/pipelines/app/runs/1/log"); r.status != 422 {
			t.Errorf("a log page without stage: %d, want 422", r.status)
		}
	})
}

// Every page of a tenant is, for whom the API's route is a 404, a 404
// page too (never a 403 that says it exists), and for whom it is a 200,
// a 200: another organization's user, a member of the organization who is
// not in the tenant, and for pipelines and runs that do not exist.
// Signed-out visitors are sent to the sign-in page, with the page to come
// back to; API keys get no pages.
func TestSecurityDashboardSameAccessAsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.dashFixture(t)
	bob := e.signup("bob@example.com", "Other")
	member, _ := e.joined(f.owner, "acme", "mia@example.com", "member")
	for _, who := range []struct {
		name string
		c    *client
	}{{"owner", f.owner}, {"other org", bob}, {"org member outside the tenant", member}} {
		for _, p := range f.pages() {
			want := who.c.do("GET", p.api, nil).status
			r := who.c.page(p.page)
			if r.status != want {
				t.Errorf("%s: GET %s: %d, the API's %s answers %d", who.name, p.page, r.status, p.api, want)
			}
			if who.c != f.owner && p.page != "/orgs/acme" && r.status != 404 {
				t.Errorf("%s: GET %s: %d, want 404", who.name, p.page, r.status)
			}
			checkPageHeaders(t, p.page, r)
			if r.status == 404 && (!strings.Contains(string(r.body), "not found") || strings.Contains(string(r.body), "app") && strings.Contains(p.page, "runs/1") && strings.Contains(string(r.body), "ann@")) {
				t.Errorf("%s: GET %s: the 404 page says %s", who.name, p.page, r.body)
			}
		}
	}
	// The member sees the organization but not the tenant in it.
	if doc := member.page("/orgs/acme").doc(t); len(findAll(doc, withAttr("href", f.base))) != 0 {
		t.Errorf("the org page links a tenant the member is not in")
	}
	// Things that do not exist: 404 pages as in the API.
	for _, p := range []string{f.base + "/pipelines/nope", f.base + "/pipelines/app/runs/9", f.base + "/pipelines/app/runs/x",
		f.base + "/pipelines/app/runs/1/log?stage=nope", "/orgs/nope", "/orgs/acme/tenants/nope"} {
		r := f.owner.page(p)
		if r.status != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
		checkPageHeaders(t, p, r)
	}
	// Signed out: to the sign-in page, and back.
	anon := e.anon()
	for _, p := range append(f.pages(), struct{ page, api string }{"/", "/me"}) {
		r := anon.page(p.page)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape(p.page) {
			t.Errorf("signed out: GET %s: %d to %q", p.page, r.status, r.header.Get("Location"))
		}
	}
	// An API key is no browser's: pages refuse it.
	key := f.owner.apiKey("acme", map[string]any{"name": "k", "scopes": Scopes})
	if r := e.withKey(key).page(f.base); r.status != 403 {
		t.Errorf("a page with an API key: %d, want 403", r.status)
	}
}

func TestDashboardSignIn(t *testing.T) {
	t.Parallel()
	e := setup(t)
	anon := e.anon()
	for _, tc := range []struct{ next, want string }{
		{"/orgs/acme", "/orgs/acme"}, {"//evil.example/x", "/"}, {"https://evil.example", "/"}, {"/\\evil.example", "/"},
	} {
		r := anon.page("/login?next=" + url.QueryEscape(tc.next))
		if r.status != 200 {
			t.Fatalf("GET /login: %d", r.status)
		}
		checkPageHeaders(t, "/login", r)
		doc := r.doc(t)
		checkNoInline(t, "/login", doc)
		forms := findAll(doc, withAttr("data-next", ""))
		if len(forms) != 1 {
			t.Fatalf("no sign-in form")
		}
		if got, _ := attr(forms[0], "data-next"); got != tc.want {
			t.Errorf("next %q: the form goes to %q, want %q", tc.next, got, tc.want)
		}
		if len(findAll(doc, tag("noscript"))) != 1 {
			t.Errorf("no note for browsers without JavaScript")
		}
	}
	if r := anon.page("/signup"); r.status != 200 || len(findAll(r.doc(t), withAttr("name", "organization"))) != 1 {
		t.Errorf("GET /signup: %d", r.status)
	}
	// Without the script neither form sends anything, and never a
	// password in a URL: method=post and a submit button the script
	// enables.
	for _, path := range []string{"/login", "/signup"} {
		doc := anon.page(path).doc(t)
		forms := findAll(doc, withAttr("data-next", ""))
		if len(forms) != 1 {
			t.Fatalf("%s: %d forms", path, len(forms))
		}
		if m, _ := attr(forms[0], "method"); m != "post" {
			t.Errorf("%s: the form's method is %q", path, m)
		}
		buttons := findAll(forms[0], withAttr("type", "submit"))
		if len(buttons) != 1 {
			t.Fatalf("%s: %d submit buttons", path, len(buttons))
		}
		if _, disabled := attr(buttons[0], "disabled"); !disabled {
			t.Errorf("%s: the submit button is enabled before the script runs", path)
		}
	}
	// A browser's path that no page serves is an HTML 404; the API's
	// stay JSON.
	if r := anon.page("/nothing/here"); r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /nothing/here: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := anon.do("GET", "/nothing", nil); r.status != 404 || r.code() != CodeNotFound {
		t.Errorf("GET /api/v1/nothing: %d %s", r.status, r.body)
	}
}

func TestDashboardAssets(t *testing.T) {
	t.Parallel()
	e := setup(t)
	anon := e.anon()
	doc := anon.page("/login").doc(t)
	var urls []string
	for _, n := range findAll(doc, func(n *html.Node) bool { return n.Data == "script" || n.Data == "link" }) {
		if u, ok := attr(n, "src"); ok {
			urls = append(urls, u)
		}
		if u, ok := attr(n, "href"); ok {
			urls = append(urls, u)
		}
	}
	if len(urls) != 3 {
		t.Fatalf("assets %v, want the script, the style sheet and the icon", urls)
	}
	types := map[string]string{".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
	for _, u := range urls {
		r := anon.page(u)
		if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d %v", u, r.status, r.header)
		}
		// The name carries a hash of the content: app.<10 hex>.css.
		parts := strings.Split(strings.TrimPrefix(u, "/assets/"), ".")
		if len(parts) != 3 || len(parts[1]) != 10 {
			t.Errorf("asset %s is not fingerprinted", u)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, types["."+parts[2]]) {
			t.Errorf("GET %s: Content-Type %q", u, ct)
		}
	}
	if r := anon.page("/assets/app.css"); r.status != 404 {
		t.Errorf("an unfingerprinted name: %d", r.status)
	}
}

// A user string is text on every page, never markup: a stage named like a
// script, a branch with an event handler, a log line with a script.
func TestSecurityDashboardEscapes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.dashFixture(t)
	run := f.base + "/pipelines/app/runs/1"
	for _, p := range []string{f.base, f.base + "/pipelines/app", run, run + "/log?stage=build", run + "/log?stage=" + url.QueryEscape("<script>alert(1)</script>")} {
		r := f.owner.page(p)
		if r.status != 200 {
			t.Fatalf("GET %s: %d", p, r.status)
		}
		body := string(r.body)
		for _, raw := range []string{"<script>alert", "<img src=x", "<b>it</b>"} {
			if strings.Contains(body, raw) {
				t.Errorf("GET %s: %q is in the page unescaped", p, raw)
			}
		}
		doc := r.doc(t)
		checkNoInline(t, p, doc)
		if n := len(findAll(doc, tag("img"))); n != 1 { // the brand's icon
			t.Errorf("GET %s: %d <img>, want the brand's", p, n)
		}
	}
	doc := f.owner.page(run + "/log?stage=build").doc(t)
	if !strings.Contains(text(doc), "<script>alert(2)</script>") {
		t.Errorf("the log line is not shown as text")
	}
}

// A log longer than the page shows its last dashboard.LogTail lines, with a
// link to the lines before them, and so on back to the first.
func TestDashboardLogPages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ls := e.logStage("ann@example.com", "Acme")
	e.appendLog(ls, 1, 5000, 40)
	path := "/orgs/acme/tenants/web/pipelines/app/runs/1/log?stage=greet"
	seen := 0
	next := path
	firsts := []string{}
	for next != "" {
		doc := ls.owner.page(next).doc(t)
		lis := findAll(doc, func(n *html.Node) bool { id, _ := attr(n, "id"); return n.Data == "li" && strings.HasPrefix(id, "L") })
		if len(lis) > dashboard.LogTail {
			t.Fatalf("%d lines on a page", len(lis))
		}
		seen += len(lis)
		if len(lis) > 0 {
			id, _ := attr(lis[0], "id")
			firsts = append(firsts, id)
		}
		next = ""
		for _, a := range findAll(doc, tag("a")) {
			if text(a) == "Earlier lines" {
				next, _ = attr(a, "href")
			}
		}
		if seen > 5000 {
			t.Fatal("pages overlap")
		}
	}
	if seen != 5000 || strings.Join(firsts, " ") != "L3001 L1001 L1" {
		t.Errorf("saw %d lines, pages starting at %v", seen, firsts)
	}
	// The stage runs: its latest page is followed from its last line.
	doc := ls.owner.page(path).doc(t)
	if fu, _ := attr(findAll(doc, withAttr("id", "log"))[0], "data-follow"); !strings.HasSuffix(fu, "&after=5000") {
		t.Errorf("follow URL %q", fu)
	}
}

// A run on the engine (the embedded Temporal, the host executor) shows on
// its page as it ended, and its stage's log as the worker stored it.
func TestDashboardRealRun(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	ann := e.signup("ann@example.com", "Acme")
	ann.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	ann.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "hello", "source": helloKDL})
	var v apiview.Run
	ann.must(201, "POST", "/orgs/acme/tenants/web/pipelines/hello/runs", map[string]string{"branch": "main"}).json(t, &v)
	run := fmt.Sprintf("/orgs/acme/tenants/web/pipelines/hello/runs/%d", v.Number)
	ann.waitRun(run, ended)
	doc := ann.page(run).doc(t)
	nodes := findAll(doc, withAttr("data-stage", "greet"))
	if len(nodes) != 1 {
		t.Fatal("no node for greet")
	}
	if cls, _ := attr(nodes[0], "class"); cls != "node s-succeeded" || !strings.Contains(text(nodes[0]), "✓ succeeded") {
		t.Errorf("greet: %q %q", cls, text(nodes[0]))
	}
	if len(findAll(doc, withAttr("href", "http://ui.test:8233/namespaces/"+e.svc.Namespace+"/workflows?query="+url.QueryEscape(fmt.Sprintf("WorkflowId=%q", v.WorkflowID))))) != 1 {
		t.Errorf("no Temporal UI link")
	}
	logDoc := ann.page(run + "/log?stage=greet").doc(t)
	if !strings.Contains(text(logDoc), "hi") {
		t.Errorf("the log page lacks the stage's output: %s", text(logDoc))
	}
	// The pipelines page shows it as the last run.
	if row := text(ann.page("/orgs/acme/tenants/web").doc(t)); !strings.Contains(row, "succeeded") || !strings.Contains(row, "main") {
		t.Errorf("pipelines page: %s", row)
	}
}
