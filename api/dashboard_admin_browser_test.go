package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/deploy/fly/flytest"
	"github.com/buildit-ci/buildit/internal/browsertest"
)

// badKDL has two problems the API reports at their line and column.
const badKDL = "pipeline \"cd\"\nstage \"a\" { rnu \"x\"; }\nstage \"b\" needs=\"zz\" { run \"x\"; }\n"

// waitJS waits until expr is true in the tab's page, across the
// navigations on the way (a reload after a form was sent).
func waitJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is still not true (%v)", what, expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDashboardAdminInBrowser drives the pages of admin.js in a headless
// Chromium against the real server: create a tenant with the
// organization page's form, a pipeline with the new-pipeline page (an
// invalid source first: its diagnostics show next to the form), set a
// secret, create an API key (its secret shown once), and roll a service
// back from its environment's page through the confirmation dialog.
//
// Not parallel: the tabs of browsertest share one browser context, so one
// cookie jar for 127.0.0.1 whatever the port, and TestDashboardInBrowser's
// sign-up would replace this test's session.
func TestDashboardAdminInBrowser(t *testing.T) {
	const token = "fo1_browser-secret-token"
	fly := flytest.New(token, "acme-api")
	defer fly.Close()
	tab := browsertest.Tab(t)
	e := setup(t).withRuns(t)
	site := e.srv.URL
	ctx := context.Background()

	do(t, tab, "sign up",
		chromedp.Navigate(site+"/signup"),
		chromedp.WaitVisible(`form.js-signup button[type=submit]`),
		chromedp.SendKeys(`input[name=name]`, "Ann"),
		chromedp.SendKeys(`input[name=email]`, "ann@example.com"),
		chromedp.SendKeys(`input[name=password]`, "password-ann@example.com"),
		chromedp.SendKeys(`input[name=organization]`, "Acme"),
		chromedp.WaitEnabled(`form.js-signup button[type=submit]`),
		chromedp.Click(`form.js-signup button[type=submit]`),
	)
	waitPath(t, tab, "sign up", func(p string) bool { return p == "/orgs/acme" })

	// The organization page's form creates a tenant and opens it.
	do(t, tab, "create a tenant",
		chromedp.WaitVisible(`form[aria-labelledby=new-tenant] input[name=name]`),
		chromedp.SendKeys(`form[aria-labelledby=new-tenant] input[name=name]`, "Web"),
		chromedp.WaitEnabled(`form[aria-labelledby=new-tenant] button[type=submit]`),
		chromedp.Click(`form[aria-labelledby=new-tenant] button[type=submit]`),
	)
	waitPath(t, tab, "create a tenant", func(p string) bool { return p == "/orgs/acme/tenants/web" })
	do(t, tab, "tenant page", chromedp.WaitVisible(`main h1`))
	browsertest.NoConsoleErrors(t, tab)
	tenant := site + "/orgs/acme/tenants/web"

	// The new-pipeline page: an invalid source's diagnostics show as
	// FILE:LINE:COL next to the form, then a valid one creates it.
	do(t, tab, "an invalid pipeline",
		chromedp.Navigate(tenant+"/new-pipeline"),
		chromedp.WaitVisible(`form.editor textarea[name=source]`),
		chromedp.SendKeys(`form.editor input[name=name]`, "cd"),
		chromedp.SetValue(`form.editor textarea[name=source]`, badKDL),
		chromedp.WaitEnabled(`form.editor button[type=submit]`),
		chromedp.Click(`form.editor button[type=submit]`),
		chromedp.WaitVisible(`form.editor .js-problems li`),
	)
	problems := eval[string](t, tab, `Array.from(document.querySelectorAll("form.editor .js-problems li")).map((l) => l.textContent).join("\n")`)
	for _, want := range []string{`pipeline.kdl:2:13: error: unknown node "rnu" in stage "a"; did you mean "run"?`, `pipeline.kdl:3:17: error: stage "b" needs unknown stage "zz"`} {
		if !strings.Contains(problems, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, problems)
		}
	}
	if shown := eval[bool](t, tab, `!document.querySelector("form.editor > p.error").hidden`); shown {
		t.Error("the form shows an error line besides the diagnostics")
	}
	if title := eval[string](t, tab, `(() => { const p = document.querySelector("form.editor .js-problems-title"); return p.checkVisibility() ? p.textContent : "(hidden)"; })()`); title != "the pipeline is invalid" {
		t.Errorf("the diagnostics' title: %q", title)
	}
	browsertest.ExpectProblem(t, tab, browsertest.KindLog, "status of 422")
	browsertest.NoConsoleErrors(t, tab)
	src := `pipeline "cd"
stage "ship" { run "echo ship"; }
`
	do(t, tab, "a valid pipeline",
		chromedp.SetValue(`form.editor textarea[name=source]`, src),
		chromedp.WaitEnabled(`form.editor button[type=submit]`),
		chromedp.Click(`form.editor button[type=submit]`),
	)
	waitPath(t, tab, "a valid pipeline", func(p string) bool { return p == "/orgs/acme/tenants/web/pipelines/cd" })
	do(t, tab, "pipeline page", chromedp.WaitVisible(`main h1`))
	browsertest.NoConsoleErrors(t, tab)

	// The edit page sends the version it read: an edit made meanwhile
	// is the API's 409, shown in the form; read again, the save goes.
	ann := e.anon()
	ann.must(200, "POST", "/auth/login", map[string]string{"email": "ann@example.com", "password": "password-ann@example.com"})
	tb := "/orgs/acme/tenants/web"
	// Sent before admin.js listens, a form would go natively, as a GET
	// with its fields (a secret's value) in the URL: the pages come with
	// the submit buttons disabled, for admin.js to enable.
	for _, path := range []string{"/orgs/acme", tb + "/new-pipeline", tb + "/settings/secrets", "/orgs/acme/settings/api-keys"} {
		if body := string(ann.page(path).body); !strings.Contains(body, `<button type="submit" disabled`) {
			t.Errorf("GET %s: the submit button is not disabled before admin.js runs", path)
		}
	}
	do(t, tab, "open the editor",
		chromedp.Navigate(tenant+"/pipelines/cd/edit"),
		chromedp.WaitVisible(`form.editor textarea[name=source]`),
	)
	ann.must(200, "PUT", tb+"/pipelines/cd", map[string]any{"source": src + "// meanwhile\n", "version": 1})
	do(t, tab, "save a stale edit",
		chromedp.SetValue(`form.editor textarea[name=source]`, src+"// stale\n"),
		chromedp.WaitEnabled(`form.editor button[type=submit]`),
		chromedp.Click(`form.editor button[type=submit]`),
		chromedp.WaitVisible(`form.editor > p.error`),
	)
	if msg := eval[string](t, tab, `document.querySelector("form.editor > p.error").textContent`); msg == "" {
		t.Error("the stale save shows no message")
	}
	if eval[bool](t, tab, `!document.querySelector("form.editor .js-problems").hidden`) {
		t.Error("the stale save shows a diagnostics box")
	}
	browsertest.ExpectProblem(t, tab, browsertest.KindLog, "status of 409")
	browsertest.NoConsoleErrors(t, tab)
	do(t, tab, "save again",
		chromedp.Reload(),
		chromedp.WaitVisible(`form.editor textarea[name=source]`),
		chromedp.SetValue(`form.editor textarea[name=source]`, src+"// edited\n"),
		chromedp.WaitEnabled(`form.editor button[type=submit]`),
		chromedp.Click(`form.editor button[type=submit]`),
	)
	waitPath(t, tab, "save again", func(p string) bool { return p == "/orgs/acme/tenants/web/pipelines/cd" })
	var pl struct {
		Source  string `json:"source"`
		Version int    `json:"version"`
	}
	ann.must(200, "GET", tb+"/pipelines/cd", nil).json(t, &pl)
	if pl.Version != 3 || !strings.HasSuffix(pl.Source, "// edited\n") {
		t.Errorf("the pipeline after the edit: version %d\n%s", pl.Version, pl.Source)
	}
	browsertest.NoConsoleErrors(t, tab)

	// A secret: the page lists its name, never its value.
	do(t, tab, "set a secret",
		chromedp.Navigate(tenant+"/settings/secrets"),
		chromedp.WaitVisible(`form[aria-labelledby=set-secret] input[name=name]`),
		chromedp.SendKeys(`form[aria-labelledby=set-secret] input[name=name]`, "FLY_TOKEN"),
		chromedp.SendKeys(`form[aria-labelledby=set-secret] textarea[name=value]`, token),
		chromedp.WaitEnabled(`form[aria-labelledby=set-secret] button[type=submit]`),
		chromedp.Click(`form[aria-labelledby=set-secret] button[type=submit]`),
	)
	waitJS(t, tab, "the secret listed", `Array.from(document.querySelectorAll("table.list tbody th code")).some((c) => c.textContent === "FLY_TOKEN")`)
	if html := eval[string](t, tab, `document.documentElement.outerHTML`); strings.Contains(html, token) {
		t.Error("the secrets page shows the secret's value")
	}
	browsertest.NoConsoleErrors(t, tab)

	// Delete asks with confirm(); accepted, the secret is gone.
	ann.must(201, "PUT", tb+"/secrets/OLD_TOKEN", map[string]string{"value": "old"})
	asked := make(chan string, 1)
	if err := chromedp.Listen(tab, func(ev any) {
		if ev, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			asked <- ev.Message
			go func() {
				// A failure shows as the confirm never answered: the
				// wait for the secret's removal below fails.
				_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	}); err != nil {
		t.Fatal(err)
	}
	do(t, tab, "delete a secret",
		chromedp.Reload(),
		chromedp.Click(`button.js-api-delete[data-url$="/secrets/OLD_TOKEN"]`),
	)
	if msg := <-asked; msg != "Delete the secret OLD_TOKEN? Pipelines that use it will fail." {
		t.Errorf("delete asks: %q", msg)
	}
	waitJS(t, tab, "the secret deleted", `document.readyState === "complete" && !document.querySelector('button.js-api-delete[data-url$="/secrets/OLD_TOKEN"]') && !!document.querySelector('button.js-api-delete[data-url$="/secrets/FLY_TOKEN"]')`)
	ann.must(404, "GET", tb+"/secrets/OLD_TOKEN", nil)
	browsertest.NoConsoleErrors(t, tab)

	// An environment, with the form's checkbox and comma-separated list.
	do(t, tab, "add an environment",
		chromedp.Navigate(tenant+"/settings/environments"),
		chromedp.WaitVisible(`form[aria-labelledby=add-env] input[name=name]`),
		chromedp.SendKeys(`form[aria-labelledby=add-env] input[name=name]`, "production"),
		chromedp.Click(`form[aria-labelledby=add-env] input[name=require_approval]`),
		chromedp.SendKeys(`form[aria-labelledby=add-env] input[name=allowed_branches]`, "main, release/*"),
		chromedp.WaitEnabled(`form[aria-labelledby=add-env] button[type=submit]`),
		chromedp.Click(`form[aria-labelledby=add-env] button[type=submit]`),
	)
	waitJS(t, tab, "the environment listed", `Array.from(document.querySelectorAll("table.list tbody th a")).some((a) => a.textContent === "production")`)
	if row := eval[string](t, tab, `document.querySelector("table.list tbody tr").textContent`); !strings.Contains(row, "required") || !strings.Contains(row, "main, release/*") {
		t.Errorf("the environment's row: %q", row)
	}
	browsertest.NoConsoleErrors(t, tab)

	// An API key: its secret is shown once, in the page that made it.
	do(t, tab, "create an API key",
		chromedp.Navigate(site+"/orgs/acme/settings/api-keys"),
		chromedp.WaitVisible(`form[aria-labelledby=new-key] input[name=name]`),
		chromedp.SendKeys(`form[aria-labelledby=new-key] input[name=name]`, "ci"),
		chromedp.Click(`form[aria-labelledby=new-key] input[name=scopes][value="`+ScopeRunsRead+`"]`),
		chromedp.WaitEnabled(`form[aria-labelledby=new-key] button[type=submit]`),
		chromedp.Click(`form[aria-labelledby=new-key] button[type=submit]`),
		chromedp.WaitVisible(`form[aria-labelledby=new-key] .js-secret`),
	)
	key := eval[string](t, tab, `document.querySelector(".js-secret-value").textContent`)
	if len(key) < 20 {
		t.Errorf("the key shown: %q", key)
	}
	if key != "" {
		if r := e.withKey(key).do("GET", "/orgs/acme/tenants/web/pipelines/cd/runs", nil); r.status != 200 {
			t.Errorf("the key shown does not work: %d %s", r.status, r.body)
		}
	}
	browsertest.NoConsoleErrors(t, tab)
	do(t, tab, "the key listed", chromedp.Reload(), chromedp.WaitVisible(`table.list tbody th`))
	if html := eval[string](t, tab, `document.documentElement.outerHTML`); key != "" && strings.Contains(html, key) {
		t.Error("the API keys page shows the key's secret again")
	}
	if row := eval[string](t, tab, `document.querySelector("table.list tbody tr").textContent`); !strings.Contains(row, "ci") || !strings.Contains(row, ScopeRunsRead) {
		t.Errorf("the key's row: %q", row)
	}
	browsertest.NoConsoleErrors(t, tab)

	// Deployments: two succeeded revisions of api in production, to
	// flytest (a stand-in for Fly's Machines API); roll back to the first.
	ann.must(201, "POST", tb+"/targets", map[string]any{"name": "fly", "kind": "fly", "credentials_secret": "FLY_TOKEN",
		"settings": map[string]string{"app": "acme-api", "region": "ams", "api-url": fly.URL}})
	ann.must(201, "POST", tb+"/services", map[string]any{"name": "api"})
	tn, err := e.store.Tenants().Get(ctx, mustOrg(t, e, "acme"), "web")
	if err != nil {
		t.Fatal(err)
	}
	deps := e.store.Deployments()
	svc, err := deps.GetService(ctx, tn.ID, "api")
	if err != nil {
		t.Fatal(err)
	}
	prod, err := deps.GetEnvironment(ctx, tn.ID, "production")
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{"registry.example.com/api:v1", "registry.example.com/api:v2", "registry.example.com/api:v3"} {
		d, err := deps.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: prod.ID, Image: img, Target: "fly", Actor: "ann@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := deps.SetStatus(ctx, tn.ID, d.ID, buildit.DeploySucceeded); err != nil {
			t.Fatal(err)
		}
	}
	// Revision 3 is live; revisions 2 and 1 have a Roll back button.
	rb := func(rev int) string {
		return fmt.Sprintf(`button.js-rollback[data-what$="to revision %d (registry.example.com/api:v%d)"]`, rev, rev)
	}
	flash := `document.querySelector(".flash").textContent`
	do(t, tab, "roll back",
		chromedp.Navigate(tenant+"/environments/production"),
		chromedp.WaitVisible(rb(2)),
		chromedp.WaitVisible(rb(1)),
		// Kept: the dialog's other button.
		chromedp.Click(rb(1)),
		chromedp.WaitVisible(`dialog.js-rollback-dialog button[value=cancel]`),
		chromedp.Click(`dialog.js-rollback-dialog button[value=cancel]`),
		chromedp.WaitNotVisible(`dialog.js-rollback-dialog`),
		chromedp.Click(rb(2)),
		chromedp.WaitVisible(`dialog.js-rollback-dialog .js-rollback-confirm`),
	)
	if what := eval[string](t, tab, `document.querySelector(".js-rollback-what").textContent`); what != "Roll back api in production to revision 2 (registry.example.com/api:v2)." {
		t.Errorf("the dialog asks: %q", what)
	}
	do(t, tab, "confirm the rollback",
		chromedp.Click(`dialog.js-rollback-dialog .js-rollback-confirm`),
		chromedp.Poll[chromedp.Void](flash+` === "Rolling back api in production to revision 2. Reload to follow it."`),
	)
	// The dialog opened again and dismissed with Escape rolls nothing
	// back, although the last one was confirmed.
	do(t, tab, "dismiss a second rollback",
		chromedp.Click(rb(1)),
		chromedp.WaitVisible(`dialog.js-rollback-dialog .js-rollback-confirm`),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotVisible(`dialog.js-rollback-dialog`),
		chromedp.Sleep(500*time.Millisecond),
	)
	if got := eval[string](t, tab, flash); !strings.Contains(got, "revision 2") {
		t.Errorf("a dismissed dialog rolled back: %q", got)
	}
	if eval[bool](t, tab, `document.querySelector('`+rb(1)+`').disabled`) {
		t.Error("a dismissed dialog rolled back: revision 1's button is disabled")
	}
	browsertest.NoConsoleErrors(t, tab)
	// The new deployment, revision 4, shows on the page once made.
	for i := 0; ; i++ {
		do(t, tab, "reload", chromedp.Reload(), chromedp.WaitVisible(`table.list tbody tr`))
		if n := eval[string](t, tab, `document.querySelector("table.list tbody tr th").textContent`); strings.HasPrefix(n, "4") {
			break
		}
		if i == 300 {
			t.Fatal("no new deployment on the environment page")
		}
		do(t, tab, "wait", chromedp.Sleep(100*time.Millisecond))
	}
	rows := eval[[]string](t, tab, `Array.from(document.querySelectorAll("table.list tbody tr")).map((r) => r.textContent.replace(/\s+/g, " "))`)
	if len(rows) != 4 || !strings.Contains(rows[0], "api:v2") || !strings.Contains(rows[0], "live") {
		t.Errorf("the rows after the rollback: %q", rows)
	}
	browsertest.NoConsoleErrors(t, tab)
}
