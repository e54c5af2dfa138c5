package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/internal/bombtest"
	"github.com/buildit-ci/buildit/pipeline"
)

// limitsEnv is a server with one tenant, "web", in org "acme".
func limitsEnv(t *testing.T) (*env, *client) {
	t.Helper()
	e := setup(t)
	ann := e.signup("ann@example.com", "Acme")
	ann.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "Web"})
	return e, ann
}

// wantProblem checks that r is the 422 of an invalid pipeline whose only
// error is msg at line:col.
func wantProblem(t *testing.T, r resp, line, col int, msg string) {
	t.Helper()
	var bad struct {
		Error struct {
			Code    string
			Details []apiview.Problem
		}
	}
	r.json(t, &bad)
	var errs []apiview.Problem
	for _, d := range bad.Error.Details {
		if d.Severity == "error" {
			errs = append(errs, d)
		}
	}
	if r.status != 422 || bad.Error.Code != "invalid_pipeline" || len(errs) != 1 ||
		errs[0].Line != line || errs[0].Column != col || errs[0].Message != msg {
		t.Errorf("got %d %s\nwant 422 invalid_pipeline with the one error %d:%d: %s", r.status, r.body, line, col, msg)
	}
}

// A pushed pipeline bomb is a 422 with the same diagnostic as buildit
// validate, answered promptly in bounded memory: unbounded, the 5×20 matrix
// took buildit dev to 5.9 GB and killed it, and 4×20 stored a 47.6 MB plan.
func TestSecurityPipelineBombIsRefused(t *testing.T) {
	e, ann := limitsEnv(t)
	const path = "/orgs/acme/tenants/web/pipelines"
	tests := []struct {
		name, method, path, source string
		line, col                  int
		msg                        string
	}{
		{"5x20 matrix", "POST", path, bombtest.Matrix(20, 5), 4, 5,
			`stage "boom" has 95367431640625 matrix instances (20 axes: 5×5×5×5×5×5×…); the limit is 256 per stage`},
		{"4x20 matrix", "PUT", path + "/bomb", bombtest.Matrix(20, 4), 4, 5,
			`stage "boom" has 1099511627776 matrix instances (20 axes: 4×4×4×4×4×4×…); the limit is 256 per stage`},
		{"template chain", "POST", path, bombtest.TemplateChain(6000), 2, 1,
			`templates extend each other more than 16 deep: t1 -> t2 -> t3 -> … -> t17 -> …; the limit is 16`},
		{"1001 stages", "POST", path, bombtest.Stages(1001), 1002, 1,
			`too many stages: a pipeline declares at most 1000 stage and deploy nodes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r resp
			bombtest.Bound(t, 64*bombtest.MiB, func() {
				r = ann.do(tt.method, tt.path, map[string]string{"name": "bomb", "source": tt.source})
			})
			wantProblem(t, r, tt.line, tt.col, tt.msg)
		})
	}
	// Nothing was stored.
	var l apiview.List[apiview.Pipeline]
	ann.must(200, "GET", path, nil).json(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("pipelines stored: %+v", l.Items)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged:\n%s", e.logs)
	}
}

// The operator's limits (buildit server --max-*) are the API's.
func TestPipelineLimitsFromConfig(t *testing.T) {
	e, ann := limitsEnv(t)
	const path = "/orgs/acme/tenants/web/pipelines"
	// 1,024 instances: over the default, within a raised limit.
	src := bombtest.Matrix(5, 4)
	wantProblem(t, ann.do("PUT", path+"/wide", map[string]string{"source": src}), 4, 5,
		`stage "boom" has 1024 matrix instances (5 axes: 4×4×4×4×4); the limit is 256 per stage`)
	e.api.cfg.PipelineLimits = pipeline.Limits{Matrix: 1024, Instances: 1024, PlanBytes: 4 << 20}
	ann.must(201, "PUT", path+"/wide", map[string]string{"source": src})
	// And lowered.
	e.api.cfg.PipelineLimits = pipeline.Limits{Stages: 2}
	wantProblem(t, ann.do("PUT", path+"/three", map[string]string{"source": bombtest.Stages(3)}), 4, 1,
		`too many stages: a pipeline declares at most 2 stage and deploy nodes`)
}

// A plan stored before the limits is not decoded and sent to Temporal at
// trigger time: the run is refused until the pipeline is pushed again.
func TestSecurityOversizedStoredPlanIsNotRun(t *testing.T) {
	e, ann := limitsEnv(t)
	ctx := t.Context()
	org, err := e.store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tn, err := e.store.Tenants().Get(ctx, org.ID, "web")
	if err != nil {
		t.Fatal(err)
	}
	// A 4 MB plan, as the 4×20 bomb stored 47.6 MB before.
	plan, err := json.Marshal(pipeline.Plan{Pipeline: "old", Steps: []pipeline.Step{{ID: "a", Stage: "a", Run: []string{strings.Repeat("x", 4<<20)}}}, Waves: [][]string{{"a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Pipelines().Create(ctx, tn.ID, db.PipelineSpec{Name: "old", Source: helloKDL, Plan: plan}); err != nil {
		t.Fatal(err)
	}
	r := ann.do("POST", "/orgs/acme/tenants/web/pipelines/old/runs", nil)
	if r.status != 422 || !strings.Contains(string(r.body), "over this server's limit of 1048576: push the pipeline again") {
		t.Errorf("trigger of an oversized stored plan: %d %s", r.status, r.body)
	}
}

// Planning stops when the request's context ends (a client that leaves):
// that is no server error, and is not logged as one.
func TestCanceledRequestIsNoServerError(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequestWithContext(ctx, "POST", "/", nil)
	var logs bytes.Buffer
	c.Set(loggerKey, slog.New(slog.NewJSONHandler(&logs, nil)))
	_, _, err := pipeline.DefaultLimits.Compile(ctx, "p.kdl", []byte(bombtest.Matrix(4, 4)))
	fail(c, err)
	if w.Code != StatusClientClosed || strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("got %d, logged %s; want %d and no error logged", w.Code, logs.String(), StatusClientClosed)
	}
}
