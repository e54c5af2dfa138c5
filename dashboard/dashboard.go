// Package dashboard is BuildIt's web dashboard: HTML pages rendered on the
// server with html/template, served by the API server (package api) at /
// on the API's port. Pages are readable without JavaScript; a small
// script of our own (static/app.js) adds live updates, from the API's
// JSON and its server-sent events, and actions, through fetch to the
// JSON API.
//
// The package knows nothing of authentication or roles: every page names
// the API route it mirrors (Route.API), and package api puts the page
// behind that route's guard, so that a page is shown to exactly whom the
// API would answer, and is a 404 to whom the API's route is one. Handlers
// then read only what belongs to the tenant the guard resolved.
package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/db"
)

// ContentSecurityPolicy is sent with every page: scripts, styles and
// everything else from this origin only, no inline script or style, no
// framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Options configure a Dashboard.
type Options struct {
	// Fail answers a request whose page failed with err: package api's
	// translation of errors to statuses, rendered with RenderError, or a
	// redirect to SignIn when nobody is signed in.
	Fail func(c *gin.Context, err error)
	// UILink is the Temporal Web UI's page of a run, or "" (nil: none).
	UILink func(r db.Run) string
	// Log is where render failures go.
	Log *slog.Logger
}

// Dashboard renders the pages. Build it with New.
type Dashboard struct {
	store  *db.Store
	opts   Options
	assets *assets
	pages  map[string]*template.Template
	bufs   sync.Pool
}

// Viewer is who looks at a page, as the API's guard resolved them: the
// signed-in user and, on organization and tenant pages, the organization
// and tenant of the URL with the user's roles there.
type Viewer struct {
	User       db.User
	Org        db.Organization
	OrgRole    db.OrgRole
	Tenant     db.Tenant
	TenantRole db.TenantRole
	// Can reports whether the viewer may call the API route (method and
	// path as api/routes.go spells them) in this page's organization and
	// tenant: the API's own rule, so that a page offers exactly the
	// actions the API would take. nil: none.
	Can func(method, route string) bool
}

// The API routes whose rules decide which actions a page offers (the
// viewer's Can), "METHOD path" as api/routes.go spells them.
const (
	actCreateTenant  = "POST " + apiOrg + "/tenants"
	actOrgMembers    = "POST " + apiOrg + "/members"
	actAPIKeys       = "POST " + apiOrg + "/api-keys"
	actTenantMembers = "POST " + apiTenant + "/members"
	actSecrets       = "PUT " + apiTenant + "/secrets/:name"
	actTargets       = "POST " + apiTenant + "/targets"
	actEnvironments  = "POST " + apiTenant + "/environments"
	actRollback      = "POST " + apiTenant + "/deployments/:id/rollback"
	actEditPipeline  = "PUT " + apiPipe
)

// ActionRoutes lists them, for the server to check that each is an API
// route, as it does the pages'.
var ActionRoutes = []string{actCreateTenant, actOrgMembers, actAPIKeys, actTenantMembers, actSecrets, actTargets, actEnvironments, actRollback, actEditPipeline}

// may is v.Can of an action route ("METHOD path"), false without one.
func (v Viewer) may(action string) bool {
	method, route, _ := strings.Cut(action, " ")
	return v.Can != nil && v.Can(method, route)
}

// Route is one page (always GET) and the API route whose access it takes.
type Route struct {
	// Path is the page's path, in gin's syntax.
	Path string
	// API is "METHOD PATH" of the route under /api/v1 whose access rule
	// the page has; "" for a page anyone may see (sign-in, sign-up).
	API string
	// Handle renders the page for v.
	Handle func(c *gin.Context, v Viewer)
}

// Error is a page's refusal: a status and a message safe to show.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func notFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Message: what + " not found"}
}

// New returns the dashboard over store.
func New(store *db.Store, opts Options) (*Dashboard, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.UILink == nil {
		opts.UILink = func(db.Run) string { return "" }
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	d := &Dashboard{store: store, opts: opts, assets: a}
	d.bufs.New = func() any { return new(bytes.Buffer) }
	if d.pages, err = parsePages(a); err != nil {
		return nil, err
	}
	if d.opts.Fail == nil {
		d.opts.Fail = func(c *gin.Context, err error) {
			var e *Error
			if errors.As(err, &e) {
				d.RenderError(c, e.Status, e.Message)
				return
			}
			d.RenderError(c, http.StatusInternalServerError, "internal error")
		}
	}
	return d, nil
}

// Paths of the pages, for the handlers' links and the tests.
const (
	orgPath    = "/orgs/:org"
	tenantPath = orgPath + "/tenants/:tenant"
	pipePath   = tenantPath + "/pipelines/:pipeline"
	runPath    = pipePath + "/runs/:number"
	// The API's paths the pages mirror, as api/routes.go spells them.
	apiOrg    = "/orgs/:org"
	apiTenant = apiOrg + "/tenants/:tenant"
	apiPipe   = apiTenant + "/pipelines/:pipeline"
	apiRun    = apiPipe + "/runs/:number"
)

// Routes lists every page.
func (d *Dashboard) Routes() []Route {
	return append([]Route{
		{"/login", "", d.loginPage},
		{"/signup", "", d.signupPage},
		{"/", "GET /me", d.home},
		{orgPath, "GET " + apiOrg + "/tenants", d.orgPage},
		{tenantPath, "GET " + apiTenant + "/pipelines", d.pipelinesPage},
		{pipePath, "GET " + apiPipe + "/runs", d.runsPage},
		{runPath, "GET " + apiRun, d.runPage},
		{runPath + "/log", "GET " + apiRun + "/logs", d.logPage},
		{runPath + "/log.txt", "GET " + apiRun + "/logs", d.logText},
	}, d.adminRoutes()...)
}

// Headers sets the headers every page and error page has: the strict CSP,
// no sniffing, no referrer across origins, no caching of pages.
func (d *Dashboard) Headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// Mount serves the static assets (under /assets/, by fingerprinted name)
// on e.
func (d *Dashboard) Mount(e *gin.Engine) {
	e.GET("/assets/:name", d.assets.serve)
	e.HEAD("/assets/:name", d.assets.serve)
}

// SignIn redirects a visitor who is not signed in to the sign-in page,
// which brings them back to the page they asked for.
func (d *Dashboard) SignIn(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
	c.Abort()
}

// RenderError answers with the error page: status, and msg shown.
func (d *Dashboard) RenderError(c *gin.Context, status int, msg string) {
	d.Headers(c)
	d.render(c, status, "error", page{Title: http.StatusText(status), Data: errorData{Status: status, Message: msg}})
	c.Abort()
}

// safeNext is where the sign-in page sends a user back to: a path of
// this site ("/…", not "//…" nor "/\…", which browsers read as another
// host), else "/".
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n\t\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// page is what the layout needs, around a page's own Data.
type page struct {
	Title  string
	Viewer *Viewer
	Nav    *nav
	Crumbs []crumb
	// API is the JSON API's URL of what the page shows, for the script.
	API  string
	Data any
}

type crumb struct{ Label, Href string }

type errorData struct {
	Status  int
	Message string
}

// render executes the page's template into a buffer, then sends it: a
// template that fails sends a 500, never half a page.
func (d *Dashboard) render(c *gin.Context, status int, name string, p page) {
	t, ok := d.pages[name]
	if !ok {
		panic(fmt.Sprintf("dashboard: no template %q", name))
	}
	buf := d.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() < 4<<20 {
			buf.Reset()
			d.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if err := t.ExecuteTemplate(buf, "layout", p); err != nil {
		d.opts.Log.Error("dashboard page not rendered", "page", name, "error", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error; it has been logged"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}
