package api

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/internal/browsertest"
)

// ScreenshotsEnv, set to 1, makes TestDashboardInBrowser write its
// screenshots to docs/screenshots (for the README) instead of a
// temporary folder, so CI does not rewrite committed files.
const screenshotsEnv = "BUILDIT_SCREENSHOTS"

// browserKDL has a quick stage, a stage that prints a line a second (so
// the browser follows its log while it runs), a gate, and a stage after
// the gate.
const browserKDL = `pipeline "release"
stage "build" { run "echo compiling; printf '\\033[32mok\\033[0m 3 packages\\n'"; }
stage "test" needs="build" { run "for i in 1 2 3 4 5 6 7 8; do echo line-$i; sleep 1; done; printf '\\033[32mall passed\\033[0m\\n'"; }
stage "approve" needs="test" { approval { message "Ship it?"; }; }
stage "ship" needs="approve" { run "echo shipped"; }
`

// waitRun is how long a wait on a run's progress may take: the stages
// above take about 10 s, on a shared 2-core machine.
var waitRun = chromedp.WithPollingTimeout(90 * time.Second)

// do runs the actions in tab and fails the test, saying what it was
// doing, if they fail.
func do(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page of tab.
func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitPath waits until the tab's page is at a path that match says is
// the one expected, across the navigations on the way (a Poll in the page
// would end with the page it started in).
func waitPath(t *testing.T, tab context.Context, what string, match func(path string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		loc, err := chromedp.Run(tab, chromedp.Location())
		if err == nil {
			if u, perr := url.Parse(loc); perr == nil && match(u.Path) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still at %s (%v)", what, loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shots answers with the folder screenshots go to.
func shots(t *testing.T) string {
	if os.Getenv(screenshotsEnv) == "1" {
		return filepath.Join("..", "docs", "screenshots")
	}
	return t.TempDir()
}

// TestDashboardInBrowser drives the dashboard in a headless Chromium
// against the real server and a real run on the embedded Temporal: sign
// up, trigger a run from the pipelines page, watch its graph, follow a
// stage's log live, approve the gate, and see the run succeed. It checks
// that no page raised a JavaScript error or broke its CSP.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	tab := browsertest.Tab(t)
	e := setup(t).withRuns(t)
	site := e.srv.URL
	dir := shots(t)

	// Sign up through the form; the script posts to the API, signs in
	// and goes home, which leads to the new organization.
	do(t, tab, "sign up",
		chromedp.Navigate(site+"/signup"),
		chromedp.WaitVisible(`form.js-signup button[type=submit]`),
		chromedp.SendKeys(`input[name=name]`, "Ann"),
		chromedp.SendKeys(`input[name=email]`, "ann@example.com"),
		chromedp.SendKeys(`input[name=password]`, "password-ann@example.com"),
		chromedp.SendKeys(`input[name=organization]`, "Acme"),
		chromedp.Click(`form.js-signup button[type=submit]`),
	)
	waitPath(t, tab, "sign up", func(p string) bool { return p == "/orgs/acme" })
	do(t, tab, "organization page", chromedp.WaitVisible(`main h1`))
	browsertest.NoConsoleErrors(t, tab)

	// The dashboard has no form yet to create a tenant or push a
	// pipeline: the same user does it through the JSON API.
	ann := e.anon()
	ann.must(200, "POST", "/auth/login", map[string]string{"email": "ann@example.com", "password": "password-ann@example.com"})
	ann.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	ann.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "release", "source": browserKDL})

	// The pipelines page; its Run form opens the new run.
	tenant := site + "/orgs/acme/tenants/web"
	do(t, tab, "trigger from the pipelines page",
		chromedp.Navigate(tenant),
		chromedp.WaitVisible(`details.trigger summary`),
		chromedp.Click(`details.trigger summary`),
		chromedp.WaitVisible(`form.js-trigger input[name=branch]`),
		chromedp.SendKeys(`form.js-trigger input[name=branch]`, "main"),
		chromedp.Click(`form.js-trigger button[type=submit]`),
	)
	waitPath(t, tab, "trigger", func(p string) bool { return p == "/orgs/acme/tenants/web/pipelines/release/runs/1" })
	do(t, tab, "run page", chromedp.WaitReady(`.graph a.node[data-stage="build"]`))
	browsertest.NoConsoleErrors(t, tab)

	// The graph follows the run: build succeeds, test runs.
	do(t, tab, "watch the graph",
		chromedp.Poll[chromedp.Void](`document.querySelector('.graph a.node[data-stage="build"]').classList.contains("s-succeeded")`, waitRun),
		chromedp.Poll[chromedp.Void](`document.querySelector('.graph a.node[data-stage="test"]').classList.contains("s-running")`, waitRun),
	)
	if m := eval[string](t, tab, `document.querySelector('.graph a.node[data-stage="build"] .m').textContent`); !strings.Contains(m, "✓ succeeded") {
		t.Errorf("build's node says %q", m)
	}
	browsertest.NoConsoleErrors(t, tab)

	// A second tab keeps the run page open while the run goes on: the
	// gate must show up there when it starts waiting.
	runTab := browsertest.Tab(t)
	run := tenant + "/pipelines/release/runs/1"
	do(t, runTab, "open the run in a second tab",
		chromedp.Navigate(run),
		chromedp.WaitReady(`.graph a.node[data-stage="approve"]`),
	)
	if n := eval[int](t, runTab, `document.querySelectorAll("form.js-decide").length`); n != 0 {
		t.Fatalf("the run page shows %d approval forms before the gate waits", n)
	}

	// test's log, opened from its node while it runs: the lines come
	// in through SSE, into the same document.
	do(t, tab, "open the running stage's log",
		chromedp.Click(`.graph a.node[data-stage="test"]`),
	)
	waitPath(t, tab, "open the log", func(p string) bool { return strings.HasSuffix(p, "/runs/1/log") })
	do(t, tab, "log page", chromedp.WaitReady(`ol#log`))
	if follow := eval[string](t, tab, `document.getElementById("log").dataset.follow || ""`); follow == "" {
		t.Fatal("the log of a running stage is not followed (no data-follow)")
	}
	// A mark on the document: still there at the end, so the lines
	// did not come from a reload.
	first := eval[int](t, tab, `(window.__e2e = 1, document.querySelectorAll("#log li").length)`)
	do(t, tab, "see the lines appear live",
		chromedp.Poll[chromedp.Void](`Array.from(document.querySelectorAll("#log li .lt")).some((l) => l.textContent === "all passed")`, waitRun),
		chromedp.WaitVisible(`.js-end`),
	)
	if first >= 8 {
		t.Errorf("the page was rendered with %d lines: nothing was left to follow", first)
	}
	if eval[int](t, tab, `window.__e2e || 0`) != 1 {
		t.Error("the log page was reloaded: the lines did not come through SSE")
	}
	if got := eval[string](t, tab, `Array.from(document.querySelectorAll("#log li .lt")).map((l) => l.textContent).join(",")`); got != "line-1,line-2,line-3,line-4,line-5,line-6,line-7,line-8,all passed" {
		t.Errorf("lines shown: %s", got)
	}
	// The script colours followed lines as the server does stored ones.
	if got := eval[string](t, tab, `(document.querySelector("#L9 .lt span.fg2") || {}).textContent || ""`); got != "all passed" {
		t.Errorf("the followed line's green span: %q", got)
	}
	// Search marks the matching lines.
	do(t, tab, "search the log",
		chromedp.SendKeys(`form.js-search input`, "line-3"),
		chromedp.Poll[chromedp.Void](`document.querySelector(".js-count").textContent === "1 matching lines"`),
		chromedp.Click(`form.js-search button`),
		chromedp.WaitReady(`#L3.hit.cur`),
	)
	if got := eval[string](t, tab, `document.querySelector(".js-end").textContent`); !strings.Contains(got, "succeeded") {
		t.Errorf("end of the log: %q", got)
	}
	if got := eval[string](t, tab, `document.querySelector(".js-stage-status .word").textContent`); got != "succeeded" {
		t.Errorf("stage status on the log page: %q", got)
	}
	browsertest.NoConsoleErrors(t, tab)

	// The gate waits, in the page opened before it did; approve it and
	// the run ends.
	tab = runTab
	// The page reloads itself once when a gate starts waiting, to render
	// the gate's form: a wait that the reload cuts short is waited again.
	for attempt := 0; ; attempt++ {
		err := chromedp.Do(tab,
			chromedp.Poll[chromedp.Void](`document.readyState === "complete" && !!document.querySelector('form.js-decide button[value=approve]') && document.querySelector('.graph a.node[data-stage="approve"]').classList.contains("s-waiting")`, waitRun),
		)
		if err == nil {
			break
		}
		if attempt >= 3 || !strings.Contains(err.Error(), "(-32000)") { // the page went away under the wait
			t.Fatalf("the gate's form: %v", err)
		}
	}
	do(t, tab, "approve the gate",
		chromedp.WaitVisible(`form.js-decide button[value=approve]`),
		chromedp.SendKeys(`form.js-decide input[name=reason]`, "looks good"),
		chromedp.Click(`form.js-decide button[value=approve]`),
		chromedp.Poll[chromedp.Void](`document.querySelector(".flash").textContent === "Approved."`),
		chromedp.Poll[chromedp.Void](`document.querySelector(".js-run-status .word").textContent === "succeeded"`, waitRun),
	)
	if shown := eval[bool](t, tab, `(() => { const s = document.querySelector('[aria-labelledby="gates"]'); return !!s && !s.hidden; })()`); shown {
		t.Error("the run page still says it waits for an approval")
	}
	for _, id := range []string{"build", "test", "approve", "ship"} {
		if cls := eval[string](t, tab, `document.querySelector('.graph a.node[data-stage="`+id+`"]').getAttribute("class")`); cls != "node s-succeeded" {
			t.Errorf("node %s: class %q", id, cls)
		}
	}
	browsertest.NoConsoleErrors(t, tab)
	browsertest.Screenshot(t, tab, filepath.Join(dir, "run.png"))

	// The ended stage's log: every line, nothing followed.
	do(t, tab, "read an ended log",
		chromedp.Navigate(run+"/log?stage=test"),
		chromedp.WaitVisible(`#L9`),
	)
	if follow := eval[string](t, tab, `document.getElementById("log").dataset.follow || ""`); follow != "" {
		t.Errorf("the log of an ended stage is followed: %s", follow)
	}
	browsertest.NoConsoleErrors(t, tab)
	browsertest.Screenshot(t, tab, filepath.Join(dir, "log.png"))

	// The pipelines page shows the run as the last one.
	do(t, tab, "see the last run",
		chromedp.Navigate(tenant),
		chromedp.WaitVisible(`table.list`),
	)
	if row := eval[string](t, tab, `document.querySelector("table.list tbody tr").textContent`); !strings.Contains(row, "#1") || !strings.Contains(row, "succeeded") || !strings.Contains(row, "main") {
		t.Errorf("pipelines page row: %q", row)
	}
	browsertest.NoConsoleErrors(t, tab)
	browsertest.Screenshot(t, tab, filepath.Join(dir, "pipelines.png"))

	// Sign out: the script posts to the API and shows the sign-in page;
	// the dashboard then sends a visitor there.
	do(t, tab, "sign out", chromedp.Click(`button[data-action=logout]`))
	waitPath(t, tab, "sign out", func(p string) bool { return p == "/login" })
	do(t, tab, "signed out", chromedp.Navigate(tenant), chromedp.WaitVisible(`form.js-login`))
	browsertest.NoConsoleErrors(t, tab)
}

// BenchmarkDashboardFirstLogLine measures, in the browser, a trigger (a
// POST …/runs, as the Run form sends) to the first line of its stage shown
// on the stage's log page, opened at once (before the stage has started,
// as a click on its node would). It reports the median, ms-p50; run it
// with -benchtime 20x.
func BenchmarkDashboardFirstLogLine(b *testing.B) {
	tab := browsertest.Tab(b)
	e := setup(b).withRuns(b)
	ann := e.signup("ann@example.com", "Acme")
	ann.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	ann.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "hello", "source": helloKDL})
	if err := chromedp.Do(tab,
		chromedp.Navigate(e.srv.URL+"/login"),
		chromedp.WaitVisible(`form.js-login button`),
		chromedp.SendKeys(`input[name=email]`, "ann@example.com"),
		chromedp.SendKeys(`input[name=password]`, "password-ann@example.com"),
		chromedp.Click(`form.js-login button`),
	); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if loc, err := chromedp.Run(tab, chromedp.Location()); err == nil && strings.HasSuffix(loc, "/orgs/acme") {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("not signed in")
		}
		time.Sleep(50 * time.Millisecond)
	}
	base := "/orgs/acme/tenants/web/pipelines/hello/runs"
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		var v apiview.Run
		ann.must(201, "POST", base, map[string]string{"branch": "main"}).json(b, &v)
		if err := chromedp.Do(tab,
			chromedp.Navigate(fmt.Sprintf("%s%s/%d/log?stage=greet", e.srv.URL, base, v.Number)),
			chromedp.WaitReady(`#log li`),
		); err != nil {
			b.Fatalf("run %d: %v", v.Number, err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	browsertest.NoConsoleErrors(b, tab)
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "ms-max")
}
