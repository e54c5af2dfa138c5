package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The kinds of Problem.
const (
	// KindException is an exception nothing caught, or a promise
	// rejection nothing handled.
	KindException = "exception"
	// KindConsole is a call of console.error or a failed console.assert.
	KindConsole = "console"
	// KindLog is an error the browser itself logged for the page: a
	// resource that failed to load, a blocked request, a CSP refusal as
	// the console shows it.
	KindLog = "log"
	// KindCSP is a securitypolicyviolation event: the page did something
	// its Content-Security-Policy (or its report-only policy) forbids.
	KindCSP = "csp"
)

// Problem is an error a page of a tab raised.
type Problem struct {
	// Kind is one of the Kind constants.
	Kind string
	// Text is what DevTools' console would show; for KindCSP, the
	// directive that was broken and what it blocked.
	Text string
	// URL and Line say where, when the browser says so (Line starts at
	// 1; 0 when unknown).
	URL  string
	Line int64
}

// String formats the problem as a test failure lists it.
func (p Problem) String() string {
	s := p.Kind + ": " + p.Text
	if p.URL != "" {
		s += fmt.Sprintf(" (%s:%d)", p.URL, p.Line)
	}
	return s
}

// cspBinding is the function the page calls with each violation; a
// DevTools binding, so the page's own CSP cannot block the call.
const cspBinding = "__builditCSPViolation"

// cspListener is evaluated in every document the tab loads, before the
// page's own scripts. It runs from DevTools, not from the page, so the
// page's CSP does not apply to it.
const cspListener = `(() => {
	const report = window.` + cspBinding + `;
	document.addEventListener("securitypolicyviolation", (e) => {
		report(JSON.stringify({
			directive: e.effectiveDirective || e.violatedDirective,
			blocked: e.blockedURI,
			disposition: e.disposition,
			source: e.sourceFile,
			line: e.lineNumber,
			sample: e.sample,
		}));
	}, true);
})();`

// cspReport is what cspListener sends.
type cspReport struct {
	Directive   string `json:"directive"`
	Blocked     string `json:"blocked"`
	Disposition string `json:"disposition"`
	Source      string `json:"source"`
	Line        int64  `json:"line"`
	Sample      string `json:"sample"`
}

type collectorKey struct{}

// collector gathers the problems of one tab, across its navigations.
type collector struct {
	mu       sync.Mutex
	problems []Problem
}

func newCollector() *collector { return &collector{} }

// attach opens the tab of ctx, starts listening to it and installs the
// CSP listener for the documents it will load.
func (c *collector) attach(ctx context.Context) error {
	// Listen opens the tab; it is about:blank until the test navigates.
	if err := chromedp.Listen(ctx, c.event); err != nil {
		return err
	}
	if _, err := chromedp.Call(ctx, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding}); err != nil {
		return fmt.Errorf("add binding: %w", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener}); err != nil {
		return fmt.Errorf("add the CSP listener: %w", err)
	}
	return nil
}

// event is called by chromedp for each event of the tab, on the goroutine
// that reads from the browser: it must not block.
func (c *collector) event(ev any) {
	var p Problem
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		p = Problem{Kind: KindException, Text: d.Text, URL: d.URL, Line: d.LineNumber + 1}
		if d.Exception != nil && d.Exception.Description != "" {
			desc, _, _ := strings.Cut(d.Exception.Description, "\n")
			p.Text += " " + desc
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		p = Problem{Kind: KindConsole, Text: consoleArgs(ev.Args)}
		if st := ev.StackTrace; st != nil && len(st.CallFrames) > 0 {
			p.URL, p.Line = st.CallFrames[0].URL, st.CallFrames[0].LineNumber+1
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		if e.Level != log.EntryLevelError {
			return
		}
		p = Problem{Kind: KindLog, Text: e.Text, URL: e.URL, Line: e.LineNumber + 1}
		if e.Source != "" {
			p.Text = string(e.Source) + ": " + e.Text
		}
	case *runtime.EventBindingCalled:
		if ev.Name != cspBinding {
			return
		}
		var r cspReport
		if err := json.Unmarshal([]byte(ev.Payload), &r); err != nil {
			p = Problem{Kind: KindCSP, Text: "unreadable report: " + ev.Payload}
			break
		}
		p = Problem{Kind: KindCSP, URL: r.Source, Line: r.Line,
			Text: fmt.Sprintf("%s blocked %s (%s)", r.Directive, r.Blocked, r.Disposition)}
		if r.Sample != "" {
			p.Text += fmt.Sprintf(": %q", r.Sample)
		}
	default:
		return
	}
	c.mu.Lock()
	c.problems = append(c.problems, p)
	c.mu.Unlock()
}

// consoleArgs renders the arguments of a console call, roughly as the
// console shows them.
func consoleArgs(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		var s string
		switch {
		case a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &s) == nil:
		case a.Description != "":
			s = a.Description
		case len(a.Value) > 0:
			s = string(a.Value)
		default:
			s = string(a.Type)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// settle makes sure the problems the page has raised so far have reached
// the collector: it waits, in the page, for the tasks already queued
// (a securitypolicyviolation event is dispatched from a task of its own),
// and chromedp hands a tab's events to its listeners before the reply to
// a command that follows them.
func settle(tab context.Context) error {
	_, err := chromedp.Run(tab, chromedp.Evaluate[bool](
		`new Promise((resolve) => setTimeout(() => resolve(true), 0))`, chromedp.EvalAwaitPromise))
	return err
}

// Problems answers with the errors and CSP violations the pages of tab
// (a context from Tab) have raised so far, in the order they came.
func Problems(t testing.TB, tab context.Context) []Problem {
	t.Helper()
	c, ok := tab.Value(collectorKey{}).(*collector)
	if !ok {
		t.Fatal("browsertest: the context is not a tab from browsertest.Tab")
	}
	if err := settle(tab); err != nil {
		t.Errorf("browsertest: wait for the page's events: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Problem(nil), c.problems...)
}

// NoConsoleErrors fails the test (without stopping it) when the pages of
// tab have thrown an uncaught exception, logged an error to the console,
// failed to load a resource or broken their Content-Security-Policy,
// listing each problem.
func NoConsoleErrors(t testing.TB, tab context.Context) {
	t.Helper()
	ps := Problems(t, tab)
	if len(ps) == 0 {
		return
	}
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	t.Errorf("the page raised %d problem(s):%s", len(ps), b.String())
}

// ExpectProblem takes out of what the pages of tab have raised so far the
// problems of kind whose text contains text (a refusal the test caused on
// purpose: Chromium logs every fetch answered 4xx as a failed resource),
// so that NoConsoleErrors does not report them; it fails the test when
// there was no such problem.
func ExpectProblem(t testing.TB, tab context.Context, kind, text string) {
	t.Helper()
	Problems(t, tab) // settle
	c := tab.Value(collectorKey{}).(*collector)
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.problems[:0]
	for _, p := range c.problems {
		if p.Kind != kind || !strings.Contains(p.Text, text) {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(c.problems) {
		t.Errorf("the page raised no %s problem with %q", kind, text)
	}
	c.problems = kept
}
