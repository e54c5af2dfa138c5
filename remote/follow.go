package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/buildit-ci/buildit/apiview"
)

// FollowEvent is one event of a followed log: a line, a new attempt, or
// the end (Status set).
type FollowEvent struct {
	Line    *apiview.LogLine
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
		var e *Error
		if errors.As(err, &e) {
			e.retryAfter = retryAfter(res.Header.Get("Retry-After"))
		}
		return 0, err
	}
	events := apiview.NewEventReader(res.Body)
	for n := 0; ; n++ {
		ev, err := events.Next()
		if errors.Is(err, io.EOF) {
			return n, fmt.Errorf("log stream of stage %s ended early", stage)
		}
		if err != nil {
			return n, fmt.Errorf("log stream: %w", err)
		}
		switch ev.Name {
		case apiview.EventLine:
			var l apiview.LogLine
			if err := json.Unmarshal([]byte(ev.Data), &l); err != nil {
				return n + 1, fmt.Errorf("log stream: %w", err)
			}
			fn(FollowEvent{Line: &l})
		case apiview.EventAttempt:
			var a apiview.FollowAttempt
			_ = json.Unmarshal([]byte(ev.Data), &a)
			fn(FollowEvent{Attempt: a.Attempt})
		case apiview.EventEnd:
			var e apiview.FollowEnd
			_ = json.Unmarshal([]byte(ev.Data), &e)
			fn(FollowEvent{Status: string(e.Status), Error: e.Error})
			return n + 1, nil
		case apiview.EventIdle:
			if ev.ID != "" {
				*lastID = ev.ID
			}
			return n + 1, errIdle
		case apiview.EventError:
			var e apiview.FollowError
			_ = json.Unmarshal([]byte(ev.Data), &e)
			return n + 1, &Error{Status: http.StatusInternalServerError, Message: "log stream: " + e.Message}
		}
		if ev.ID != "" {
			// The event is taken: the place to follow on from.
			*lastID = ev.ID
		}
	}
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
