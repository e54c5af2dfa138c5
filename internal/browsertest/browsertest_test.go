package browsertest_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/buildit-ci/buildit/internal/browsertest"
)

func TestMain(m *testing.M) { os.Exit(browsertest.Run(m)) }

// strictCSP allows scripts from the page's own origin only: no inline
// script, no eval.
const strictCSP = "default-src 'self'; script-src 'self'"

// site serves the test pages, each under the strict CSP.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	pages := map[string]string{
		// An external script changes the DOM: allowed by the CSP.
		"/clean": `<!doctype html><title>clean</title>
<p id="status">waiting</p>
<script src="/app.js"></script>`,
		// An inline script the CSP refuses; the external one still
		// runs, so the test can wait for the DOM before it looks.
		"/inline": `<!doctype html><title>inline</title>
<p id="status">waiting</p>
<script>document.getElementById("status").textContent = "inline ran";</script>
<script src="/app.js"></script>`,
		// A script that throws after changing the DOM.
		"/throws": `<!doctype html><title>throws</title>
<p id="status">waiting</p>
<script src="/app.js"></script>
<script src="/throw.js"></script>`,
		// A page taller than the window. Its height comes from a style
		// sheet: the CSP refuses inline styles too.
		"/tall": `<!doctype html><title>tall</title>
<link rel="stylesheet" href="/tall.css">
<p id="status">waiting</p>
<script src="/app.js"></script>`,
	}
	assets := map[string]string{
		"/app.js": `const s = document.getElementById("status");
s.textContent = "ready";
s.dataset.ready = "1";`,
		"/throw.js": `throw new Error("boom from throw.js");`,
		"/tall.css": `#status { height: 2000px; }`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", strictCSP)
		if body, ok := pages[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
			return
		}
		if body, ok := assets[r.URL.Path]; ok {
			typ := "text/javascript"
			if strings.HasSuffix(r.URL.Path, ".css") {
				typ = "text/css"
			}
			w.Header().Set("Content-Type", typ)
			fmt.Fprint(w, body)
			return
		}
		if r.URL.Path == "/favicon.ico" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// load opens url in a new tab and waits until app.js has run.
func load(t *testing.T, url string) context.Context {
	t.Helper()
	tab := browsertest.Tab(t)
	if err := chromedp.Do(tab,
		chromedp.Navigate(url),
		chromedp.WaitVisible("#status[data-ready]"),
	); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	return tab
}

func TestExternalScriptUnderStrictCSP(t *testing.T) {
	t.Parallel()
	srv := site(t)
	tab := load(t, srv.URL+"/clean")
	text, err := chromedp.Run(tab, chromedp.Text("#status"))
	if err != nil {
		t.Fatal(err)
	}
	if text != "ready" {
		t.Errorf("#status = %q, want the text app.js sets", text)
	}
	browsertest.NoConsoleErrors(t, tab)
}

// recorder is a testing.TB that keeps the failures of the helper under
// test instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestProblemsAreReported(t *testing.T) {
	t.Parallel()
	srv := site(t)
	cases := []struct {
		name string
		path string
		kind string // a Problem of this kind is expected
		text string // in its text
	}{
		{"inline script refused by the CSP", "/inline", browsertest.KindCSP, "script-src"},
		{"uncaught exception", "/throws", browsertest.KindException, "boom from throw.js"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tab := load(t, srv.URL+tc.path)

			ps := browsertest.Problems(t, tab)
			found := false
			for _, p := range ps {
				t.Logf("problem: %s", p)
				if p.Kind == tc.kind && strings.Contains(p.Text, tc.text) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s problem containing %q among %v", tc.kind, tc.text, ps)
			}

			// The detector fails the test it is given.
			rec := &recorder{TB: t}
			browsertest.NoConsoleErrors(rec, tab)
			if len(rec.errors) == 0 {
				t.Error("NoConsoleErrors passed a page with problems")
			}
			for _, e := range rec.errors {
				t.Logf("NoConsoleErrors would fail with: %s", e)
			}
		})
	}
}

func TestScreenshotIsPNG(t *testing.T) {
	t.Parallel()
	srv := site(t)
	tab := load(t, srv.URL+"/tall")
	path := filepath.Join(t.TempDir(), "shots", "tall.png")
	browsertest.Screenshot(t, tab, path)

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Fatalf("%s does not decode: %v", path, err)
	}
	if cfg.Width != browsertest.WindowWidth {
		t.Errorf("screenshot is %d px wide, want the window's %d", cfg.Width, browsertest.WindowWidth)
	}
	if cfg.Height <= browsertest.WindowHeight {
		t.Errorf("screenshot is %d px high: not the whole 2000 px page", cfg.Height)
	}
	browsertest.NoConsoleErrors(t, tab)
}
