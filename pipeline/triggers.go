package pipeline

import (
	"fmt"
	"time"
)

// On is the pipeline's `on` node: the events that start it. A pipeline
// without one (On nil) runs on push and pull_request, on every branch, and
// manually: what a Woodpecker pipeline without `when` does.
//
//	on {
//	    push { branch "main" "release/*"; paths "src/**" "go.mod"; paths-ignore "docs/**"; }
//	    pull-request { branch "main"; types "opened" "synchronized"; }
//	    tag "v*"
//	    manual
//	    schedule "0 3 * * *" name="nightly" branch="main" timezone="Europe/Berlin" jitter="5m" overlap="skip"
//	}
//
// Each child may be written with properties (`push branch="main"`) when one
// value is enough, as `when` allows.
type On struct {
	// Push, when set, runs the pipeline on pushes to matching branches
	// that change matching paths.
	Push *PushTrigger `json:"push,omitempty"`
	// PullRequest, when set, runs it on pull requests into matching
	// target branches.
	PullRequest *PullRequestTrigger `json:"pull_request,omitempty"`
	// Tag, when set, runs it when a matching tag is pushed.
	Tag *TagTrigger `json:"tag,omitempty"`
	// Manual allows runs through the API, the CLI and the dashboard.
	Manual bool `json:"manual,omitempty"`
	// Schedules are cron schedules, each a Temporal Schedule.
	Schedules []Schedule `json:"schedules,omitempty"`
	Pos       Position   `json:"-"`
}

// PushTrigger filters pushes. Empty lists match anything.
type PushTrigger struct {
	// Branches are globs (path.Match syntax, "release/*", and "**" for
	// any depth) matched against the pushed branch.
	Branches []string `json:"branches,omitempty"`
	// Paths: the push runs the pipeline only when a changed file matches
	// one ("src/**", "*.go"); PathsIgnore: not when every changed file
	// matches one. A push whose changed files are unknown matches.
	Paths       []string `json:"paths,omitempty"`
	PathsIgnore []string `json:"paths_ignore,omitempty"`
}

// PullRequestTrigger filters pull requests.
type PullRequestTrigger struct {
	// Branches are globs matched against the target (base) branch.
	Branches []string `json:"branches,omitempty"`
	// Types are the actions that run the pipeline: opened, synchronized,
	// reopened (all three when empty).
	Types []string `json:"types,omitempty"`
	// Paths and PathsIgnore as for a push.
	Paths       []string `json:"paths,omitempty"`
	PathsIgnore []string `json:"paths_ignore,omitempty"`
}

// The pull request actions of PullRequestTrigger.Types and Event.Action.
const (
	ActionOpened       = "opened"
	ActionSynchronized = "synchronized"
	ActionReopened     = "reopened"
)

// TagTrigger filters pushed tags.
type TagTrigger struct {
	// Tags are globs ("v*"); empty matches every tag.
	Tags []string `json:"tags,omitempty"`
}

// Schedule is one `schedule` child of `on`.
type Schedule struct {
	// Name is unique in the pipeline: the node's name= or "schedule-N"
	// for the Nth schedule. It is part of the Temporal Schedule's ID.
	Name string `json:"name"`
	// Cron is a five-field cron expression ("0 3 * * *"), or one of
	// @hourly, @daily, @weekly, @monthly.
	Cron string `json:"cron"`
	// Timezone is an IANA zone name; "" is UTC.
	Timezone string `json:"timezone,omitempty"`
	// Branch is the branch the scheduled run builds; "" is the
	// repository's default branch (or none for a pipeline without one).
	Branch string `json:"branch,omitempty"`
	// Jitter delays each run by a random duration up to it.
	Jitter time.Duration `json:"jitter,omitempty"`
	// Overlap is what happens when a run is due while the previous one
	// still runs: OverlapSkip (the default), OverlapBufferOne or
	// OverlapCancelOther.
	Overlap string `json:"overlap,omitempty"`
	// Inputs are the values of the pipeline's inputs for scheduled runs.
	Inputs map[string]string `json:"inputs,omitempty"`
	Pos    Position          `json:"-"`
}

// The values of Schedule.Overlap.
const (
	OverlapSkip        = "skip"
	OverlapBufferOne   = "buffer-one"
	OverlapCancelOther = "cancel-other"
)

// Input is one entry of the `inputs` node: a value a manual (or scheduled)
// run is given.
//
//	inputs {
//	    environment type="choice" default="staging" { values "staging" "production"; }
//	    dry-run type="boolean" default=#false
//	    replicas type="number" required=#true description="how many"
//	    message                                  // a string, default ""
//	}
type Input struct {
	// Name: letters, digits, '-' and '_', starting with a letter.
	Name string `json:"name"`
	// Type is InputString (the default), InputBoolean, InputChoice or
	// InputNumber.
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// Default is the value when none is given; nil for none.
	Default *string `json:"default,omitempty"`
	// Required inputs without a default must be given.
	Required bool `json:"required,omitempty"`
	// Values are a choice's allowed values.
	Values []string `json:"values,omitempty"`
	Pos    Position `json:"-"`
}

// The values of Input.Type.
const (
	InputString  = "string"
	InputBoolean = "boolean"
	InputChoice  = "choice"
	InputNumber  = "number"
)

// Event is what happened, as triggers see it: what a webhook, a schedule
// or a manual start says about the run it asks for.
type Event struct {
	// Kind is push, pull_request, tag, manual or schedule (buildit.Event*).
	Kind string
	// Branch is the pushed branch or the pull request's head branch.
	Branch string
	// Base is a pull request's target branch.
	Base string
	// Tag is the pushed tag.
	Tag string
	// Action is the pull request's action (Action*).
	Action string
	// Changed are the paths the push or pull request changed; nil when
	// the forge did not say (every path filter then matches).
	Changed []string
}

// InputError says which input a run was given wrongly, or lacks. Its
// message is safe to show and names the input.
type InputError struct {
	Input string
	Msg   string
}

func (e *InputError) Error() string { return fmt.Sprintf("input %s: %s", e.Input, e.Msg) }

// Triggered reports whether ev starts a run of the plan under its `on`
// (or the default triggers when it has none).
func (p Plan) Triggered(ev Event) bool {
	panic("TODO(lang): Plan.Triggered")
}

// ResolveInputs checks given against the plan's inputs and returns the
// run's input values: every declared input, given or defaulted (a boolean
// as "true"/"false", a number in Go's shortest form). An undeclared,
// missing required or ill-typed value is an *InputError.
func (p Plan) ResolveInputs(given map[string]string) (map[string]string, error) {
	panic("TODO(lang): Plan.ResolveInputs")
}

// ApplyInputs replaces ${inputs.NAME} in the steps' image, run, env,
// services and deploy settings with the values (resolved by
// ResolveInputs), as ${matrix.NAME} is replaced when planning.
func (p *Plan) ApplyInputs(values map[string]string) {
	panic("TODO(lang): Plan.ApplyInputs")
}

// InputVar is the environment variable a stage sees input name as:
// BUILDIT_INPUT_ and the name in upper case with '-' as '_'.
func InputVar(name string) string {
	panic("TODO(lang): InputVar")
}

// SkipCI reports whether a commit message asks for no CI run: it holds
// [skip ci], [ci skip], [no ci], [skip buildit] or [buildit skip] (any
// case), or ***NO_CI***, as GitHub, GitLab and Woodpecker honour.
func SkipCI(message string) bool {
	panic("TODO(lang): SkipCI")
}

// ExpandGroup is the concurrency group of a run: Group with ${NAME}
// replaced by vars[NAME] (the run's BUILDIT_* variables and inputs, as
// `pr-${BUILDIT_PR}` needs) and ${inputs.NAME} by the input's value;
// unknown names become "".
func (c Concurrency) ExpandGroup(vars map[string]string) string {
	panic("TODO(lang): Concurrency.ExpandGroup")
}
