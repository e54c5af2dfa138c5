// Package flytest is a stand-in for Fly.io's Machines API, for tests: no
// Fly account is reachable from the project's machine. It follows the
// documented shapes of the endpoints BuildIt uses (list, create, update,
// get, wait, lease and release) and their errors ({"error": "…"} with 401,
// 404, 408, 409, 429 with Retry-After, 5xx), with machines that start after
// a delay and health checks that pass after another.
//
// Images steer the machines: an image with "crash" in its name fails to
// start; one with "unhealthy" starts but its checks stay critical.
package flytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a fake Machines API.
type Server struct {
	*httptest.Server
	Token string
	// StartDelay is how long a created or updated machine takes to start;
	// CheckDelay how long after that its checks pass.
	StartDelay, CheckDelay time.Duration

	mu       sync.Mutex
	apps     map[string]*app
	seq      int
	creates  int
	updates  int
	failNext []fault
	requests []string
}

type app struct {
	machines map[string]*machine
}

type machine struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	State      string          `json:"state"`
	Region     string          `json:"region"`
	InstanceID string          `json:"instance_id"`
	Config     json.RawMessage `json:"config"`
	Checks     []check         `json:"checks,omitempty"`

	image     string
	hasChecks bool
	changedAt time.Time
	lease     string
	leaseTill time.Time
}

type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Output string `json:"output,omitempty"`
}

type fault struct {
	status     int
	retryAfter string
}

// New starts a fake API with the given token and apps.
func New(token string, apps ...string) *Server {
	s := &Server{Token: token, apps: map[string]*app{}, StartDelay: 50 * time.Millisecond, CheckDelay: 50 * time.Millisecond}
	for _, a := range apps {
		s.apps[a] = &app{machines: map[string]*machine{}}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next n requests fail with status (and a Retry-After
// header when retryAfter is set).
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, fault{status, retryAfter})
	}
}

// Releases counts machine creates and updates: the releases made.
func (s *Server) Releases() (creates, updates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates, s.updates
}

// Images returns the image of each of app's machines, by machine ID.
func (s *Server) Images(appName string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if a := s.apps[appName]; a != nil {
		for id, m := range a.machines {
			out[id] = m.image
		}
	}
	return out
}

// Requests returns "METHOD path" of every request so far, with the
// Authorization header's scheme.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// advance moves a machine along: started after StartDelay (or failed for
// a crashing image), checks passing after CheckDelay more.
func (s *Server) advance(m *machine) {
	since := time.Since(m.changedAt)
	switch {
	case m.State == "starting" && strings.Contains(m.image, "crash") && since >= s.StartDelay:
		m.State = "failed"
	case m.State == "starting" && since >= s.StartDelay:
		m.State = "started"
	}
	if !m.hasChecks {
		m.Checks = nil
		return
	}
	st := check{Name: "buildit-health", Status: "critical", Output: "connection refused"}
	if m.State == "started" && since >= s.StartDelay+s.CheckDelay {
		if strings.Contains(m.image, "unhealthy") {
			st.Output = "HTTP GET /healthz: 500 Internal Server Error"
		} else {
			st = check{Name: "buildit-health", Status: "passing", Output: "HTTP GET: 200 OK"}
		}
	}
	m.Checks = []check{st}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	if len(s.failNext) > 0 {
		f := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		writeError(w, f.status, http.StatusText(f.status))
		return
	}
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// v1 apps {app} machines [{id} [wait|lease]]
	if len(parts) < 4 || parts[0] != "v1" || parts[1] != "apps" || parts[3] != "machines" {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	s.mu.Lock()
	a := s.apps[parts[2]]
	s.mu.Unlock()
	if a == nil {
		writeError(w, http.StatusNotFound, "app not found")
		return
	}
	switch {
	case len(parts) == 4 && r.Method == http.MethodGet:
		s.list(w, a)
	case len(parts) == 4 && r.Method == http.MethodPost:
		s.create(w, r, a)
	case len(parts) == 5 && r.Method == http.MethodGet:
		s.get(w, a, parts[4])
	case len(parts) == 5 && r.Method == http.MethodPost:
		s.update(w, r, a, parts[4])
	case len(parts) == 6 && parts[5] == "wait" && r.Method == http.MethodGet:
		s.wait(w, r, a, parts[4])
	case len(parts) == 6 && parts[5] == "lease" && r.Method == http.MethodPost:
		s.acquire(w, r, a, parts[4])
	case len(parts) == 6 && parts[5] == "lease" && r.Method == http.MethodDelete:
		s.releaseLease(w, r, a, parts[4])
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

func (s *Server) list(w http.ResponseWriter, a *app) {
	s.mu.Lock()
	out := []*machine{}
	for _, m := range a.machines {
		s.advance(m)
		out = append(out, m)
	}
	s.mu.Unlock()
	writeJSON(w, out)
}

type configBody struct {
	Name   string          `json:"name"`
	Region string          `json:"region"`
	Config json.RawMessage `json:"config"`
}

// readConfig checks a create or update body: a config with an image.
func readConfig(w http.ResponseWriter, r *http.Request) (configBody, string, bool, bool) {
	var b configBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || len(b.Config) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request body: config is required")
		return b, "", false, false
	}
	var c struct {
		Image  string          `json:"image"`
		Checks json.RawMessage `json:"checks"`
	}
	if err := json.Unmarshal(b.Config, &c); err != nil || c.Image == "" {
		writeError(w, http.StatusUnprocessableEntity, "config.image is required")
		return b, "", false, false
	}
	return b, c.Image, len(c.Checks) > 2, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, a *app) {
	b, image, checks, ok := readConfig(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	s.seq++
	s.creates++
	m := &machine{
		ID: fmt.Sprintf("m%04x", s.seq), Name: b.Name, State: "starting", Region: b.Region,
		InstanceID: "i" + strconv.Itoa(s.seq), Config: b.Config, image: image, hasChecks: checks, changedAt: time.Now(),
	}
	a.machines[m.ID] = m
	s.advance(m)
	s.mu.Unlock()
	writeJSON(w, m)
}

func (s *Server) get(w http.ResponseWriter, a *app, id string) {
	s.mu.Lock()
	m := a.machines[id]
	if m != nil {
		s.advance(m)
	}
	s.mu.Unlock()
	if m == nil {
		writeError(w, http.StatusNotFound, "machine not found")
		return
	}
	writeJSON(w, m)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, a *app, id string) {
	b, image, checks, ok := readConfig(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := a.machines[id]
	if m == nil {
		writeError(w, http.StatusNotFound, "machine not found")
		return
	}
	if m.lease != "" && time.Now().Before(m.leaseTill) && r.Header.Get("Fly-Machine-Lease-Nonce") != m.lease {
		writeError(w, http.StatusConflict, "machine is leased by another owner")
		return
	}
	s.seq++
	s.updates++
	m.Config, m.image, m.hasChecks, m.State, m.changedAt = b.Config, image, checks, "starting", time.Now()
	m.InstanceID = "i" + strconv.Itoa(s.seq)
	s.advance(m)
	writeJSON(w, m)
}

func (s *Server) wait(w http.ResponseWriter, r *http.Request, a *app, id string) {
	timeout := 60 * time.Second
	if t, err := strconv.Atoi(r.URL.Query().Get("timeout")); err == nil && t > 0 {
		timeout = time.Duration(t) * time.Second
	}
	if r.URL.Query().Get("state") != "started" {
		writeError(w, http.StatusBadRequest, "this fake waits for started only")
		return
	}
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		m := a.machines[id]
		var state, instance string
		if m != nil {
			s.advance(m)
			state, instance = m.State, m.InstanceID
		}
		s.mu.Unlock()
		switch {
		case m == nil:
			writeError(w, http.StatusNotFound, "machine not found")
			return
		case r.URL.Query().Get("instance_id") != "" && r.URL.Query().Get("instance_id") != instance:
			writeError(w, http.StatusBadRequest, "instance_id does not match the machine's current instance")
			return
		case state == "started":
			writeJSON(w, map[string]bool{"ok": true})
			return
		case state == "failed" || time.Now().After(deadline):
			writeError(w, http.StatusRequestTimeout, "deadline_exceeded: machine did not reach started (it is "+state+")")
			return
		case r.Context().Err() != nil:
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) acquire(w http.ResponseWriter, r *http.Request, a *app, id string) {
	var body struct {
		TTL int `json:"ttl"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	ttl := 2 * time.Minute
	if body.TTL > 0 {
		ttl = time.Duration(body.TTL) * time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := a.machines[id]
	if m == nil {
		writeError(w, http.StatusNotFound, "machine not found")
		return
	}
	if m.lease != "" && time.Now().Before(m.leaseTill) {
		writeError(w, http.StatusConflict, "lease currently held")
		return
	}
	s.seq++
	m.lease, m.leaseTill = fmt.Sprintf("nonce-%d", s.seq), time.Now().Add(ttl)
	writeJSON(w, map[string]any{"status": "success", "data": map[string]any{"nonce": m.lease, "expires_at": m.leaseTill.Unix(), "owner": "buildit"}})
}

func (s *Server) releaseLease(w http.ResponseWriter, r *http.Request, a *app, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := a.machines[id]
	if m == nil {
		writeError(w, http.StatusNotFound, "machine not found")
		return
	}
	if r.Header.Get("Fly-Machine-Lease-Nonce") != m.lease {
		writeError(w, http.StatusConflict, "lease nonce does not match")
		return
	}
	m.lease = ""
	writeJSON(w, map[string]string{"status": "success"})
}

// HoldLease takes the lease of app's first machine (by ID) as another
// owner would, and returns what gives it back.
func (s *Server) HoldLease(appName string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first *machine
	for _, m := range s.apps[appName].machines {
		if first == nil || m.ID < first.ID {
			first = m
		}
	}
	first.lease, first.leaseTill = "someone-else", time.Now().Add(time.Hour)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		first.lease = ""
	}
}

// Configs returns the config of each of app's machines, by machine ID.
func (s *Server) Configs(appName string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	if a := s.apps[appName]; a != nil {
		for id, m := range a.machines {
			out[id] = m.Config
		}
	}
	return out
}

// Reset removes app's machines.
func (s *Server) Reset(appName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appName] = &app{machines: map[string]*machine{}}
}
