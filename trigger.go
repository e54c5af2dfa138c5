package buildit

import "strconv"

// Trigger is what started a run: the event and the branch and commit it
// happened on, and for events from a forge what the forge told (the tag,
// the pull request, the head commit's author and message). Stages' `when`
// conditions test it and every stage sees it as BUILDIT_* variables (see
// workflows.StageInput.Vars).
//
// Workflow inputs embed it, so its fields stay at the input's top level in
// JSON (as they were before it existed); every field added since is
// omitempty, so the inputs of older histories decode unchanged.
type Trigger struct {
	// Branch is the branch the run builds: the pushed branch, or a pull
	// request's head (source) branch. Empty for a tag.
	Branch string `json:"branch,omitempty"`
	// Commit is the commit the run checks out.
	Commit string `json:"commit,omitempty"`
	// Event is what happened: push, pull_request, tag, manual, schedule,
	// api (see the Event* constants).
	Event string `json:"event,omitempty"`
	// Tag is the pushed tag's name (event tag).
	Tag string `json:"tag,omitempty"`
	// PR is the pull request's number (event pull_request).
	PR int `json:"pr,omitempty"`
	// Base is a pull request's target branch.
	Base string `json:"base,omitempty"`
	// Action is what happened to the pull request: opened, synchronized,
	// reopened.
	Action string `json:"action,omitempty"`
	// Fork reports a pull request whose head is in another repository:
	// its run gets no tenant secrets unless the repository allows them.
	Fork bool `json:"fork,omitempty"`
	// Author and Message are the head commit's author and message, as
	// the forge gave them.
	Author  string `json:"author,omitempty"`
	Message string `json:"message,omitempty"`
	// Schedule names the pipeline schedule that started the run (event
	// schedule).
	Schedule string `json:"schedule,omitempty"`
}

// The events of Trigger.Event.
const (
	EventPush        = "push"
	EventPullRequest = "pull_request"
	EventTag         = "tag"
	EventManual      = "manual"
	EventSchedule    = "schedule"
	// EventAPI is a run started through the API without naming an event.
	EventAPI = "api"
)

// Vars are the BUILDIT_* variables of the trigger every stage sees:
// BUILDIT_EVENT, BUILDIT_BRANCH and BUILDIT_COMMIT always (empty when
// unknown), and BUILDIT_TAG, BUILDIT_PR, BUILDIT_BASE_BRANCH,
// BUILDIT_PR_ACTION, BUILDIT_AUTHOR, BUILDIT_COMMIT_MESSAGE and
// BUILDIT_SCHEDULE when the trigger has them.
func (t Trigger) Vars() map[string]string {
	v := map[string]string{
		"BUILDIT_EVENT":  t.Event,
		"BUILDIT_BRANCH": t.Branch,
		"BUILDIT_COMMIT": t.Commit,
	}
	set := func(k, s string) {
		if s != "" {
			v[k] = s
		}
	}
	set("BUILDIT_TAG", t.Tag)
	if t.PR > 0 {
		v["BUILDIT_PR"] = strconv.Itoa(t.PR)
	}
	set("BUILDIT_BASE_BRANCH", t.Base)
	set("BUILDIT_PR_ACTION", t.Action)
	set("BUILDIT_AUTHOR", t.Author)
	set("BUILDIT_COMMIT_MESSAGE", t.Message)
	set("BUILDIT_SCHEDULE", t.Schedule)
	return v
}
