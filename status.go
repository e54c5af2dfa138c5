package buildit

// RunStatus is the status of a whole run, as the workflow reports it and as
// the platform's database stores it.
type RunStatus string

// The run statuses. A run is queued until it starts (or waits for its
// concurrency group), waiting while it stands at an approval gate, and ends
// succeeded, failed or cancelled.
const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunWaiting   RunStatus = "waiting"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Valid reports whether s is one of the run statuses; values that come
// from outside (a stored row, a query parameter) are checked with it.
func (s RunStatus) Valid() bool {
	switch s {
	case RunQueued, RunRunning, RunWaiting, RunSucceeded, RunFailed, RunCancelled:
		return true
	}
	return false
}

// Terminal reports whether s is final: a run in it changes no more.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// StageStatus is the status of one stage instance (in the workflow) or of
// one attempt of it (in the platform's database).
type StageStatus string

// The stage statuses. A stage is pending until its needs have ended,
// waiting at an approval gate, and ends succeeded, failed, skipped (its
// `when` said no, or fail-fast) or cancelled.
const (
	StagePending   StageStatus = "pending"
	StageRunning   StageStatus = "running"
	StageWaiting   StageStatus = "waiting"
	StageSucceeded StageStatus = "succeeded"
	StageFailed    StageStatus = "failed"
	StageSkipped   StageStatus = "skipped"
	StageCancelled StageStatus = "cancelled"
)

// Valid reports whether s is one of the stage statuses; values that come
// from outside (a stored row, a record) are checked with it.
func (s StageStatus) Valid() bool {
	switch s {
	case StagePending, StageRunning, StageWaiting, StageSucceeded, StageFailed, StageSkipped, StageCancelled:
		return true
	}
	return false
}

// Terminal reports whether s is final: the stage's dependents may then be
// decided.
func (s StageStatus) Terminal() bool {
	switch s {
	case StageSucceeded, StageFailed, StageSkipped, StageCancelled:
		return true
	}
	return false
}
