// Package buildit is BuildIt's run vocabulary: the words every side of a
// run shares — the workflows that drive it, the activities and workers that
// do its work, the database that records it, the API and the CLI that show
// it. Each is declared here once, so that no package keeps its own copy in
// step with another by string casts.
//
// It imports only the standard library, so that anything of ours may import
// it. The JSON names of its types are part of the workflows' wire format
// (recorded histories must still replay): they do not change.
package buildit
