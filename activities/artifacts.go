package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// ErrTypeArtifacts marks a stage attempt failed by its artifacts: a path
// it promised is missing, or an artifact it needs is corrupt or gone.
// Temporal does not retry it (the stage's own `retry` still applies).
const ErrTypeArtifacts = "ArtifactError"

// DefaultBranch is the branch whose caches a run on another branch reads
// after its own (it writes only its own branch's).
const DefaultBranch = "main"

// present is what this process knows to be in a workspace already: the
// artifacts a stage kept there or a restore put there. A stage skips
// restoring those (a local run's stages share one workspace; so do the
// stages of a server-mode run on the host that prepared it).
// CleanupWorkspace forgets a workspace; another host, or this one after a
// restart, knows nothing and restores everything.
type present struct {
	mu sync.Mutex
	m  map[string]map[string]bool // workspace → artifact key+digest
}

func presentKey(a buildit.Artifact) string { return a.Key + "\x00" + a.Digest }

func (p *present) has(ws string, a buildit.Artifact) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[ws][presentKey(a)]
}

func (p *present) add(ws string, a buildit.Artifact) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]map[string]bool{}
	}
	if p.m[ws] == nil {
		p.m[ws] = map[string]bool{}
	}
	p.m[ws][presentKey(a)] = true
}

func (p *present) forget(ws string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, ws)
}

// stageStore is one attempt's use of the artifact service.
type stageStore struct {
	svc   *artifact.Service
	known *present
	scope artifact.Scope
	cache artifact.CacheRun
	ws    artifact.Workspace
	in    workflows.StageInput
	sink  executor.LogSink
	// states are the caches as restored, for the save.
	states []artifact.CacheState
}

func usesArtifacts(in workflows.StageInput) bool {
	return len(in.Step.Artifacts) > 0 || len(in.Step.Cache) > 0 || len(in.Restore) > 0
}

func usesHome(st pipeline.Step) bool {
	for _, c := range st.Cache {
		for _, p := range c.Paths {
			if p == "~" || strings.HasPrefix(p, "~/") {
				return true
			}
		}
	}
	return false
}

// newStageStore sets up what the attempt's artifacts and caches need: its
// tenant, its home (for a container stage with "~/..." caches, a folder
// of the run's own, mounted as its HOME) and who owns what is restored.
func (a *Stages) newStageStore(in workflows.StageInput, spec *executor.Spec, onHost bool, sink executor.LogSink) (*stageStore, error) {
	if a.Artifacts == nil {
		return nil, fmt.Errorf("stage %q has artifacts or caches, but this worker has no blob store to keep them in", in.Step.ID)
	}
	tenant := artifact.LocalTenant
	if in.Record != nil {
		tenant = in.Record.TenantID
	}
	ws := artifact.Workspace{Dir: in.Workspace}
	if usesHome(in.Step) {
		switch {
		case spec.Home != "":
			ws.Home = spec.Home
		case onHost:
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("stage %q caches ~ paths, but: %w", in.Step.ID, err)
			}
			ws.Home = home
		default:
			home, err := runHomeDir(in)
			if err != nil {
				return nil, err
			}
			spec.Home, ws.Home = home, home
		}
	}
	if onHost && spec.User != nil {
		ws.Owner = &archive.Owner{UID: int(spec.User.UID), GID: int(spec.User.GID)}
	}
	return &stageStore{
		svc:   a.Artifacts,
		known: a.present,
		scope: artifact.Scope{Tenant: tenant},
		cache: artifact.CacheRun{
			Scope:         artifact.CacheScope{Tenant: tenant, Pipeline: in.Pipeline, Branch: in.Branch},
			DefaultBranch: DefaultBranch,
			Vars:          in.Vars(),
		},
		ws:   ws,
		in:   in,
		sink: sink,
	}, nil
}

// runHomeDir is the home folder of a run's container stages: the run
// folder's (server mode), or one under the system's temp dir named by a
// hash of the run's ID.
func runHomeDir(in workflows.StageInput) (string, error) {
	if dir := runDirOf(in.Workspace); dir != "" {
		return filepath.Join(dir, runHome), nil
	}
	home := tempHome(in.RunID)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", fmt.Errorf("the stage's home: %w", err)
	}
	return home, nil
}

func tempHome(runID string) string {
	h := sha256.Sum256([]byte(runID))
	return filepath.Join(os.TempDir(), "buildit-homes", hex.EncodeToString(h[:8]))
}

// RemoveRunHome removes the home folder that the container stages of a
// run without a prepared workspace (a local run) had, if any.
func RemoveRunHome(runID string) error {
	return os.RemoveAll(tempHome(runID))
}

func (s *stageStore) log(line string) {
	s.sink.WriteLine(s.in.Step.ID, executor.Stderr, line)
}

// artifactError fails the attempt for good with msg, said in its log.
func (s *stageStore) artifactError(msg string) error {
	s.log("buildit: " + msg)
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeArtifacts, nil)
}

// restore puts the artifacts of the stages before, then the caches, into
// the workspace. A corrupt or missing artifact fails the attempt; caches
// never do.
func (s *stageStore) restore(ctx context.Context) error {
	for _, a := range s.in.Restore {
		if s.known.has(s.ws.Dir, a) {
			continue
		}
		ev, err := s.svc.RestoreArtifact(ctx, s.scope, a, s.ws)
		switch {
		case errors.Is(err, blobstore.ErrCorrupt) || errors.Is(err, blobstore.ErrNotFound):
			return s.artifactError(err.Error())
		case err != nil:
			s.log("buildit: " + err.Error())
			return err
		}
		s.known.add(s.ws.Dir, a)
		s.log(ev.String())
	}
	var events []artifact.Event
	s.states, events = s.svc.RestoreCaches(ctx, s.cache, s.in.Step, s.ws)
	for _, ev := range events {
		s.log(ev.String())
	}
	return nil
}

// save keeps the attempt's artifacts (by their `when`) and, after a
// success, its caches. A missing path of a successful attempt fails it.
func (s *stageStore) save(ctx context.Context, ok bool) ([]buildit.Artifact, error) {
	kept, events, err := s.svc.SaveArtifacts(ctx, s.scope, s.in.RunID, s.in.Step, s.ws, ok)
	for _, ev := range events {
		s.log(ev.String())
	}
	for _, a := range kept {
		s.known.add(s.ws.Dir, a)
	}
	var missing *artifact.MissingError
	var quota *artifact.QuotaError
	switch {
	case errors.As(err, &missing):
		return kept, s.artifactError(err.Error())
	case errors.As(err, &quota):
		// Retrying would only run the stage again into the same wall.
		return kept, s.artifactError(quota.Error())
	case err != nil:
		s.log("buildit: " + err.Error())
		return kept, err
	}
	if ok {
		for _, ev := range s.svc.SaveCaches(ctx, s.cache, s.in.Step, s.ws, s.states) {
			s.log(ev.String())
		}
	}
	return kept, nil
}
