package pipeline

// TargetKind is the kind of platform a deployment target deploys to: what
// a pipeline's `target` names with kind=, what the API stores for a
// tenant's targets, and what picks the deploy backend.
type TargetKind string

// The target kinds.
const (
	TargetKubernetes TargetKind = "kubernetes"
	TargetFly        TargetKind = "fly"
)

// Valid reports whether k is one of the target kinds; values that come
// from outside (a pipeline's source, a request, a stored row) are checked
// with it.
func (k TargetKind) Valid() bool { return k == TargetKubernetes || k == TargetFly }
