package api

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/api/auth"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

type signupRequest struct {
	Email        string `json:"email"`
	Password     string `json:"password"`
	Name         string `json:"name"`
	Organization string `json:"organization"`
	// OrganizationSlug is optional; it is derived from Organization.
	OrganizationSlug string `json:"organization_slug"`
}

// signupAccepted is the whole answer to a signup that is not refused: the
// same bytes whether the account was created or the email had one
// already, so that signup does not tell who has an account.
var signupAccepted = gin.H{
	"status":  "accepted",
	"message": "if this email had no account, the account and its organization are created; sign in with POST /api/v1/auth/login",
}

// signup creates a user and their first organization, with the user as its
// owner. It signs nobody in and answers 202 with the same body whether or
// not the email had an account (which is then left as it is, with nothing
// created), after the same work (the password hashed, the same transaction
// run, and rolled back) and not before signupFloor. A taken organization
// slug is a 409: slugs are public, in every URL of the organization.
func (s *Server) signup(c *gin.Context) {
	began := time.Now()
	if err := s.limit(c, s.signupByIP, "signup ip "+c.ClientIP()); err != nil {
		fail(c, err)
		return
	}
	var req signupRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	email, err := checkEmail(req.Email)
	if err != nil {
		fail(c, err)
		return
	}
	if err := auth.CheckNewPassword(req.Password); err != nil {
		fail(c, invalid(err.Error()))
		return
	}
	if err := checkName("name", req.Name); err != nil {
		fail(c, err)
		return
	}
	if err := checkName("organization", req.Organization); err != nil {
		fail(c, err)
		return
	}
	slug, err := slugFor("organization_slug", req.OrganizationSlug, req.Organization)
	if err != nil {
		fail(c, err)
		return
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		fail(c, err)
		return
	}
	_, _, err = s.store.Signup(c, db.Signup{
		User:         db.NewUser{Email: email, Name: strings.TrimSpace(req.Name), PasswordHash: hash},
		Organization: db.NewOrganization{Slug: slug, Name: strings.TrimSpace(req.Organization), Plan: db.PlanFree},
		IP:           clientIP(c),
	})
	switch {
	case errors.Is(err, db.ErrConflict) && db.Constraint(err) == "users_email_key":
		// As for a new email: nothing says the account exists.
	case errors.Is(err, db.ErrConflict) && db.Constraint(err) == "organizations_slug_key":
		fail(c, conflict("the organization slug "+slug+" is taken; choose another with organization_slug"))
		return
	case err != nil:
		fail(c, err)
		return
	}
	// The same time too: no answer before signupFloor has passed.
	select {
	case <-time.After(time.Until(began.Add(s.signupFloor))):
	case <-c.Request.Context().Done():
	}
	c.JSON(http.StatusAccepted, signupAccepted)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login checks an email (in any spelling, see db.CanonicalEmail) and
// password and starts a session. An unknown email and a wrong password get
// the same answer in the same time: the unknown email is checked against a
// dummy argon2id hash.
func (s *Server) login(c *gin.Context) {
	if err := s.limit(c, s.loginByIP, "login ip "+c.ClientIP()); err != nil {
		fail(c, err)
		return
	}
	var req loginRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	email := strings.TrimSpace(req.Email)
	if email == "" || req.Password == "" {
		fail(c, invalid("email and password are required"))
		return
	}
	if len(req.Password) > auth.MaxPasswordLength {
		fail(c, invalid("password is too long"))
		return
	}
	if err := s.limit(c, s.loginByEmail, "login email "+db.CanonicalEmail(email)); err != nil {
		fail(c, err)
		return
	}
	wrong := errorf(http.StatusUnauthorized, CodeUnauthenticated, "wrong email or password")
	user, hash, err := s.store.Users().Credentials(c, email)
	if errors.Is(err, db.ErrNotFound) || (err == nil && hash == "") {
		auth.BurnPasswordCheck(req.Password)
		fail(c, wrong)
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	if err := auth.CheckPassword(hash, req.Password); err != nil {
		if !errors.Is(err, auth.ErrMismatch) {
			logger(c).Error("password hash unreadable", "user_id", user.ID, "error", err)
		}
		fail(c, wrong)
		return
	}
	if err := s.startSession(c, user); err != nil {
		fail(c, err)
		return
	}
	s.me(c)
}

// startSession creates a session for user and sets its cookie.
func (s *Server) startSession(c *gin.Context, user db.User) error {
	token := auth.NewSessionToken()
	sess, err := s.store.Sessions().Create(c, user.ID, auth.HashToken(token), s.now().Add(s.cfg.SessionTTL))
	if err != nil {
		return err
	}
	c.Set(principalKey, principal{user: &user, session: &sess})
	s.setCookie(c, token, int(s.cfg.SessionTTL.Seconds()))
	return nil
}

func (s *Server) setCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.SecureCookies || c.Request.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// logout ends the session and clears its cookie.
func (s *Server) logout(c *gin.Context) {
	token, _ := c.Cookie(SessionCookie)
	if err := s.store.Sessions().Delete(c, auth.HashToken(token)); err != nil && !errors.Is(err, db.ErrNotFound) {
		fail(c, err)
		return
	}
	s.setCookie(c, "", -1)
	noContent(c)
}

// me answers who the caller is: the user and their organizations, or the
// API key and its organization.
func (s *Server) me(c *gin.Context) {
	p := principalOf(c)
	if p.key != nil {
		org, err := s.store.Organizations().Get(c, p.key.OrgID)
		if err != nil {
			fail(c, err)
			return
		}
		slug := ""
		if p.key.TenantID != nil {
			t, err := s.store.Tenants().GetByID(c, org.ID, *p.key.TenantID)
			if err != nil {
				fail(c, err)
				return
			}
			slug = t.Slug
		}
		k := viewAPIKey(*p.key, slug)
		ok(c, apiview.Me{APIKey: &k, Organizations: []apiview.Org{viewOrg(org, "")}})
		return
	}
	orgs, err := s.store.Organizations().ListForUser(c, p.user.ID, "", db.MaxPageSize)
	if err != nil {
		fail(c, err)
		return
	}
	u := viewUser(*p.user)
	out := apiview.Me{User: &u, Organizations: []apiview.Org{}}
	for _, o := range orgs.Items {
		out.Organizations = append(out.Organizations, viewOrg(o.Organization, o.Role))
	}
	ok(c, out)
}

// limit takes a token from key's bucket in l, or answers 429.
func (s *Server) limit(c *gin.Context, l *limiter, key string) error {
	if allowed, retry := l.allow(key); !allowed {
		secs := int(retry.Seconds()) + 1
		c.Header("Retry-After", strconv.Itoa(secs))
		return errorf(http.StatusTooManyRequests, CodeRateLimited, "too many attempts; try again in "+strconv.Itoa(secs)+" s")
	}
	return nil
}

// slugFor returns the slug given, checked, or one derived from name.
func slugFor(field, given, name string) (string, error) {
	if given != "" {
		return given, checkSlug(field, given)
	}
	slug := slugify(name)
	if slug == "" || checkSlug(field, slug) != nil {
		return "", invalid("no slug can be made from " + strconvQuote(name) + "; give " + field)
	}
	return slug, nil
}

func strconvQuote(s string) string { return strconv.Quote(s) }

func clientIP(c *gin.Context) netip.Addr {
	ip, _ := netip.ParseAddr(c.ClientIP())
	return ip
}

// auditEntry starts the audit entry of a change made by the request's
// principal.
func auditEntry(c *gin.Context, orgID uuid.UUID, tenantID *uuid.UUID, action, targetType, targetID string, meta map[string]any) db.AuditEntry {
	e := db.AuditEntry{OrgID: orgID, TenantID: tenantID, Action: action, TargetType: targetType, TargetID: targetID, Metadata: meta, IP: clientIP(c)}
	p := principalOf(c)
	if p.user != nil {
		e.ActorUserID = &p.user.ID
	}
	if p.key != nil {
		e.ActorAPIKeyID = &p.key.ID
	}
	return e
}

// change runs fn in a transaction and writes the audit entry it returns in
// the same transaction.
func (s *Server) change(c *gin.Context, fn func(tx *db.Tx) (db.AuditEntry, error)) error {
	return s.store.InTx(c, func(tx *db.Tx) error {
		e, err := fn(tx)
		if err != nil {
			return err
		}
		_, err = tx.Audit().Insert(c, e)
		return err
	})
}
