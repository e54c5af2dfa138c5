package buildit

// Trigger is what started a run: the event and the branch and commit it
// happened on. Stages' `when` conditions test it and every stage sees it as
// BUILDIT_BRANCH, BUILDIT_COMMIT and BUILDIT_EVENT.
//
// Workflow inputs embed it, so its fields stay at the input's top level in
// JSON (as they were before it existed).
type Trigger struct {
	Branch string `json:"branch,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Event is what happened: push, manual, schedule….
	Event string `json:"event,omitempty"`
}
