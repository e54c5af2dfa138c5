// Package pipeline is BuildIt's domain model of a pipeline: the types a KDL
// pipeline file decodes into, the validation that reports every problem in a
// file at once, and the Plan (the stage DAG in topological waves) that the
// engine executes.
//
// It imports nothing of BuildIt but the kdl package.
package pipeline

import (
	"time"
)

// Position is where an item was written in a pipeline file.
type Position struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// Kind says what a stage does.
type Kind string

// The kinds of stage.
const (
	// KindRun runs commands, on the host shell or in a container.
	KindRun Kind = "run"
	// KindApproval waits for a person to approve or reject.
	KindApproval Kind = "approval"
	// KindDeploy ships an image to a target.
	KindDeploy Kind = "deploy"
)

// Pipeline is a decoded pipeline file.
type Pipeline struct {
	// Name is the pipeline's name, from the `pipeline` node.
	Name string
	// File is the path the pipeline was loaded from, for messages.
	File string
	// Env is the pipeline-wide environment.
	Env map[string]string
	// Defaults apply to every stage that does not set the field itself.
	Defaults Defaults
	// Concurrency limits how many runs of the pipeline go at once; nil when
	// the file does not say.
	Concurrency *Concurrency
	// On is the `on` node: what starts the pipeline; nil when the file
	// does not say.
	On *On
	// Inputs are the `inputs` node's entries in file order.
	Inputs []Input
	// Stages are the `stage` and `deploy` nodes in file order.
	Stages []*Stage
	// Templates are the `template` nodes by name.
	Templates map[string]*Stage
	// Targets are the deployment targets by name.
	Targets map[string]*Target

	// limits are the limits the file was loaded under, for its Plan.
	limits Limits
}

// Defaults are the settings of the `defaults` node.
type Defaults struct {
	Image   string        `json:"image,omitempty"`
	Shell   string        `json:"shell,omitempty"`
	Workdir string        `json:"workdir,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Retry   int           `json:"retry,omitempty"`
}

// Concurrency is the `concurrency` node: runs in the same group queue behind
// each other, or cancel the one in progress.
type Concurrency struct {
	Group            string `json:"group"`
	CancelInProgress bool   `json:"cancel_in_progress,omitempty"`
}

// Stage is one `stage`, `deploy` or `template` node.
type Stage struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Extends names the template this stage takes its settings from.
	Extends string `json:"extends,omitempty"`

	Image   string            `json:"image,omitempty"`
	Run     []string          `json:"run,omitempty"`
	Shell   string            `json:"shell,omitempty"`
	Workdir string            `json:"workdir,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Secrets []string          `json:"secrets,omitempty"`
	Needs   []string          `json:"needs,omitempty"`
	When    *When             `json:"when,omitempty"`
	// Timeout bounds one attempt; zero means the default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retry is the number of extra attempts after a failure; nil when unset.
	Retry        *int           `json:"retry,omitempty"`
	AllowFailure bool           `json:"allow_failure,omitempty"`
	Matrix       []MatrixAxis   `json:"matrix,omitempty"`
	Services     []Service      `json:"services,omitempty"`
	Cache        []Cache        `json:"cache,omitempty"`
	Artifacts    []ArtifactSpec `json:"artifacts,omitempty"`
	Approval     *Approval      `json:"approval,omitempty"`
	Resources    *Resources     `json:"resources,omitempty"`
	Deploy       *Deploy        `json:"deploy,omitempty"`

	// Pos is where the node was written.
	Pos Position `json:"-"`
	// set records which fields the node wrote itself, for templates.
	set map[string]bool
	// needsPos records where each entry of Needs was written.
	needsPos []Position
	// matrixPos is where the matrix node was written.
	matrixPos Position
}

// When decides whether a stage runs. Empty lists match anything.
type When struct {
	// Branch lists branch patterns (path.Match syntax, e.g. "release/*").
	Branch []string `json:"branch,omitempty"`
	// Event lists trigger events (push, pull_request, tag, manual, schedule).
	Event []string `json:"event,omitempty"`
	// Status is the upstream condition: success (the default), failure or
	// always.
	Status string `json:"status,omitempty"`
}

// The upstream conditions of When.Status.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusAlways  = "always"
)

// MatrixAxis is one dimension of a stage's matrix.
type MatrixAxis struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// Service is a sidecar container started for the stage's duration.
type Service struct {
	Name    string            `json:"name"`
	Image   string            `json:"image"`
	Env     map[string]string `json:"env,omitempty"`
	Command []string          `json:"command,omitempty"`
}

// Cache is a set of paths kept between runs under a key: paths relative
// to the workspace, or "~/..." in the stage's home.
type Cache struct {
	// Key is the key as written: it may hold ${NAME} (the stage's
	// environment) and {{ hashFiles('glob', ...) }}, expanded when the
	// stage runs (see ParseCacheKey). "" means the stage's name.
	Key string `json:"key,omitempty"`
	// RestoreKeys are prefixes tried, in order, when no entry has the
	// exact key: the newest entry whose key starts with one is restored.
	RestoreKeys []string `json:"restore_keys,omitempty"`
	Paths       []string `json:"paths"`
	Pos         Position `json:"-"`
}

// ArtifactSpec is one `artifacts` node: paths relative to the workspace
// (files, folders, globs with * and **) kept after an attempt under Name.
type ArtifactSpec struct {
	// Name is unique in the run: the node's name= or, by default, the
	// stage's name ("<stage>-2" for its second node, and so on), with a
	// matrix instance's " [k=v, ...]" after it in a Step.
	Name  string   `json:"name"`
	Paths []string `json:"paths"`
	// When is ArtifactsSuccess (the default), ArtifactsAlways or
	// ArtifactsFailure: after which attempts the paths are kept.
	When string `json:"when,omitempty"`
	// Optional skips paths that match nothing instead of failing the
	// attempt.
	Optional bool     `json:"optional,omitempty"`
	Pos      Position `json:"-"`
	// named records that the node gave its name itself.
	named bool
}

// The values of ArtifactSpec.When.
const (
	ArtifactsSuccess = "success"
	ArtifactsAlways  = "always"
	ArtifactsFailure = "failure"
)

// KeepsAfter reports whether the artifacts are kept after an attempt that
// succeeded (ok) or failed (!ok).
func (a ArtifactSpec) KeepsAfter(ok bool) bool {
	switch a.When {
	case ArtifactsAlways:
		return true
	case ArtifactsFailure:
		return !ok
	}
	return ok
}

// Approval makes a stage wait for a person's decision.
type Approval struct {
	Message string `json:"message,omitempty"`
	// Timeout is how long to wait; zero means forever.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Approvers lists who may decide; empty means anyone allowed to run.
	Approvers []string `json:"approvers,omitempty"`
}

// Resources are a stage's resource limits.
type Resources struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// Deploy is what a `deploy` node ships and where.
type Deploy struct {
	Target      string            `json:"target"`
	Environment string            `json:"environment,omitempty"`
	Image       string            `json:"image"`
	Replicas    int               `json:"replicas,omitempty"`
	Port        int               `json:"port,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Strategy    string            `json:"strategy,omitempty"`
	HealthCheck *HealthCheck      `json:"health_check,omitempty"`
}

// HealthCheck is how a deploy decides that the new revision is healthy.
type HealthCheck struct {
	Path    string        `json:"path,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
}

// The deploy strategies.
const (
	StrategyRolling   = "rolling"
	StrategyAllAtOnce = "all-at-once"
)

// Target is a deployment target.
type Target struct {
	Name string `json:"name"`
	// Kind is "kubernetes" or "fly"; empty for a tenant's target named
	// by a pipeline run by a BuildIt server.
	Kind TargetKind `json:"kind"`
	// Settings are the target's children (namespace, app, region, api-url,
	// token-secret, …) by name.
	Settings map[string]string `json:"settings,omitempty"`
	Pos      Position          `json:"-"`
}
