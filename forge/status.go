package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxDescription is GitHub's limit on a status's description.
const maxDescription = 140

// maxErrorBody bounds the forge's answer kept in a StatusError.
const maxErrorBody = 200

type statusClient struct {
	kind  Kind
	token string
	hc    *http.Client
	now   func() time.Time
}

func (c *statusClient) SetStatus(ctx context.Context, repo Repo, sha string, st Status) error {
	if repo.APIURL == "" || repo.Owner == "" || repo.Name == "" || sha == "" {
		return fmt.Errorf("set status: repository or commit missing")
	}
	api := strings.TrimRight(repo.APIURL, "/")
	body := map[string]string{
		"state":       st.State,
		"context":     st.Context,
		"description": truncate(st.Description, maxDescription),
		"target_url":  st.TargetURL,
	}
	var endpoint string
	switch c.kind {
	case GitHub, Gitea:
		endpoint = api + "/repos/" + url.PathEscape(repo.Owner) + "/" + url.PathEscape(repo.Name) + "/statuses/" + url.PathEscape(sha)
	case GitLab:
		endpoint = api + "/projects/" + url.PathEscape(repo.Owner+"/"+repo.Name) + "/statuses/" + url.PathEscape(sha)
		delete(body, "context")
		body["name"] = st.Context
		body["state"] = gitlabState(st.State)
	default:
		return fmt.Errorf("set status: unknown forge %q", c.kind)
	}
	if body["target_url"] == "" {
		delete(body, "target_url")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("set status: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "BuildIt")
	switch c.kind {
	case GitHub:
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	case GitLab:
		req.Header.Set("PRIVATE-TOKEN", c.token)
		req.Header.Set("Accept", "application/json")
	case Gitea:
		req.Header.Set("Authorization", "token "+c.token)
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// The URL holds no token (it travels in a header).
		return fmt.Errorf("set status: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if c.kind == GitLab && resp.StatusCode == http.StatusBadRequest &&
		bytes.Contains(answer, []byte("Cannot transition status via")) {
		// GitLab refuses to set a status to the state it has (a retry
		// of a call that went through): it is set.
		return nil
	}
	if rl := rateLimit(resp, c.now()); rl != nil {
		return rl
	}
	return &StatusError{Code: resp.StatusCode, Body: c.scrub(answer)}
}

// scrub trims a forge's answer for an error, without the token should the
// forge echo it.
func (c *statusClient) scrub(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	if c.token != "" {
		s = strings.ReplaceAll(s, c.token, "[token]")
	}
	s = strings.TrimSpace(s)
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// rateLimit is the RateLimitError of a refusal for a rate limit (429; 403
// with X-RateLimit-Remaining 0 or with Retry-After, GitHub's primary and
// secondary limits), nil for another answer.
func rateLimit(resp *http.Response, now time.Time) *RateLimitError {
	h := resp.Header
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
	case resp.StatusCode == http.StatusForbidden &&
		(h.Get("X-RateLimit-Remaining") == "0" || h.Get("RateLimit-Remaining") == "0" || h.Get("Retry-After") != ""):
	default:
		return nil
	}
	return &RateLimitError{RetryAfter: retryAfter(h, now)}
}

// retryAfter reads Retry-After (seconds or an HTTP date), else
// X-RateLimit-Reset or GitLab's RateLimit-Reset (epoch seconds); zero
// when none says.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	for _, name := range []string{"X-RateLimit-Reset", "RateLimit-Reset"} {
		if n, err := strconv.ParseInt(strings.TrimSpace(h.Get(name)), 10, 64); err == nil && n > 0 {
			return max(time.Unix(n, 0).Sub(now), 0)
		}
	}
	return 0
}

// gitlabState is state in GitLab's words.
func gitlabState(state string) string {
	switch state {
	case StatePending:
		return "running"
	case StateFailure, StateError:
		return "failed"
	}
	return state
}

// truncate cuts s to at most n characters, the last an ellipsis when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
