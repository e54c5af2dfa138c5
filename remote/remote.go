// Package remote is a client of BuildIt's REST API, for the CLI's remote
// commands (buildit login, pipelines, trigger, runs): typed calls, the
// API's errors as *Error, and log streams read from server-sent events.
package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls the API at BaseURL (the server's root, without /api/v1)
// with an API key.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// Error is an answer of the API that is not a success.
type Error struct {
	Status  int
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`

	retryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("the API answered %d", e.Status)
	}
	return e.Message
}

// Problem is one problem of an invalid pipeline (Error.Details).
type Problem struct {
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Problems decodes the problems of an invalid_pipeline error.
func (e *Error) Problems() []Problem {
	var ps []Problem
	_ = json.Unmarshal(e.Details, &ps)
	return ps
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+"/api/v1"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// Do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	res, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("reach the API at %s: %w", c.BaseURL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		return decodeError(res.StatusCode, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

func decodeError(status int, b []byte) error {
	var wrapper struct {
		Error *Error `json:"error"`
	}
	if json.Unmarshal(b, &wrapper) == nil && wrapper.Error != nil {
		wrapper.Error.Status = status
		return wrapper.Error
	}
	return &Error{Status: status, Message: fmt.Sprintf("the API answered %d: %s", status, bytes.TrimSpace(b))}
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// Me is GET /me.
type Me struct {
	User *struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"user,omitempty"`
	APIKey *struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
		Tenant string   `json:"tenant,omitempty"`
	} `json:"api_key,omitempty"`
	Organizations []struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
		Role string `json:"role,omitempty"`
	} `json:"organizations"`
}

// Pipeline is a tenant's pipeline.
type Pipeline struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Source    string    `json:"source,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Run is a run, with its stages in a detail.
type Run struct {
	Number      int64             `json:"number"`
	Pipeline    string            `json:"pipeline"`
	Status      string            `json:"status"`
	Branch      string            `json:"branch,omitempty"`
	Commit      string            `json:"commit,omitempty"`
	Event       string            `json:"event,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Trigger     string            `json:"trigger,omitempty"`
	Actor       string            `json:"actor,omitempty"`
	Error       string            `json:"error,omitempty"`
	RerunOf     *int64            `json:"rerun_of,omitempty"`
	Reused      []string          `json:"reused,omitempty"`
	TemporalURL string            `json:"temporal_url,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	EndedAt     *time.Time        `json:"ended_at,omitempty"`
	Stages      []Stage           `json:"stages,omitempty"`
}

// Ended reports whether the run has ended.
func (r Run) Ended() bool {
	return r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled"
}

// Stage is the latest attempt of one stage of a run.
type Stage struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Attempt    int        `json:"attempt"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	DurationMS *int64     `json:"duration_ms,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// Started reports whether the stage has started (or ended without
// starting, as a skipped one does).
func (s Stage) Started() bool { return s.Status != "pending" }

// LogLine is one line of a stage's log.
type LogLine struct {
	Seq    int64     `json:"seq"`
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
	At     time.Time `json:"at"`
}

// Logs is a page of a stage's stored log.
type Logs struct {
	Stage   string    `json:"stage"`
	Attempt int       `json:"attempt"`
	Lines   []LogLine `json:"lines"`
	Next    int64     `json:"next"`
	Ended   bool      `json:"ended"`
}

type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// Scope names the tenant the calls are about.
type Scope struct{ Org, Tenant string }

func (s Scope) path() string {
	return "/orgs/" + url.PathEscape(s.Org) + "/tenants/" + url.PathEscape(s.Tenant)
}

func pipelinePath(s Scope, name string) string {
	return s.path() + "/pipelines/" + url.PathEscape(name)
}

func runPath(s Scope, pipeline string, number int64) string {
	return pipelinePath(s, pipeline) + "/runs/" + strconv.FormatInt(number, 10)
}

// Me returns who the token is.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var m Me
	return m, c.Do(ctx, "GET", "/me", nil, &m)
}

// PutPipeline creates or replaces a pipeline from its KDL source.
func (c *Client) PutPipeline(ctx context.Context, s Scope, name, source string) (Pipeline, error) {
	var p Pipeline
	return p, c.Do(ctx, "PUT", pipelinePath(s, name), map[string]string{"source": source}, &p)
}

// Pipelines lists the tenant's pipelines, every page.
func (c *Client) Pipelines(ctx context.Context, s Scope) ([]Pipeline, error) {
	var all []Pipeline
	after := ""
	for {
		var page list[Pipeline]
		q := "?limit=200"
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		if err := c.Do(ctx, "GET", s.path()+"/pipelines"+q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}

// TriggerRequest is the body of a trigger.
type TriggerRequest struct {
	Branch     string            `json:"branch,omitempty"`
	Commit     string            `json:"commit,omitempty"`
	Event      string            `json:"event,omitempty"`
	Repository string            `json:"repository,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
}

// Trigger starts a run of a pipeline.
func (c *Client) Trigger(ctx context.Context, s Scope, pipeline string, req TriggerRequest) (Run, error) {
	var r Run
	return r, c.Do(ctx, "POST", pipelinePath(s, pipeline)+"/runs", req, &r)
}

// Runs lists a pipeline's runs, newest first, up to limit.
func (c *Client) Runs(ctx context.Context, s Scope, pipeline, status, branch string, limit int) ([]Run, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if status != "" {
		q.Set("status", status)
	}
	if branch != "" {
		q.Set("branch", branch)
	}
	var page list[Run]
	return page.Items, c.Do(ctx, "GET", pipelinePath(s, pipeline)+"/runs?"+q.Encode(), nil, &page)
}

// Run returns a run with its stages.
func (c *Client) Run(ctx context.Context, s Scope, pipeline string, number int64) (Run, error) {
	var r Run
	return r, c.Do(ctx, "GET", runPath(s, pipeline, number), nil, &r)
}

// Cancel asks a run to cancel.
func (c *Client) Cancel(ctx context.Context, s Scope, pipeline string, number int64) error {
	return c.Do(ctx, "POST", runPath(s, pipeline, number)+"/cancel", nil, nil)
}

// Decide approves (or rejects) a waiting approval stage.
func (c *Client) Decide(ctx context.Context, s Scope, pipeline string, number int64, stage string, approve bool, reason string) (map[string]any, error) {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	var out map[string]any
	return out, c.Do(ctx, "POST", runPath(s, pipeline, number)+"/stages/"+url.PathEscape(stage)+"/"+verb, body, &out)
}

// Rerun starts a new run with the run's trigger; onlyFailed reruns only
// what did not succeed.
func (c *Client) Rerun(ctx context.Context, s Scope, pipeline string, number int64, onlyFailed bool) (Run, error) {
	var r Run
	return r, c.Do(ctx, "POST", runPath(s, pipeline, number)+"/rerun?failed="+strconv.FormatBool(onlyFailed), nil, &r)
}

// Logs reads a page of a stage's stored log (attempt 0 is the latest).
func (c *Client) Logs(ctx context.Context, s Scope, pipeline string, number int64, stage string, attempt int, after int64) (Logs, error) {
	q := url.Values{"stage": {stage}, "after": {strconv.FormatInt(after, 10)}}
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	var l Logs
	return l, c.Do(ctx, "GET", runPath(s, pipeline, number)+"/logs?"+q.Encode(), nil, &l)
}

// FollowEvent is one event of a followed log: a line, a new attempt, or
// the end (Status set).
type FollowEvent struct {
	Line    *LogLine
	Attempt int
	Status  string
	Error   string
}

// FollowRetries is how many times in a row Follow connects again after
// the stream broke (or the server was unavailable) without getting an
// event; followBackoff is the wait before the first of them, doubled each
// time.
var (
	FollowRetries = 5
	followBackoff = time.Second
)

// errIdle is a followed log that the server ended because no line came
// for a while: follow on at once.
var errIdle = errors.New("the server ended an idle log stream")

// Follow streams a stage's log (its latest attempt, and those after it)
// until the stage ends, calling fn for every event. It follows again from
// the last event it got (as Last-Event-ID) when the server ends an idle
// stream, when the stream breaks or the server is unavailable (up to
// FollowRetries times in a row without an event, waiting longer each
// time), and when the tenant follows too many logs at once (after the
// Retry-After the server asks for).
func (c *Client) Follow(ctx context.Context, s Scope, pipeline string, number int64, stage string, fn func(FollowEvent)) error {
	q := url.Values{"stage": {stage}, "follow": {"1"}}
	path := runPath(s, pipeline, number) + "/logs?" + q.Encode()
	lastID := ""
	for failures := 0; ; {
		events, err := c.followOnce(ctx, path, stage, &lastID, fn)
		if events > 0 {
			failures = 0
		}
		var apiErr *Error
		var wait time.Duration
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errIdle):
			continue
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
			wait = apiErr.retryAfter
		case errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable:
			return err
		default: // the stream broke, or the server is away for now
			if failures >= FollowRetries {
				return err
			}
			wait = followBackoff << failures
			failures++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// followOnce follows a log with one request, from *lastID when set, which
// it keeps up to date. It returns how many events came, and nil when the
// stage ended.
func (c *Client) followOnce(ctx context.Context, path, stage string, lastID *string, fn func(FollowEvent)) (int, error) {
	req, err := c.request(ctx, "GET", path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	res, err := c.http().Do(req)
	if err != nil {
		return 0, fmt.Errorf("reach the API at %s: %w", c.BaseURL, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		err := decodeError(res.StatusCode, b)
		if e := (*Error)(nil); errors.As(err, &e) {
			e.retryAfter = retryAfter(res.Header.Get("Retry-After"))
		}
		return 0, err
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event, id, events := "", "", 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			event, id = "", ""
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			events++
			switch event {
			case "line":
				var l LogLine
				if err := json.Unmarshal(data, &l); err != nil {
					return events, fmt.Errorf("log stream: %w", err)
				}
				fn(FollowEvent{Line: &l})
			case "attempt":
				var a struct {
					Attempt int `json:"attempt"`
				}
				_ = json.Unmarshal(data, &a)
				fn(FollowEvent{Attempt: a.Attempt})
			case "end":
				var e struct {
					Status string `json:"status"`
					Error  string `json:"error"`
				}
				_ = json.Unmarshal(data, &e)
				fn(FollowEvent{Status: e.Status, Error: e.Error})
				return events, nil
			case "idle":
				if id != "" {
					*lastID = id
				}
				return events, errIdle
			case "error":
				var e struct {
					Message string `json:"message"`
				}
				_ = json.Unmarshal(data, &e)
				return events, &Error{Status: http.StatusInternalServerError, Message: "log stream: " + e.Message}
			}
			if id != "" {
				// The server sends an event's id before its data: the
				// place to follow on from, now that the event is taken.
				*lastID = id
			}
		}
	}
	if err := sc.Err(); err != nil {
		return events, fmt.Errorf("log stream: %w", err)
	}
	return events, fmt.Errorf("log stream of stage %s ended early", stage)
}

// retryAfter reads a Retry-After in seconds, between 1 s and a minute;
// 10 s when there is none.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(h)
	if err != nil {
		return 10 * time.Second
	}
	return time.Duration(min(max(n, 1), 60)) * time.Second
}

// Deployment is one deployment of a service to an environment.
type Deployment struct {
	ID               string     `json:"id"`
	Service          string     `json:"service"`
	Environment      string     `json:"environment"`
	Revision         int        `json:"revision"`
	Image            string     `json:"image"`
	Status           string     `json:"status"`
	Actor            string     `json:"actor,omitempty"`
	Target           string     `json:"target,omitempty"`
	Stage            string     `json:"stage,omitempty"`
	PreviousRevision *int       `json:"previous_revision,omitempty"`
	RolledBackTo     *int       `json:"rolled_back_to,omitempty"`
	Message          string     `json:"message,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	FinishedAt       *time.Time `json:"finished_at,omitempty"`
}

// Deployments lists an environment's deployments, newest first, up to limit.
func (c *Client) Deployments(ctx context.Context, s Scope, environment string, limit int) ([]Deployment, error) {
	var page list[Deployment]
	return page.Items, c.Do(ctx, "GET", s.path()+"/environments/"+url.PathEscape(environment)+"/deployments?limit="+strconv.Itoa(limit), nil, &page)
}

// Rollback deploys a succeeded deployment's image again.
func (c *Client) Rollback(ctx context.Context, s Scope, id string) (map[string]any, error) {
	var out map[string]any
	return out, c.Do(ctx, "POST", s.path()+"/deployments/"+url.PathEscape(id)+"/rollback", nil, &out)
}
