// Package engine starts pipeline runs on Temporal and reads their outcome:
// the small client-side API that `buildit run`, the server and the tests
// share.
package engine

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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
	if o.SearchAttributes {
		in.SearchAttributes = true
		updates := []temporal.SearchAttributeUpdate{
			workflows.SearchPipeline.ValueSet(in.Plan.Pipeline),
			workflows.SearchStatus.ValueSet(string(workflows.RunQueued)),
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
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	return run, nil
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
