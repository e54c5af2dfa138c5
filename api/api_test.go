package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/db/secretbox"
	"github.com/buildit-ci/buildit/internal/browsertest"
	"github.com/buildit-ci/buildit/internal/temporaltest"
	"github.com/buildit-ci/buildit/runclient"
)

// TestMain stops the headless browser (of the browser tests), the shared
// embedded Temporal server (of the run tests) and the throwaway Postgres
// cluster after the tests.
func TestMain(m *testing.M) {
	code := browsertest.Run(m)
	temporaltest.Stop()
	os.Exit(code)
}

// env is an API server on a database of its own, with its log captured.
type env struct {
	t     testing.TB
	srv   *httptest.Server
	store *db.Store
	api   *Server
	logs  *syncBuffer
	// seen collects every response body, for the leak checks.
	seen *syncBuffer
	// acts are the worker's activities, once withRuns made them.
	acts *activities.Activities
	// svc is the API's run service (cfg.Runs), once withRuns made it.
	svc *runclient.Service
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t testing.TB) *env {
	t.Helper()
	pool := dbtest.Pool(t)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: db.NewStore(pool, box), logs: &syncBuffer{}, seen: &syncBuffer{}}
	e.api, err = New(e.store, slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Every test client comes from 127.0.0.1: per-address limits would
	// stop the fixtures (TestLoginRateLimit checks the real ones).
	e.api.signupByIP = newLimiter(time.Microsecond, 1000)
	e.api.loginByIP = newLimiter(time.Microsecond, 1000)
	// Nor would the fixtures wait out signup's floor
	// (TestSecurityLoginAndSignupSameWhetherEmailExists keeps it).
	e.api.signupFloor = 0
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// client is someone calling the API: with a cookie jar (a browser) or an
// API key.
type client struct {
	e   *env
	hc  *http.Client
	key string
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hc: &http.Client{Jar: jar}}
}

func (e *env) withKey(key string) *client {
	return &client{e: e, hc: &http.Client{}, key: key}
}

// resp is an answer, decoded.
type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer is not JSON (%d): %v\n%s", r.status, err, r.body)
	}
}

func (r resp) code() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends body (a string is sent as it is, anything else as JSON).
func (c *client) do(method, path string, body any) resp {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.e.srv.URL+"/api/v1"+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if rd != nil || (method != http.MethodGet && method != http.MethodHead) {
		// As a browser UI's fetch would: state-changing requests with the
		// session cookie need it even without a body.
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	_, _ = c.e.seen.Write(append(b, '\n')) // a syncBuffer's Write, like a bytes.Buffer's, does not fail
	if res.StatusCode >= 500 {
		c.e.t.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return resp{status: res.StatusCode, body: b, header: res.Header}
}

func (c *client) must(status int, method, path string, body any) resp {
	c.e.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.e.t.Fatalf("%s %s: %d, want %d\n%s", method, path, r.status, status, r.body)
	}
	return r
}

// signup makes an account with its own org, signs in, and returns the
// signed-in client. The password is "password-" + email.
func (e *env) signup(email, org string) *client {
	e.t.Helper()
	c := e.anon()
	c.must(202, "POST", "/auth/signup", map[string]string{"email": email, "password": "password-" + email, "name": "User " + email, "organization": org})
	c.must(200, "POST", "/auth/login", map[string]string{"email": email, "password": "password-" + email})
	return c
}

// apiKey creates a key with c and returns its secret.
func (c *client) apiKey(org string, body map[string]any) string {
	c.e.t.Helper()
	var k struct{ Secret string }
	c.must(201, "POST", "/orgs/"+org+"/api-keys", body).json(c.e.t, &k)
	return k.Secret
}

const helloKDL = "pipeline \"hello\"\nstage \"greet\" { run \"echo hi\"; }\n"

func mustOrg(t testing.TB, e *env, slug string) uuid.UUID {
	t.Helper()
	o, err := e.store.Organizations().GetBySlug(t.Context(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func dbAuditFilter() db.AuditFilter { return db.AuditFilter{} }
