// Package browsertest drives a real headless Chromium from tests, through
// chromedp: one browser per test binary, started when a test first asks
// for a tab, and a tab of its own for each test.
//
// The browser is the binary BUILDIT_CHROMIUM names, or else the first of
// chromium (Debian's package), chromium-browser and google-chrome on
// PATH. Without one a test that asks for a tab is skipped, or fails when
// BUILDIT_REQUIRE_BROWSER=1 (as in CI).
//
// A package whose tests use it should stop the browser when they are
// done:
//
//	func TestMain(m *testing.M) { os.Exit(browsertest.Run(m)) }
//
// Without that the browser still dies with the test binary (chromedp
// starts it with a parent-death signal), but its temporary profile folder
// is left behind.
//
// A test then takes a tab, drives it with chromedp and checks that the
// page raised no JavaScript error and broke no Content Security Policy:
//
//	tab := browsertest.Tab(t)
//	if err := chromedp.Do(tab, chromedp.Navigate(url), chromedp.WaitVisible("#app")); err != nil {
//		t.Fatal(err)
//	}
//	browsertest.NoConsoleErrors(t, tab)
//	browsertest.Screenshot(t, tab, "../docs/screenshots/runs.png")
//
// See ../../../shared/recipes/chromium-chromedp.md for the setup this
// package follows.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The environment variables this package reads.
const (
	// BinaryEnv names the Chromium (or Chrome) binary to start instead
	// of the one found on PATH.
	BinaryEnv = "BUILDIT_CHROMIUM"
	// RequireEnv, set to 1, turns "no browser" from a skip into a
	// failure, for CI.
	RequireEnv = "BUILDIT_REQUIRE_BROWSER"
)

// The window every tab gets, in CSS pixels: wide enough for the
// dashboard's desktop layout, so screenshots are stable from run to run.
const (
	WindowWidth  = 1280
	WindowHeight = 900
)

// TabTimeout bounds everything a test does in one tab. It is generous:
// on the project's shared 2-core machine the browser's first start alone
// can take seconds, and tests assert on the DOM, never on timing.
const TabTimeout = 2 * time.Minute

// binaryNames are the names looked up on PATH, in order: Debian's
// package, other distributions' name for it, and Google's build.
var binaryNames = []string{"chromium", "chromium-browser", "google-chrome"}

// Binary answers with the path of the browser the tests would start, or
// "" when there is none.
func Binary() string {
	p, _ := findBinary()
	return p
}

// findBinary answers with the browser's path, or with why there is none.
func findBinary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		return path, nil
	}
	for _, name := range binaryNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("none of %v on PATH and %s unset (Debian: apt-get install chromium)", binaryNames, BinaryEnv)
}

// browser is the Chromium every test of this binary shares.
type browser struct {
	ctx    context.Context // the browser's first tab; tabs are its children
	cancel context.CancelFunc
}

var (
	mu        sync.Mutex
	once      = new(sync.Once) // replaced by Stop, so a later Tab starts again
	shared    *browser
	sharedErr error
)

// start starts the browser at path and waits until it answers.
func start(path string) (*browser, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Tests run as root, and Chromium refuses to start as root
		// inside its sandbox.
		chromedp.NoSandbox,
		chromedp.WindowSize(WindowWidth, WindowHeight),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	cancel := func() { bcancel(); acancel() }
	// The first action starts the process. No timeout on bctx itself:
	// its end is the browser's end. A start that hangs is bounded by a
	// timer that stops the browser instead.
	timer := time.AfterFunc(TabTimeout, cancel)
	err := chromedp.Do(bctx)
	if !timer.Stop() {
		err = fmt.Errorf("no answer within %v", TabTimeout)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return &browser{ctx: bctx, cancel: cancel}, nil
}

// get answers with the shared browser, starting it on the first call.
func get(path string) (*browser, error) {
	mu.Lock()
	o := once
	mu.Unlock()
	o.Do(func() {
		b, err := start(path)
		mu.Lock()
		shared, sharedErr = b, err
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	return shared, sharedErr
}

// Run runs the tests and then stops the browser, if one was started, and
// answers with the exit code for os.Exit; call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(browsertest.Run(m)) }
func Run(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop kills the shared browser and removes its profile folder. Run
// calls it; a later Tab starts a new browser.
func Stop() {
	mu.Lock()
	b := shared
	shared, sharedErr = nil, nil
	once = new(sync.Once)
	mu.Unlock()
	if b != nil {
		b.cancel()
	}
}

// Tab opens a new tab in the shared browser (starting it if need be) and
// answers with its chromedp context: pass it to chromedp.Do and
// chromedp.Run. The tab is already listening for the page's errors (see
// NoConsoleErrors); it is closed when the test ends, and everything done
// in it is bounded by TabTimeout.
//
// Without a browser the test is skipped, or fails when
// BUILDIT_REQUIRE_BROWSER=1.
func Tab(t testing.TB) context.Context {
	t.Helper()
	path, err := findBinary()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("no browser for tests (%s=1): %v", RequireEnv, err)
		}
		t.Skipf("no browser for tests: %v", err)
	}
	b, err := get(path)
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	tctx, tcancel := chromedp.NewContext(b.ctx)
	ctx, cancel := context.WithTimeout(tctx, TabTimeout)
	t.Cleanup(func() {
		cancel()
		tcancel() // closes the tab
	})
	c := newCollector()
	ctx = context.WithValue(ctx, collectorKey{}, c)
	if err := c.attach(ctx); err != nil {
		t.Fatalf("browsertest: open a tab: %v", err)
	}
	return ctx
}
