// Package remote is a client of BuildIt's REST API, for the CLI's remote
// commands (buildit login, pipelines, trigger, runs): typed calls that
// decode apiview's shapes, the API's errors as *Error, and log streams read
// from server-sent events.
package remote

import (
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

	"github.com/buildit-ci/buildit/apiview"
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

// Problems decodes the problems of an invalid_pipeline error.
func (e *Error) Problems() []apiview.Problem {
	var ps []apiview.Problem
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
