package remote

import (
	"context"
	"net/url"
	"strconv"

	"github.com/buildit-ci/buildit/apiview"
)

// Me returns who the token is.
func (c *Client) Me(ctx context.Context) (apiview.Me, error) {
	var m apiview.Me
	return m, c.Do(ctx, "GET", "/me", nil, &m)
}

// PutPipeline creates or replaces a pipeline from its KDL source. A
// non-nil repository links it to that connected repository of the
// tenant, whose webhooks then run it ("" unlinks it); nil keeps what the
// pipeline has.
func (c *Client) PutPipeline(ctx context.Context, s Scope, name, source string, repository *string) (apiview.Pipeline, error) {
	var p apiview.Pipeline
	body := map[string]any{"source": source}
	if repository != nil {
		body["repository_id"] = *repository
	}
	return p, c.Do(ctx, "PUT", pipelinePath(s, name), body, &p)
}

// Pipelines lists the tenant's pipelines, every page.
func (c *Client) Pipelines(ctx context.Context, s Scope) ([]apiview.Pipeline, error) {
	var all []apiview.Pipeline
	after := ""
	for {
		var page apiview.List[apiview.Pipeline]
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

// Trigger starts a run of a pipeline.
func (c *Client) Trigger(ctx context.Context, s Scope, pipeline string, req apiview.TriggerRequest) (apiview.Run, error) {
	var r apiview.Run
	return r, c.Do(ctx, "POST", pipelinePath(s, pipeline)+"/runs", req, &r)
}

// Runs lists a pipeline's runs, newest first, up to limit.
func (c *Client) Runs(ctx context.Context, s Scope, pipeline, status, branch string, limit int) ([]apiview.Run, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if status != "" {
		q.Set("status", status)
	}
	if branch != "" {
		q.Set("branch", branch)
	}
	var page apiview.List[apiview.Run]
	return page.Items, c.Do(ctx, "GET", pipelinePath(s, pipeline)+"/runs?"+q.Encode(), nil, &page)
}

// Run returns a run with its stages.
func (c *Client) Run(ctx context.Context, s Scope, pipeline string, number int64) (apiview.Run, error) {
	var r apiview.Run
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
func (c *Client) Rerun(ctx context.Context, s Scope, pipeline string, number int64, onlyFailed bool) (apiview.Run, error) {
	var r apiview.Run
	return r, c.Do(ctx, "POST", runPath(s, pipeline, number)+"/rerun?failed="+strconv.FormatBool(onlyFailed), nil, &r)
}

// Logs reads a page of a stage's stored log (attempt 0 is the latest).
func (c *Client) Logs(ctx context.Context, s Scope, pipeline string, number int64, stage string, attempt int, after int64) (apiview.Logs, error) {
	q := url.Values{"stage": {stage}, "after": {strconv.FormatInt(after, 10)}}
	if attempt > 0 {
		q.Set("attempt", strconv.Itoa(attempt))
	}
	var l apiview.Logs
	return l, c.Do(ctx, "GET", runPath(s, pipeline, number)+"/logs?"+q.Encode(), nil, &l)
}

// Deployments lists an environment's deployments, newest first, up to limit.
func (c *Client) Deployments(ctx context.Context, s Scope, environment string, limit int) ([]apiview.Deployment, error) {
	var page apiview.List[apiview.Deployment]
	return page.Items, c.Do(ctx, "GET", s.path()+"/environments/"+url.PathEscape(environment)+"/deployments?limit="+strconv.Itoa(limit), nil, &page)
}

// Rollback deploys a succeeded deployment's image again.
func (c *Client) Rollback(ctx context.Context, s Scope, id string) (map[string]any, error) {
	var out map[string]any
	return out, c.Do(ctx, "POST", s.path()+"/deployments/"+url.PathEscape(id)+"/rollback", nil, &out)
}
