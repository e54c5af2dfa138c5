package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/dashboard"
	"github.com/buildit-ci/buildit/db"
)

// mountDashboard serves the web dashboard's pages at / beside the API.
// Each page takes the access of the API route it mirrors, through the
// same guard, so that a page is a 404 exactly where its API route is one;
// pages are for signed-in people, not API keys. Its refusals are pages:
// the same status as the API's, and a redirect to the sign-in page for a
// visitor who is not signed in.
func (s *Server) mountDashboard(e *gin.Engine) error {
	uiLink := func(r db.Run) string {
		if s.cfg.Runs == nil {
			return ""
		}
		return s.cfg.Runs.UILink(r)
	}
	d, err := dashboard.New(s.store, dashboard.Options{Fail: s.failPage, UILink: uiLink, Log: s.log})
	if err != nil {
		return err
	}
	s.dash = d
	d.Mount(e)
	rules := map[string]access{}
	for _, r := range s.routes() {
		rules[r.method+" "+r.path] = r.access
	}
	for _, r := range dashboard.ActionRoutes {
		if _, ok := rules[r]; !ok {
			return fmt.Errorf("dashboard action %s is no API route", r)
		}
	}
	for _, p := range d.Routes() {
		handle := p.Handle
		if p.API == "" {
			e.GET(p.Path, d.Headers, func(c *gin.Context) { handle(c, dashboard.Viewer{}) })
			continue
		}
		a, ok := rules[p.API]
		if !ok {
			return fmt.Errorf("dashboard page %s mirrors %s, which is no API route", p.Path, p.API)
		}
		a.scope = noKeys
		e.GET(p.Path, d.Headers, s.guardWith(a, s.failPage), func(c *gin.Context) { handle(c, viewerOf(c, rules)) })
	}
	return nil
}

// viewerOf is who the guard let through to a page, with what the API's
// rules (by "METHOD path") let them do there.
func viewerOf(c *gin.Context, rules map[string]access) dashboard.Viewer {
	var v dashboard.Viewer
	p := principalOf(c)
	if p.user != nil {
		v.User = *p.user
	}
	if o, ok := c.Get(orgKey); ok {
		v.Org, v.OrgRole = o.(db.Organization), orgRoleOf(c)
	}
	if t, ok := c.Get(tenantKey); ok {
		v.Tenant, v.TenantRole = t.(db.Tenant), tenantRoleOf(c)
	}
	v.Can = func(method, route string) bool {
		a, ok := rules[method+" "+route]
		return ok && a.allows(p, v.OrgRole, v.TenantRole) == nil
	}
	return v
}

// failPage answers a page's request with err as an HTML page: the status
// the API would answer, or, for a visitor who is not signed in, a redirect
// to the sign-in page.
func (s *Server) failPage(c *gin.Context, err error) {
	var pe *dashboard.Error
	if errors.As(err, &pe) {
		s.dash.RenderError(c, pe.Status, pe.Message)
		return
	}
	e := errorOf(c, err)
	if e.Status == http.StatusUnauthorized {
		s.dash.SignIn(c)
		return
	}
	s.dash.RenderError(c, e.Status, e.Message)
}

// noRoute answers a path nothing serves: JSON under /api/ and for
// clients that do not ask for HTML, the dashboard's 404 page for browsers.
func (s *Server) noRoute(c *gin.Context) {
	if s.dash != nil && !strings.HasPrefix(c.Request.URL.Path, "/api/") && strings.Contains(c.GetHeader("Accept"), "text/html") {
		s.dash.RenderError(c, http.StatusNotFound, "there is no page here")
		return
	}
	fail(c, notFound("route"))
}
