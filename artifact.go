package buildit

// Artifact is an archive a stage kept after an attempt, in the blob store:
// what a run's later stages restore, what a rerun reuses and what people
// download. Workflows carry it (it is small: names, a key and a digest,
// never the contents).
type Artifact struct {
	// Name is the artifact's name, unique in its run.
	Name string `json:"name"`
	// Stage is the step ID of the stage that made it.
	Stage string `json:"stage"`
	// RunID is the run that made it (its workflow's run ID).
	RunID string `json:"run_id"`
	// Key is the archive's key in the blob store.
	Key string `json:"key"`
	// Size and Digest ("sha256:<hex>") are the archive's, as stored;
	// restoring checks both.
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
	// Files counts the files, links and folders in it.
	Files int `json:"files"`
}
