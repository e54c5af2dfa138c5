package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/api/auth"
	"github.com/buildit-ci/buildit/db"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "buildit_session"

// Scopes an API key can hold.
const (
	ScopePipelinesRead    = "pipelines:read"
	ScopePipelinesWrite   = "pipelines:write"
	ScopeRunsRead         = "runs:read"
	ScopeRunsWrite        = "runs:write"
	ScopeDeploymentsRead  = "deployments:read"
	ScopeDeploymentsWrite = "deployments:write"
	ScopeOrgAdmin         = "org:admin"
)

// Scopes lists every scope, in the order the docs give them.
var Scopes = []string{ScopePipelinesRead, ScopePipelinesWrite, ScopeRunsRead, ScopeRunsWrite, ScopeDeploymentsRead, ScopeDeploymentsWrite, ScopeOrgAdmin}

// principal is who makes a request: a signed-in user or an API key.
type principal struct {
	user    *db.User
	session *db.Session
	key     *db.APIKey
}

func (p principal) has(scope string) bool {
	return p.key != nil && slices.Contains(p.key.Scopes, scope)
}

// actsFor is the user whose role bounds what p may do: the signed-in user,
// or the user a key belongs to (its creator).
func (p principal) actsFor() uuid.UUID {
	switch {
	case p.user != nil:
		return p.user.ID
	case p.key != nil && p.key.CreatedBy != nil:
		return *p.key.CreatedBy
	}
	return uuid.Nil
}

// access says who may call a route.
type access struct {
	// auth: anyone (public) or any principal (signedIn); org and tenant
	// routes also resolve :org and :tenant and check the roles below.
	level level
	// orgRole is the least org role a user needs (empty: any member).
	orgRole db.OrgRole
	// tenantRole is the least tenant role a user needs on tenant routes.
	// Org owners and admins act as tenant admins everywhere in their org.
	tenantRole db.TenantRole
	// scope is what an API key needs; noKeys refuses keys altogether,
	// anyKey lets any key of the org (and tenant) through.
	scope string
}

type level int

const (
	public level = iota
	signedIn
	orgLevel
	tenantLevel
)

const (
	anyKey = ""
	noKeys = "-"
)

var orgRank = map[db.OrgRole]int{db.OrgRoleMember: 1, db.OrgRoleAdmin: 2, db.OrgRoleOwner: 3}
var tenantRank = map[db.TenantRole]int{db.TenantRoleViewer: 1, db.TenantRoleMember: 2, db.TenantRoleAdmin: 3}

// Context keys.
const (
	principalKey  = "buildit.principal"
	orgKey        = "buildit.org"
	orgRoleKey    = "buildit.orgRole"
	tenantKey     = "buildit.tenant"
	tenantRoleKey = "buildit.tenantRole"
)

// guard authenticates the request and enforces a route's access before its
// handler. Anything in an org or tenant the principal cannot see is a 404,
// exactly as for one that does not exist; what it can see but not do is a
// 403.
func (s *Server) guard(a access) gin.HandlerFunc { return s.guardWith(a, fail) }

// guardWith is guard answering its refusals with fail: the API's JSON, or
// the dashboard's pages (failPage).
func (s *Server) guardWith(a access, fail func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.level == public {
			// Signup and login too: a page elsewhere must not sign a
			// browser into an account of its choosing (login CSRF).
			if err := requireJSONType(c, "send the body as application/json"); err != nil {
				fail(c, err)
				return
			}
			if c.GetHeader("Authorization") == "" {
				if err := s.requireSameOrigin(c); err != nil {
					fail(c, err)
				}
			}
			return
		}
		p, err := s.authenticate(c)
		if err != nil {
			fail(c, err)
			return
		}
		if p.session != nil {
			if err := requireJSONType(c, c.Request.Method+" with the session cookie needs Content-Type: application/json, even without a body"); err != nil {
				fail(c, err)
				return
			}
			if err := s.requireSameOrigin(c); err != nil {
				fail(c, err)
				return
			}
		}
		c.Set(principalKey, p)
		if p.key != nil && a.scope == noKeys {
			fail(c, forbidden("this needs a signed-in user, not an API key"))
			return
		}
		if a.level < orgLevel {
			return
		}
		org, orgRole, err := s.resolveOrg(c, p, c.Param("org"))
		if err != nil {
			fail(c, err)
			return
		}
		c.Set(orgKey, org)
		c.Set(orgRoleKey, orgRole)
		var tenantRole db.TenantRole
		if a.level == tenantLevel {
			t, role, err := s.resolveTenant(c, p, org, orgRole, c.Param("tenant"))
			if err != nil {
				fail(c, err)
				return
			}
			c.Set(tenantKey, t)
			c.Set(tenantRoleKey, role)
			tenantRole = role
		}
		if err := a.allows(p, orgRole, tenantRole); err != nil {
			fail(c, err)
			return
		}
	}
}

// requireJSONType refuses (415) a state-changing request that does not say
// Content-Type: application/json (or another +json type), even one without
// a body. It applies to what a browser sends with its cookie: a page on
// another site can make the browser send a form or a "simple" request
// (text/plain, form types, no type) with the session cookie, but not one
// with a JSON type without a CORS preflight, which this API never grants.
// Requests with an API key carry it in a header no other site can set, and
// are not held to it. requireSameOrigin checks where such a request comes
// from too.
func requireJSONType(c *gin.Context, msg string) error {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if !isJSONType(c.GetHeader("Content-Type")) {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupported, msg)
	}
	return nil
}

// requireSameOrigin refuses (403) a state-changing request that a browser
// says comes from another site: Sec-Fetch-Site other than same-origin (or
// none, a request the user made), or an Origin whose host is neither the
// request's Host nor that of Config.PublicURL. It backs requireJSONType
// for cookie requests: that rule rests on browsers never sending a JSON
// type across sites without a preflight, this one on the headers
// browsers set and pages cannot. Clients that send neither header (the
// CLI, curl) are not browsers and have no ambient cookie to abuse.
func (s *Server) requireSameOrigin(c *gin.Context) error {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	refused := forbidden("cross-site requests with the session cookie are refused: call the API from BuildIt's own pages, or with an API key")
	switch c.GetHeader("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return refused
	}
	origin := c.GetHeader("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return refused // "null" (a sandboxed frame, a data: page) included
	}
	if strings.EqualFold(u.Host, c.Request.Host) {
		return nil
	}
	if pub, err := url.Parse(s.cfg.PublicURL); err == nil && pub.Host != "" && strings.EqualFold(u.Host, pub.Host) && u.Scheme == pub.Scheme {
		return nil
	}
	return refused
}

func (a access) allows(p principal, orgRole db.OrgRole, tenantRole db.TenantRole) error {
	if p.key != nil {
		if a.scope != anyKey && !p.has(a.scope) {
			return forbidden("the API key lacks the " + a.scope + " scope")
		}
		// A key may do what its scopes allow and its creator's current
		// role allows too, never more. Lookup finds only keys whose
		// creator is an org owner or admin, and those act as tenant
		// admins everywhere in their org.
		orgRole, tenantRole = p.key.CreatorRole, ""
		if orgRank[orgRole] >= orgRank[db.OrgRoleAdmin] {
			tenantRole = db.TenantRoleAdmin
		}
	}
	if a.orgRole != "" && orgRank[orgRole] < orgRank[a.orgRole] {
		return forbidden("this needs the organization role " + string(a.orgRole) + " or higher")
	}
	if a.level == tenantLevel && a.tenantRole != "" && tenantRank[tenantRole] < tenantRank[a.tenantRole] {
		return forbidden("this needs the tenant role " + string(a.tenantRole) + " or higher")
	}
	return nil
}

// authenticate finds the principal from a Bearer API key or the session
// cookie.
func (s *Server) authenticate(c *gin.Context) (principal, error) {
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return principal{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "the Authorization header must be: Bearer <API key>")
		}
		prefix, secret, ok := auth.ParseAPIKey(strings.TrimSpace(token))
		if !ok {
			return principal{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "that is not a BuildIt API key")
		}
		key, hash, err := s.store.APIKeys().Lookup(c, prefix)
		if errors.Is(err, db.ErrNotFound) || (err == nil && !auth.CheckToken(hash, secret)) {
			return principal{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "the API key is unknown, revoked or expired")
		}
		if err != nil {
			return principal{}, err
		}
		if err := s.store.APIKeys().TouchLastUsed(c, key.OrgID, key.ID); err != nil {
			logger(c).Warn("api key last use not recorded", "key_id", key.ID, "error", err)
		}
		return principal{key: &key}, nil
	}
	token, err := c.Cookie(SessionCookie)
	if err != nil || token == "" {
		return principal{}, errUnauthenticated
	}
	sess, user, err := s.store.Sessions().Lookup(c, auth.HashToken(token))
	if errors.Is(err, db.ErrNotFound) {
		return principal{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "the session has expired; sign in again")
	}
	if err != nil {
		return principal{}, err
	}
	// Sliding expiry, written at most every 10 minutes per session.
	if now := s.now(); now.Sub(sess.LastSeenAt) > 10*time.Minute {
		exp := now.Add(s.cfg.SessionTTL)
		if err := s.store.Sessions().Touch(c, sess.ID, &exp); err != nil {
			logger(c).Warn("session not touched", "error", err)
		}
	}
	return principal{user: &user, session: &sess}, nil
}

// resolveOrg loads the org of slug as p sees it: a user must be a member,
// a key must belong to it; anything else is not found.
func (s *Server) resolveOrg(c *gin.Context, p principal, slug string) (db.Organization, db.OrgRole, error) {
	org, err := s.store.Organizations().GetBySlug(c, slug)
	if errors.Is(err, db.ErrNotFound) {
		return org, "", notFound("organization")
	}
	if err != nil {
		return org, "", err
	}
	if p.key != nil {
		if p.key.OrgID != org.ID {
			return org, "", notFound("organization")
		}
		return org, "", nil
	}
	m, err := s.store.Organizations().GetMember(c, org.ID, p.user.ID)
	if errors.Is(err, db.ErrNotFound) {
		return org, "", notFound("organization")
	}
	return org, m.Role, err
}

// resolveTenant loads org's tenant of slug as p sees it: org owners and
// admins see every tenant (as tenant admins), other members the tenants
// they belong to; a tenant-scoped key sees its own tenant only.
func (s *Server) resolveTenant(c *gin.Context, p principal, org db.Organization, orgRole db.OrgRole, slug string) (db.Tenant, db.TenantRole, error) {
	t, err := s.store.Tenants().Get(c, org.ID, slug)
	if errors.Is(err, db.ErrNotFound) {
		return t, "", notFound("tenant")
	}
	if err != nil {
		return t, "", err
	}
	switch {
	case p.key != nil:
		if p.key.TenantID != nil && *p.key.TenantID != t.ID {
			return t, "", notFound("tenant")
		}
		return t, "", nil
	case orgRank[orgRole] >= orgRank[db.OrgRoleAdmin]:
		return t, db.TenantRoleAdmin, nil
	}
	m, err := s.store.Tenants().GetMember(c, t.ID, p.user.ID)
	if errors.Is(err, db.ErrNotFound) {
		return t, "", notFound("tenant")
	}
	return t, m.Role, err
}

func principalOf(c *gin.Context) principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(principal)
	return pr
}

func orgOf(c *gin.Context) db.Organization {
	o, _ := c.Get(orgKey)
	return o.(db.Organization)
}

func orgRoleOf(c *gin.Context) db.OrgRole {
	r, _ := c.Get(orgRoleKey)
	role, _ := r.(db.OrgRole)
	return role
}

func tenantRoleOf(c *gin.Context) db.TenantRole {
	r, _ := c.Get(tenantRoleKey)
	role, _ := r.(db.TenantRole)
	return role
}

func tenantOf(c *gin.Context) db.Tenant {
	t, _ := c.Get(tenantKey)
	return t.(db.Tenant)
}

// actorOf names the principal for the request log: an ID, never a secret.
func actorOf(c *gin.Context) string {
	p := principalOf(c)
	switch {
	case p.user != nil:
		return "user:" + p.user.ID.String()
	case p.key != nil:
		return "key:" + p.key.ID.String()
	}
	return ""
}
