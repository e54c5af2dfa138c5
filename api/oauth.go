package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/forge"
)

// OAuthProvider is a forge users may sign in with, as the operator
// registered BuildIt there (an OAuth2 application whose callback is
// <public-url>/api/v1/auth/oauth/<forge>/callback).
type OAuthProvider struct {
	ClientID     string
	ClientSecret string
	// BaseURL is the forge's web root: "" for github.com and gitlab.com;
	// required for Gitea, GitHub Enterprise and self-hosted GitLab.
	BaseURL string
	// APIURL is the forge's REST API root; "" derives it from BaseURL
	// (api.github.com or BASE/api/v3, BASE/api/v4, BASE/api/v1).
	APIURL string
}

// apiURL is the provider's REST API root.
func (p OAuthProvider) apiURL(kind forge.Kind) string {
	if p.APIURL != "" {
		return strings.TrimRight(p.APIURL, "/")
	}
	base := strings.TrimRight(p.BaseURL, "/")
	switch kind {
	case forge.GitHub:
		if base == "" || base == "https://github.com" {
			return "https://api.github.com"
		}
		return base + "/api/v3"
	case forge.GitLab:
		if base == "" {
			base = "https://gitlab.com"
		}
		return base + "/api/v4"
	}
	return base + "/api/v1"
}

// oauthCookie holds a sign-in's state and PKCE verifier between the start
// and the callback: HttpOnly, SameSite=Lax, signed, for ten minutes.
const (
	oauthCookie    = "buildit_oauth"
	oauthCookieTTL = 10 * time.Minute
	oauthPath      = "/api/v1/auth/oauth/"
)

// oauthFlow is what the cookie holds.
type oauthFlow struct {
	Forge    string    `json:"f"`
	State    string    `json:"s"`
	Verifier string    `json:"v"`
	ReturnTo string    `json:"r,omitempty"`
	LinkUser string    `json:"u,omitempty"`
	Expires  time.Time `json:"e"`
}

func (s *Server) oauthKey() []byte {
	if len(s.cfg.OAuthStateKey) > 0 {
		return s.cfg.OAuthStateKey
	}
	return s.oauthStateKey
}

func (s *Server) sealFlow(f oauthFlow) string {
	b, _ := json.Marshal(f)
	m := hmac.New(sha256.New, s.oauthKey())
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) openFlow(v string) (oauthFlow, bool) {
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return oauthFlow{}, false
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return oauthFlow{}, false
	}
	m := hmac.New(sha256.New, s.oauthKey())
	m.Write(b)
	if !hmac.Equal(got, m.Sum(nil)) {
		return oauthFlow{}, false
	}
	var f oauthFlow
	if json.Unmarshal(b, &f) != nil || s.now().After(f.Expires) {
		return oauthFlow{}, false
	}
	return f, true
}

func (s *Server) setFlowCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: oauthCookie, Value: value, Path: oauthPath, MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// oauthProvider is the URL's forge, configured, or a 404.
func (s *Server) oauthProvider(c *gin.Context) (forge.Kind, OAuthProvider, *oauth2.Config, error) {
	kind, err := forge.ParseKind(c.Param("forge"))
	if err != nil {
		return "", OAuthProvider{}, nil, notFound("sign-in provider")
	}
	p, ok := s.cfg.OAuth[kind]
	if !ok || p.ClientID == "" {
		return "", OAuthProvider{}, nil, notFound("sign-in provider")
	}
	return kind, p, &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     forge.OAuthEndpoint(kind, p.BaseURL),
		RedirectURL:  strings.TrimRight(s.cfg.PublicURL, "/") + oauthPath + string(kind) + "/callback",
		Scopes:       forge.OAuthScopes(kind),
	}, nil
}

// listOAuthProviders answers which forges users may sign in with.
func (s *Server) listOAuthProviders(c *gin.Context) {
	out := []gin.H{}
	for _, k := range forge.Kinds {
		if p, ok := s.cfg.OAuth[k]; ok && p.ClientID != "" {
			out = append(out, gin.H{"forge": k, "start_url": oauthPath + string(k) + "/start"})
		}
	}
	ok(c, gin.H{"items": out})
}

// safeReturnTo is a return_to that stays on this server: a path, relative
// to the origin, and nothing else ("" when it is not one).
func safeReturnTo(v string) string {
	if v == "" || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return v
}

func randomState() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// beginOAuth makes the flow's cookie and answers with the forge's
// authorization URL.
func (s *Server) beginOAuth(c *gin.Context, linkUser string) (string, error) {
	kind, _, cfg, err := s.oauthProvider(c)
	if err != nil {
		return "", err
	}
	rt := c.Query("return_to")
	if rt != "" && safeReturnTo(rt) == "" {
		return "", badRequest("return_to must be a path on this server, such as /orgs/acme")
	}
	f := oauthFlow{Forge: string(kind), State: randomState(), Verifier: oauth2.GenerateVerifier(),
		ReturnTo: rt, LinkUser: linkUser, Expires: s.now().Add(oauthCookieTTL)}
	s.setFlowCookie(c, s.sealFlow(f), int(oauthCookieTTL.Seconds()))
	return cfg.AuthCodeURL(f.State, oauth2.S256ChallengeOption(f.Verifier)), nil
}

// startOAuth sends the browser to the forge to sign in.
func (s *Server) startOAuth(c *gin.Context) {
	u, err := s.beginOAuth(c, "")
	if err != nil {
		fail(c, err)
		return
	}
	c.Redirect(http.StatusFound, u)
}

// linkOAuth starts the flow that adds a forge identity to the signed-in
// user: the answer's authorize_url is where the browser goes next.
func (s *Server) linkOAuth(c *gin.Context) {
	if err := bindOptional(c, &struct{}{}); err != nil {
		fail(c, err)
		return
	}
	u, err := s.beginOAuth(c, principalOf(c).user.ID.String())
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, gin.H{"authorize_url": u})
}

// oauthCallback finishes a sign-in (or link): the state is checked
// against the cookie's, the code exchanged with the PKCE verifier, and
// the forge asked who the user is.
func (s *Server) oauthCallback(c *gin.Context) {
	kind, p, cfg, err := s.oauthProvider(c)
	if err != nil {
		fail(c, err)
		return
	}
	raw, _ := c.Cookie(oauthCookie)
	s.setFlowCookie(c, "", -1)
	f, valid := s.openFlow(raw)
	state := c.Query("state")
	if !valid || f.Forge != string(kind) || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		fail(c, badRequest("the sign-in's state is missing, expired or wrong: start again"))
		return
	}
	if e := c.Query("error"); e != "" {
		fail(c, badRequest("the forge did not grant access ("+truncate(e, 64)+")"))
		return
	}
	code := c.Query("code")
	if code == "" {
		fail(c, badRequest("code is missing"))
		return
	}
	tok, err := cfg.Exchange(c, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		// The forge's error code only: its answer is not logged.
		var re *oauth2.RetrieveError
		code := "unreachable"
		if errors.As(err, &re) {
			code = truncate(re.ErrorCode, 64)
		}
		logger(c).Warn("oauth code exchange failed", "forge", kind, "error_code", code)
		fail(c, errorf(http.StatusBadGateway, "forge_error", "the forge did not accept the sign-in's code: start again"))
		return
	}
	fu, err := forge.FetchUser(c, kind, p.apiURL(kind), cfg.Client(c, tok))
	if err != nil {
		logger(c).Warn("oauth user fetch failed", "forge", kind, "error", err)
		fail(c, errorf(http.StatusBadGateway, "forge_error", "the forge did not say who you are: try again"))
		return
	}
	var user db.User
	if f.LinkUser != "" {
		user, err = s.oauthLink(c, kind, fu, f.LinkUser)
	} else {
		user, err = s.oauthSignIn(c, kind, fu)
	}
	if err != nil {
		fail(c, err)
		return
	}
	if f.LinkUser == "" {
		if err := s.startSession(c, user); err != nil {
			fail(c, err)
			return
		}
	}
	to := safeReturnTo(f.ReturnTo)
	if to == "" {
		to = "/"
	}
	c.Redirect(http.StatusFound, to)
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n]
	}
	return s
}

// placeholderEmail is the address of a user whose forge keeps theirs
// private: unique, and in the reserved .invalid domain, so that no mail
// goes anywhere.
func placeholderEmail(kind forge.Kind, subject string) string {
	return string(kind) + "-" + subject + "@users.oauth.invalid"
}

// oauthSignIn finds the user of the forge identity, or makes one at the
// first sign-in. An address that belongs to an account already is not
// linked: its owner signs in with the password and links from there.
func (s *Server) oauthSignIn(c *gin.Context, kind forge.Kind, fu forge.User) (db.User, error) {
	user, err := s.store.Users().GetByIdentity(c, string(kind), fu.Subject)
	if err == nil {
		logger(c).Info("oauth sign-in", "forge", kind, "user_id", user.ID)
		return user, nil
	}
	if !errors.Is(err, db.ErrNotFound) {
		return db.User{}, err
	}
	email := fu.Email
	if email == "" {
		email = placeholderEmail(kind, fu.Subject)
	}
	name := fu.Name
	if name == "" {
		name = fu.Login
	}
	if len(name) > 200 {
		name = name[:200]
	}
	err = s.store.InTx(c, func(tx *db.Tx) error {
		if _, err := tx.Users().GetByEmail(c, email); err == nil {
			return conflict("an account with the email address " + email + " exists already: sign in with its password, then link " +
				string(kind) + " to it (POST /api/v1/me/oauth/" + string(kind) + "/link)")
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		var err error
		if user, err = tx.Users().Create(c, db.NewUser{Email: email, Name: name}); err != nil {
			return err
		}
		return tx.Users().LinkIdentity(c, user.ID, string(kind), fu.Subject)
	})
	if errors.Is(err, db.ErrConflict) {
		// Two first sign-ins at once: the other made the user.
		return s.store.Users().GetByIdentity(c, string(kind), fu.Subject)
	}
	if err != nil {
		return db.User{}, err
	}
	logger(c).Info("oauth sign-in created a user", "forge", kind, "user_id", user.ID)
	return user, nil
}

// oauthLink adds the forge identity to the signed-in user who started the
// link.
func (s *Server) oauthLink(c *gin.Context, kind forge.Kind, fu forge.User, linkUser string) (db.User, error) {
	p, err := s.authenticate(c)
	if err != nil || p.user == nil || p.user.ID.String() != linkUser {
		return db.User{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "sign in as the user who started the link, then start it again")
	}
	uid, _ := uuid.Parse(linkUser)
	err = s.store.Users().LinkIdentity(c, uid, string(kind), fu.Subject)
	if errors.Is(err, db.ErrConflict) {
		other, gerr := s.store.Users().GetByIdentity(c, string(kind), fu.Subject)
		if gerr == nil && other.ID == uid {
			return *p.user, nil
		}
		return db.User{}, conflict("that " + string(kind) + " account is linked to another BuildIt user")
	}
	if err != nil {
		return db.User{}, err
	}
	logger(c).Info("oauth identity linked", "forge", kind, "user_id", uid)
	return *p.user, nil
}
