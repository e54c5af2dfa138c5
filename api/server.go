// Package api is BuildIt's REST API (gin, JSON, under /api/v1) over the
// data layer in db, and the server of the web dashboard's pages (package
// dashboard) at /, behind the same guard. Every route is declared once, in routes.go, with who
// may call it; authentication, tenant resolution and the role and scope
// checks run from that table before a handler sees the request.
package api

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/dashboard"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/repourl"
)

// Config configures a Server. The zero value serves plain HTTP on a
// developer's machine.
type Config struct {
	// SecureCookies sets the Secure attribute on the session cookie; turn it
	// on whenever the API is served over HTTPS.
	SecureCookies bool
	// SessionTTL is how long a session lasts without use; zero means 14
	// days.
	SessionTTL time.Duration
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// for the client's IP (rate limits, audit logs); none by default.
	TrustedProxies []string
	// Runs starts and steers runs on Temporal; nil answers the run
	// routes that need Temporal with 503 (reads still work).
	Runs RunService
	// OAuth are the forges users may sign in with; none when empty.
	OAuth map[forge.Kind]OAuthProvider
	// OAuthStateKey signs the cookie that carries a sign-in's state and
	// PKCE verifier; servers behind one address share it. Empty: a
	// random key of this process.
	OAuthStateKey []byte
	// Schedules keeps pipelines' Temporal Schedules in step with their
	// plans (after a create, replace or delete) and steers them; nil
	// leaves schedules alone and answers their routes with 503.
	Schedules ScheduleService
	// Logs, when set and running, wakes followed logs as soon as their
	// lines are stored; without it they poll every FollowPoll.
	Logs *db.LogNotifier
	// PipelineLimits bound the pipelines tenants push, and the stored plans
	// runs start from; a zero field takes pipeline.DefaultLimits' value.
	PipelineLimits pipeline.Limits

	// LogPageBytes bounds the line text of one page of a stored log (GET
	// .../logs): the page ends before the line that would go over, and
	// its next says where to read on. Zero means DefaultLogPageBytes.
	LogPageBytes int
	// StreamWriteTimeout bounds each write of a log page or a followed
	// log: a client that takes nothing for that long is cut off. Zero
	// means DefaultStreamWriteTimeout.
	StreamWriteTimeout time.Duration
	// FollowIdle ends a followed log that had no new line for that long
	// with an "idle" event. Zero means DefaultFollowIdle.
	FollowIdle time.Duration
	// Blobs is the blob store artifacts and caches are kept in
	// (--blob-url); nil answers artifact downloads with 503.
	Blobs *blobstore.Store

	// FollowersPerTenant caps the logs one tenant follows at once on this
	// process; the next gets a 429. Zero means DefaultFollowersPerTenant.
	FollowersPerTenant int

	// PublicURL is the server's base URL as forges and browsers reach it
	// (--public-url): connected repositories' webhook URLs and OAuth2
	// callbacks are made from it.
	PublicURL string
	// Repositories is the policy on the repositories tenants connect
	// (the run service's, --allow-http-repositories).
	Repositories repourl.Policy
	// Hooks starts the work of verified webhooks (a triggers.Dispatcher);
	// nil answers them with 503.
	Hooks HookQueue
}

// defaultSignupFloor is Server.signupFloor: well over what a signup costs
// (hashing the password and one transaction, 40 to 60 ms on a loaded
// 2-core machine), well under what a person notices.
const defaultSignupFloor = 250 * time.Millisecond

// ReadinessCheck is one dependency /readyz reports on.
type ReadinessCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Server is the API. Build it with New; serve Handler.
type Server struct {
	store  *db.Store
	log    *slog.Logger
	cfg    Config
	checks []ReadinessCheck
	now    func() time.Time

	loginByIP, loginByEmail, signupByIP *limiter
	oauthStateKey                       []byte
	followers                           followers

	// signupFloor is the least time a signup that is not refused takes to
	// answer: a taken email and a new one cost the same work, within about
	// a millisecond (a rolled-back transaction against a committed one);
	// waiting out the rest hides that too.
	signupFloor time.Duration

	// hookRepos and deliveries batch the webhook route's two queries
	// across concurrent deliveries.
	hookRepos  *batcher[uuid.UUID, db.HookLookup]
	deliveries *batcher[db.NewDelivery, bool]

	// dash is the web dashboard, served at /.
	dash *dashboard.Dashboard

	engine *gin.Engine
}

// New returns the API on store. checks are reported by /readyz, after the
// database's own.
func New(store *db.Store, log *slog.Logger, cfg Config, checks ...ReadinessCheck) (*Server, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 14 * 24 * time.Hour
	}
	if cfg.LogPageBytes <= 0 {
		cfg.LogPageBytes = DefaultLogPageBytes
	}
	if cfg.StreamWriteTimeout <= 0 {
		cfg.StreamWriteTimeout = DefaultStreamWriteTimeout
	}
	if cfg.FollowIdle <= 0 {
		cfg.FollowIdle = DefaultFollowIdle
	}
	if cfg.FollowersPerTenant <= 0 {
		cfg.FollowersPerTenant = DefaultFollowersPerTenant
	}
	s := &Server{
		store: store,
		log:   log,
		cfg:   cfg,
		now:   time.Now,
		// A person mistyping gets 10 tries, then one a minute per address;
		// an address trying many accounts gets 30, then one every 10 s.
		loginByEmail: newLimiter(time.Minute, 10),
		loginByIP:    newLimiter(10*time.Second, 30),
		signupByIP:   newLimiter(time.Minute, 10),
		signupFloor:  defaultSignupFloor,
	}
	s.hookRepos = newBatcher(store.Repositories().ForHooks)
	s.deliveries = newBatcher(store.Repositories().TakeDeliveries)
	s.oauthStateKey = make([]byte, 32)
	if _, err := rand.Read(s.oauthStateKey); err != nil {
		return nil, err
	}
	s.checks = append([]ReadinessCheck{{Name: "postgres", Check: func(ctx context.Context) error {
		return db.CheckSchema(ctx, store.Pool())
	}}}, checks...)
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	e.HandleMethodNotAllowed = true
	e.Use(requestLog(log), recoverJSON(), refuseBadBytes())
	e.NoRoute(s.noRoute)
	e.NoMethod(func(c *gin.Context) {
		fail(c, errorf(http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed here"))
	})
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	v1 := e.Group("/api/v1")
	v1.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", openAPI) })
	for _, r := range s.routes() {
		v1.Handle(r.method, r.path, s.guard(r.access), r.handler)
	}
	// Webhooks: no session or key, so none of guard's rules; the
	// repository's webhook secret authenticates them.
	v1.POST("/hooks/:forge/:id", s.hook)
	if err := s.mountDashboard(e); err != nil {
		return nil, err
	}
	s.engine = e
	return s, nil
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz answers 200 when every dependency answers, 503 otherwise, with
// each one's state (errors are logged, not shown).
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	status, code := gin.H{}, http.StatusOK
	for _, ch := range s.checks {
		if err := ch.Check(ctx); err != nil {
			logger(c).Warn("not ready", "dependency", ch.Name, "error", err)
			status[ch.Name] = "unavailable"
			code = http.StatusServiceUnavailable
			continue
		}
		status[ch.Name] = "ok"
	}
	c.JSON(code, gin.H{"status": map[bool]string{true: "ready", false: "not ready"}[code == http.StatusOK], "checks": status})
}
