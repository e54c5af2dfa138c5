// Package runclient is the client side of runs: it starts PipelineRun
// workflows on Temporal, waits for them, queries their state and decides
// their approval gates (client.go), for `buildit run`, the server and the
// tests alike. Service (service.go) does the same for a tenant's stored
// pipelines, with the run's records in Postgres: it is the API's side of
// server mode. The worker's side (run records, logs, secrets and
// deployments written by activities) is workerstore; runclient links no
// executor or deploy backend.
package runclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/workflows"
)

// RunOptions say how to start a run.
type RunOptions struct {
	// ID is the workflow ID; it must be unique among open runs.
	ID        string
	TaskQueue string
	// SearchAttributes sets BuildIt's search attributes on the run (the
	// server must have them registered).
	SearchAttributes bool
	Tenant           string
	Trigger          string
	Actor            string
	// RejectDuplicate refuses to start a workflow whose ID has been used,
	// even by one that has closed (a keyed start that must run once).
	RejectDuplicate bool
}

// StartRun starts a PipelineRun workflow.
func StartRun(ctx context.Context, c client.Client, in workflows.PipelineRunInput, o RunOptions) (client.WorkflowRun, error) {
	if o.TaskQueue == "" {
		o.TaskQueue = workflows.DefaultTaskQueue
	}
	opts := client.StartWorkflowOptions{
		ID:        o.ID,
		TaskQueue: o.TaskQueue,
		// With a worker in the same process the first workflow task runs
		// without a round trip through the matching service.
		EnableEagerStart: true,
	}
	if o.RejectDuplicate {
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
		opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	}
	if o.SearchAttributes {
		in.SearchAttributes = true
		updates := []temporal.SearchAttributeUpdate{
			workflows.SearchPipeline.ValueSet(in.Plan.Pipeline),
			workflows.SearchStatus.ValueSet(string(buildit.RunQueued)),
		}
		if o.Tenant != "" {
			updates = append(updates, workflows.SearchTenant.ValueSet(o.Tenant))
		}
		if o.Trigger != "" {
			updates = append(updates, workflows.SearchTrigger.ValueSet(o.Trigger))
		}
		if o.Actor != "" {
			updates = append(updates, workflows.SearchActor.ValueSet(o.Actor))
		}
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(updates...)
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.PipelineRunWorkflow, in)
	// Search attributes just registered by EnsureSearchAttributes are not
	// known to the frontend until its namespace cache refreshes.
	for wait := time.Now().Add(searchAttributesPropagation); err != nil && o.SearchAttributes && searchAttributesPending(err) && time.Now().Before(wait); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		run, err = c.ExecuteWorkflow(ctx, opts, workflows.PipelineRunWorkflow, in)
	}
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	return run, nil
}

// searchAttributesPropagation bounds how long StartRun waits for search
// attributes that the namespace does not know yet.
const searchAttributesPropagation = 30 * time.Second

func searchAttributesPending(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid) && strings.Contains(invalid.Message, "no mapping defined for search attribute")
}

// Wait waits for a run to end and returns its final state. A run that failed
// or was cancelled is not an error: its state says so. An error means the
// outcome could not be read.
func Wait(ctx context.Context, run client.WorkflowRun) (workflows.RunState, error) {
	var st workflows.RunState
	err := run.Get(ctx, &st)
	if err == nil {
		return st, nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypePipelineFailed && appErr.HasDetails() {
		if derr := appErr.Details(&st); derr == nil {
			return st, nil
		}
	}
	var canErr *temporal.CanceledError
	if errors.As(err, &canErr) && canErr.HasDetails() {
		if derr := canErr.Details(&st); derr == nil {
			return st, nil
		}
	}
	return st, err
}

// State asks a running workflow for its live state.
func State(ctx context.Context, c client.Client, workflowID string) (workflows.RunState, error) {
	var st workflows.RunState
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.StateQuery)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// Decide approves or rejects an approval gate and returns its state.
func Decide(ctx context.Context, c client.Client, workflowID string, approve bool, in workflows.ApprovalInput) (workflows.StageState, error) {
	name := workflows.RejectUpdate
	if approve {
		name = workflows.ApproveUpdate
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   name,
		Args:         []any{in},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var st workflows.StageState
	if err != nil {
		return st, err
	}
	return st, h.Get(ctx, &st)
}

// EnsureSearchAttributes registers whichever of BuildIt's search attributes
// (workflows.SearchAttributeNames, all Keyword) namespace ns lacks on the
// server behind c, and reports whether it added any. It needs the operator
// API's permission; without it the error says so, and the caller runs
// without search attributes.
//
// Attributes just added reach the frontends with their next namespace
// refresh (seconds): until then the server refuses a start that sets them
// (an InvalidArgument error, "no mapping defined for search attribute"),
// which StartRun retries every 250 ms for up to 30 s.
func EnsureSearchAttributes(ctx context.Context, c client.Client, ns string) (added bool, err error) {
	op := c.OperatorService()
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return false, fmt.Errorf("list search attributes of namespace %s: %w", ns, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range workflows.SearchAttributeNames {
		if t, ok := have.GetCustomAttributes()[name]; ok {
			if t != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
				return false, fmt.Errorf("namespace %s has search attribute %s of type %s, want Keyword", ns, name, t)
			}
			continue
		}
		missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	if len(missing) == 0 {
		return false, nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return false, fmt.Errorf("register search attributes in namespace %s: %w", ns, err)
	}
	return true, nil
}
