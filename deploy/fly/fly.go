// Package fly deploys to Fly.io through the Machines REST API: it creates
// or updates the app's machines with a revision's image (one machine at a
// time, or all at once), waits for each to start, and reports the rollout
// from the machines' states and checks. A rollback is the previous
// revision applied again.
//
// Endpoints used (all under the API URL, default https://api.machines.dev):
// GET /v1/apps/{app}/machines, POST /v1/apps/{app}/machines (create),
// GET and POST /v1/apps/{app}/machines/{id} (get, update),
// GET /v1/apps/{app}/machines/{id}/wait, and POST and DELETE
// /v1/apps/{app}/machines/{id}/lease. The token never appears in errors.
package fly

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy"
)

// DefaultAPIURL is Fly's public Machines API.
const DefaultAPIURL = "https://api.machines.dev"

// Metadata keys BuildIt sets on machines.
const (
	MetaRevision = "buildit_revision"
	MetaService  = "buildit_service"
)

// Config is a Fly target: the app, the region new machines go to, the API
// URL (a setting so tests can point it at a local server) and the token.
type Config struct {
	App    string
	Region string
	APIURL string
	Token  string
	// HTTP is the client; nil means one with a 60 s timeout.
	HTTP *http.Client
	// WaitTimeout bounds one wait for a machine to start (default 60 s;
	// the API allows at most 60).
	WaitTimeout time.Duration
}

// Backend deploys to one Fly app.
type Backend struct{ cfg Config }

// New checks cfg and returns its Backend.
func New(cfg Config) (*Backend, error) {
	if cfg.App == "" {
		return nil, deploy.Configf("fly target: set app \"NAME\"")
	}
	if cfg.Token == "" {
		return nil, deploy.Configf("fly target %s: no API token (the tenant secret, or locally the environment variable, named by token-secret)", cfg.App)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, deploy.Configf("fly target %s: api-url %q is not an http(s) URL", cfg.App, cfg.APIURL)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 90 * time.Second}
	}
	if cfg.WaitTimeout <= 0 || cfg.WaitTimeout > 60*time.Second {
		cfg.WaitTimeout = 60 * time.Second
	}
	return &Backend{cfg: cfg}, nil
}

// Machine is the part of a Fly machine BuildIt reads.
type Machine struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	State      string         `json:"state"`
	Region     string         `json:"region"`
	InstanceID string         `json:"instance_id"`
	Config     MachineConfig  `json:"config"`
	Checks     []MachineCheck `json:"checks,omitempty"`
}

// MachineConfig is a machine's configuration as BuildIt writes it.
type MachineConfig struct {
	Image    string                 `json:"image"`
	Env      map[string]string      `json:"env,omitempty"`
	Metadata map[string]string      `json:"metadata,omitempty"`
	Services []Service              `json:"services,omitempty"`
	Checks   map[string]CheckConfig `json:"checks,omitempty"`
	Guest    *Guest                 `json:"guest,omitempty"`
}

// Guest is a machine's size.
type Guest struct {
	CPUKind  string `json:"cpu_kind"`
	CPUs     int    `json:"cpus"`
	MemoryMB int    `json:"memory_mb"`
}

// guest sizes a machine from the spec's resources: CPUs rounded up to whole
// ones ("500m" is 1), memory in MB (Ki/Mi/Gi or K/M/G suffixes, bytes
// without), at least 256; nil when the spec sets neither.
func guest(s buildit.DeploySpec) (*Guest, error) {
	if s.CPU == "" && s.Memory == "" {
		return nil, nil
	}
	g := &Guest{CPUKind: "shared", CPUs: 1, MemoryMB: 256}
	if s.CPU != "" {
		milli, err := parseQuantity(s.CPU, map[string]float64{"m": 0.001, "": 1})
		if err != nil || milli <= 0 {
			return nil, deploy.Configf("resources cpu %q: want a number of CPUs such as 2 or 500m", s.CPU)
		}
		g.CPUs = int(math.Ceil(milli))
	}
	if s.Memory != "" {
		mb, err := parseQuantity(s.Memory, map[string]float64{
			"Ki": 1.0 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / (1 << 20), "M": 1e6 / (1 << 20), "G": 1e9 / (1 << 20), "": 1.0 / (1 << 20),
		})
		if err != nil || mb <= 0 {
			return nil, deploy.Configf("resources memory %q: want a size such as 512Mi or 1Gi", s.Memory)
		}
		g.MemoryMB = max(int(math.Ceil(mb)), 256)
	}
	return g, nil
}

// parseQuantity reads a number with one of units' suffixes and scales it.
func parseQuantity(v string, units map[string]float64) (float64, error) {
	num := strings.TrimRight(v, "KMGimk")
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	scale, ok := units[v[len(num):]]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", v[len(num):])
	}
	return f * scale, nil
}

// Service exposes the machine's port.
type Service struct {
	Protocol     string `json:"protocol"`
	InternalPort int    `json:"internal_port"`
	Ports        []Port `json:"ports"`
}

// Port is a public port of a Service.
type Port struct {
	Port     int      `json:"port"`
	Handlers []string `json:"handlers"`
}

// CheckConfig is a machine health check.
type CheckConfig struct {
	Type     string `json:"type"`
	Port     int    `json:"port"`
	Path     string `json:"path,omitempty"`
	Method   string `json:"method,omitempty"`
	Interval string `json:"interval"`
	Timeout  string `json:"timeout"`
}

// MachineCheck is a check's latest result.
type MachineCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // passing, warning, critical
	Output string `json:"output,omitempty"`
}

func (b *Backend) machineConfig(s buildit.DeploySpec) (MachineConfig, error) {
	meta := map[string]string{MetaRevision: strconv.Itoa(s.Revision), MetaService: s.Service}
	for k, v := range s.Labels {
		meta["buildit_"+k] = v
	}
	g, err := guest(s)
	if err != nil {
		return MachineConfig{}, err
	}
	cfg := MachineConfig{Image: s.Image, Env: s.Env, Metadata: meta, Guest: g}
	if s.Port > 0 {
		cfg.Services = []Service{{Protocol: "tcp", InternalPort: s.Port, Ports: []Port{
			{Port: 80, Handlers: []string{"http"}}, {Port: 443, Handlers: []string{"tls", "http"}},
		}}}
		if s.HealthPath != "" {
			cfg.Checks = map[string]CheckConfig{"buildit-health": {
				Type: "http", Port: s.Port, Path: s.HealthPath, Method: "GET", Interval: "10s", Timeout: "2s",
			}}
		}
	}
	return cfg, nil
}

func revisionOf(m Machine) int {
	n, _ := strconv.Atoi(m.Config.Metadata[MetaRevision])
	return n
}

// Apply brings the app's machines to spec's revision: it creates
// spec.Replicas machines (at least one) when the app has none, and updates
// those not on the revision yet — one at a time, each waited for until it
// has started, for a rolling deploy; all first and then waited for, for
// all-at-once. Machines already on the revision are left alone, so an Apply
// that is retried or replayed continues where it stopped.
func (b *Backend) Apply(ctx context.Context, s buildit.DeploySpec) error {
	want, err := b.machineConfig(s)
	if err != nil {
		return err
	}
	ms, err := b.list(ctx)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		for i := range max(s.Replicas, 1) {
			m, err := b.create(ctx, fmt.Sprintf("%s-%d", s.Service, i+1), want)
			if err != nil {
				return err
			}
			if s.Strategy != "all-at-once" {
				if err := b.wait(ctx, m); err != nil {
					return err
				}
			}
			ms = append(ms, m)
		}
		if s.Strategy == "all-at-once" {
			for _, m := range ms {
				if err := b.wait(ctx, m); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var updated []Machine
	for _, m := range ms {
		if revisionOf(m) == s.Revision && m.Config.Image == s.Image {
			continue
		}
		u, err := b.update(ctx, m, want)
		if err != nil {
			return err
		}
		if s.Strategy == "all-at-once" {
			updated = append(updated, u)
			continue
		}
		if err := b.wait(ctx, u); err != nil {
			return err
		}
	}
	for _, u := range updated {
		if err := b.wait(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// Status reports the rollout of spec's revision: healthy when every machine
// runs it, has started and passes its checks; failed when a machine on it
// failed; progressing otherwise (the deploy's health-check timeout decides
// when progressing has gone on too long).
func (b *Backend) Status(ctx context.Context, s buildit.DeploySpec) (deploy.Status, error) {
	ms, err := b.list(ctx)
	if err != nil {
		return deploy.Status{}, err
	}
	if len(ms) == 0 {
		return deploy.Status{State: buildit.RolloutProgressing, Message: "the app has no machines yet"}, nil
	}
	for _, m := range ms {
		if revisionOf(m) != s.Revision || m.Config.Image != s.Image {
			return deploy.Status{State: buildit.RolloutProgressing, Message: fmt.Sprintf("machine %s is still on revision %d", m.ID, revisionOf(m))}, nil
		}
		switch m.State {
		case "failed", "destroyed", "destroying":
			return deploy.Status{State: buildit.RolloutFailed, Message: fmt.Sprintf("machine %s is %s", m.ID, m.State)}, nil
		case "started":
		default:
			return deploy.Status{State: buildit.RolloutProgressing, Message: fmt.Sprintf("machine %s is %s", m.ID, m.State)}, nil
		}
		for _, c := range m.Checks {
			if c.Status != "passing" {
				msg := fmt.Sprintf("machine %s check %s is %s", m.ID, c.Name, c.Status)
				if c.Output != "" {
					msg += ": " + truncate(c.Output, 200)
				}
				return deploy.Status{State: buildit.RolloutProgressing, Message: msg}, nil
			}
		}
	}
	return deploy.Status{State: buildit.RolloutHealthy, Message: fmt.Sprintf("%d machines started and passing on revision %d", len(ms), s.Revision)}, nil
}

// Current returns the revision every machine of the app runs, or nil when
// there are none or they differ.
func (b *Backend) Current(ctx context.Context, service string) (*buildit.DeploySpec, error) {
	ms, err := b.list(ctx)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	rev, image := revisionOf(ms[0]), ms[0].Config.Image
	for _, m := range ms[1:] {
		if revisionOf(m) != rev || m.Config.Image != image {
			return nil, nil
		}
	}
	if rev == 0 {
		return nil, nil // machines BuildIt did not deploy
	}
	return &buildit.DeploySpec{Service: service, Revision: rev, Image: image}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (b *Backend) appPath(parts ...string) string {
	p := "/v1/apps/" + url.PathEscape(b.cfg.App) + "/machines"
	for _, part := range parts {
		p += "/" + url.PathEscape(part)
	}
	return p
}

func (b *Backend) list(ctx context.Context) ([]Machine, error) {
	var ms []Machine
	if err := b.call(ctx, "GET", b.appPath(), nil, nil, &ms); err != nil {
		return nil, err
	}
	// Machines the app has for other processes or volumes are Fly's
	// business; BuildIt manages them all, in a stable order.
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms, nil
}

func (b *Backend) create(ctx context.Context, name string, cfg MachineConfig) (Machine, error) {
	body := map[string]any{"name": name, "config": cfg}
	if b.cfg.Region != "" {
		body["region"] = b.cfg.Region
	}
	var m Machine
	return m, b.call(ctx, "POST", b.appPath(), nil, body, &m)
}

// update replaces a machine's config under a lease, so that no one else
// changes it meanwhile.
func (b *Backend) update(ctx context.Context, m Machine, cfg MachineConfig) (Machine, error) {
	nonce, err := b.lease(ctx, m.ID)
	if err != nil {
		return Machine{}, err
	}
	defer b.release(m.ID, nonce)
	var u Machine
	err = b.call(ctx, "POST", b.appPath(m.ID), http.Header{"fly-machine-lease-nonce": {nonce}}, map[string]any{"config": cfg}, &u)
	return u, err
}

func (b *Backend) lease(ctx context.Context, id string) (string, error) {
	var res struct {
		Status string `json:"status"`
		Data   struct {
			Nonce string `json:"nonce"`
		} `json:"data"`
	}
	// A short lease: should this worker die holding it, the next one
	// waits at most that long.
	if err := b.call(ctx, "POST", b.appPath(id, "lease"), nil, map[string]any{"ttl": 30}, &res); err != nil {
		return "", err
	}
	if res.Data.Nonce == "" {
		return "", deploy.Transient(fmt.Errorf("fly: no lease nonce for machine %s", id), 0)
	}
	return res.Data.Nonce, nil
}

// release gives a lease back, best effort: it expires anyway.
func (b *Backend) release(id, nonce string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = b.call(ctx, "DELETE", b.appPath(id, "lease"), http.Header{"fly-machine-lease-nonce": {nonce}}, nil, nil)
}

// wait waits for a machine's instance to reach started.
func (b *Backend) wait(ctx context.Context, m Machine) error {
	q := url.Values{"state": {"started"}, "timeout": {strconv.Itoa(int(b.cfg.WaitTimeout.Seconds()))}}
	if m.InstanceID != "" {
		q.Set("instance_id", m.InstanceID)
	}
	err := b.call(ctx, "GET", b.appPath(m.ID, "wait")+"?"+q.Encode(), nil, nil, nil)
	var he *httpError
	if errors.As(err, &he) && he.status == http.StatusRequestTimeout {
		return deploy.Transient(fmt.Errorf("fly: machine %s did not start within %s", m.ID, b.cfg.WaitTimeout), 0)
	}
	return err
}

// httpError is an answer of the API that is not a success.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("fly API: %d: %s", e.status, e.msg) }

// call sends a request and decodes the answer, classifying failures.
func (b *Backend) call(ctx context.Context, method, path string, h http.Header, body, out any) error {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(b.cfg.APIURL, "/")+path, rd)
	if err != nil {
		return deploy.Configf("fly: %v", err)
	}
	for k, vs := range h {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	req.Header.Set("Authorization", "Bearer "+b.cfg.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.cfg.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A connection that failed or timed out may work next time. The
		// error names our URL (no credentials in it); the token is in a
		// header and never in the error.
		return deploy.Transient(fmt.Errorf("fly API %s %s: %w", method, path, err), 0)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode < 300 {
		if out == nil || len(data) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return deploy.Transient(fmt.Errorf("fly API %s %s: unreadable answer: %w", method, path, err), 0)
		}
		return nil
	}
	return b.classify(res, data, method, path)
}

func (b *Backend) classify(res *http.Response, data []byte, method, path string) error {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	msg := e.Error
	if msg == "" {
		msg = truncate(strings.TrimSpace(string(data)), 300)
	}
	msg = strings.ReplaceAll(msg, b.cfg.Token, "xxxxx")
	he := &httpError{status: res.StatusCode, msg: msg}
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return deploy.Configf("fly refused the API token for app %s (%d): check the secret named by token-secret", b.cfg.App, res.StatusCode)
	case res.StatusCode == http.StatusNotFound && path == b.appPath():
		return deploy.Configf("fly has no app %q (or the token cannot see it): create it with `fly apps create %s`", b.cfg.App, b.cfg.App)
	case res.StatusCode == http.StatusTooManyRequests:
		return deploy.Transient(he, retryAfter(res.Header.Get("Retry-After")))
	case res.StatusCode == http.StatusRequestTimeout:
		return he
	case res.StatusCode == http.StatusConflict:
		// A lease someone else holds, or a machine busy with another
		// change: it passes.
		return deploy.Transient(he, retryAfter(res.Header.Get("Retry-After")))
	case res.StatusCode >= 500:
		return deploy.Transient(he, retryAfter(res.Header.Get("Retry-After")))
	}
	return &deploy.ConfigError{Err: fmt.Errorf("fly API %s %s refused the request: %d: %s", method, path, res.StatusCode, msg)}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
