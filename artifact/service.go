package artifact

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/pipeline"
)

// Workspace is where a stage's artifacts and caches go: its workspace,
// its home (for a cache's "~/..." paths; "" when it has none) and who
// owns what is restored (nil: this process's user).
type Workspace struct {
	Dir   string
	Home  string
	Owner *archive.Owner
}

// Event is one thing that happened to an artifact or a cache, for the
// stage's log: its String is the line.
type Event struct {
	// What happened: "saved", "restored", "hit", "miss", "skipped",
	// "corrupt" or "failed".
	What string
	// Kind is "artifact" or "cache".
	Kind string
	// Name is the artifact's name or the cache's key.
	Name string
	// Detail adds to the line (the key restored instead, an error).
	Detail string
	Files  int
	Bytes  int64
	Took   time.Duration
}

// String is the event's line in the stage's log.
func (e Event) String() string {
	var b strings.Builder
	b.WriteString("buildit: ")
	switch e.What {
	case "saved", "restored":
		fmt.Fprintf(&b, "%s %s %s (%s, %s) in %s", e.What, e.Kind, e.Name, files(e.Files), byteSize(e.Bytes), e.Took.Round(time.Millisecond))
	case "hit":
		fmt.Fprintf(&b, "cache hit: %s (%s, %s) in %s", e.Name, files(e.Files), byteSize(e.Bytes), e.Took.Round(time.Millisecond))
	case "miss":
		fmt.Fprintf(&b, "cache miss: %s", e.Name)
	default:
		fmt.Fprintf(&b, "%s %s %s", e.Kind, e.Name, e.What)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

func files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// MissingError reports an artifact whose paths matched nothing.
type MissingError struct {
	Artifact string
	Paths    []string
}

// Error names the artifact and its missing paths.
func (e *MissingError) Error() string {
	return fmt.Sprintf("artifact %s: no such file or folder in the workspace: %s (mark it optional=#true to skip missing paths)", e.Artifact, strings.Join(e.Paths, ", "))
}

// pack streams an archive of trees into the blob key.
func (s *Service) pack(ctx context.Context, key string, trees []archive.Tree) (blobstore.Object, archive.Stats, error) {
	pr, pw := io.Pipe()
	var st archive.Stats
	done := make(chan error, 1)
	go func() {
		var err error
		st, err = archive.Pack(ctx, pw, trees)
		pw.CloseWithError(err)
		done <- err
	}()
	obj, err := s.Store.Put(ctx, key, pr)
	pr.CloseWithError(errors.New("put ended"))
	if perr := <-done; perr != nil {
		return obj, st, perr
	}
	return obj, st, err
}

// unpack streams the blob key, checked against want, into trees.
func (s *Service) unpack(ctx context.Context, key string, want blobstore.Object, trees []archive.Tree) (archive.Stats, error) {
	r, err := s.Store.Get(ctx, key, want)
	if err != nil {
		return archive.Stats{}, err
	}
	defer r.Close()
	st, err := archive.Unpack(ctx, r, trees)
	if err != nil && ctx.Err() == nil {
		// A corrupt blob often breaks the archive before its end, where
		// the blob store checks it: read on, so that it is reported as
		// what it is.
		if _, derr := io.Copy(io.Discard, r); errors.Is(derr, blobstore.ErrCorrupt) {
			return st, fmt.Errorf("%w (%w)", derr, err)
		}
	}
	return st, err
}

// SaveArtifacts keeps step's artifacts after an attempt that succeeded
// (ok) or failed, by their `when`, and records them in the catalog. A
// non-optional path that matches nothing is a *MissingError after a
// successful attempt, and only an event after a failed one (the attempt
// failed already).
func (s *Service) SaveArtifacts(ctx context.Context, scope Scope, runID string, step pipeline.Step, ws Workspace, ok bool) ([]buildit.Artifact, []Event, error) {
	if err := CheckID(scope.Tenant); err != nil {
		return nil, nil, err
	}
	var kept []buildit.Artifact
	var events []Event
	for _, spec := range step.Artifacts {
		if !spec.KeepsAfter(ok) {
			continue
		}
		start := time.Now()
		key := ArtifactKey(scope, runID, step.ID, spec.Name)
		obj, st, err := s.pack(ctx, key, []archive.Tree{{Dir: ws.Dir, Paths: spec.Paths, Optional: spec.Optional}})
		var missing *archive.MissingError
		if errors.As(err, &missing) {
			merr := &MissingError{Artifact: spec.Name, Paths: missing.Paths}
			if ok {
				return kept, events, merr
			}
			events = append(events, Event{What: "not saved", Kind: "artifact", Name: spec.Name, Detail: merr.Error()})
			continue
		}
		if err != nil {
			return kept, events, fmt.Errorf("save artifact %s: %w", spec.Name, err)
		}
		a := buildit.Artifact{Name: spec.Name, Stage: step.ID, RunID: runID, Key: key, Size: obj.Size, Digest: obj.Digest, Files: st.Files}
		if err := s.Catalog.AddArtifact(ctx, scope, a); err != nil {
			// Unrecorded, the blob would be kept for nobody (over the
			// plan's quota, say): it goes.
			if derr := s.Store.Delete(context.WithoutCancel(ctx), key); derr != nil {
				err = errors.Join(err, derr)
			}
			return kept, events, fmt.Errorf("record artifact %s: %w", spec.Name, err)
		}
		kept = append(kept, a)
		events = append(events, Event{What: "saved", Kind: "artifact", Name: spec.Name, Files: st.Files, Bytes: st.Bytes, Took: time.Since(start)})
	}
	return kept, events, nil
}

// RestoreArtifact unpacks one artifact into the workspace, checking its
// size and digest: a corrupt one is an error that names it (what was
// written before the check failed at the end stays).
func (s *Service) RestoreArtifact(ctx context.Context, scope Scope, a buildit.Artifact, ws Workspace) (Event, error) {
	if err := CheckID(scope.Tenant); err != nil {
		return Event{}, err
	}
	if !strings.HasPrefix(a.Key, TenantPrefix(scope.Tenant)) {
		return Event{}, fmt.Errorf("artifact %s is not the tenant's", a.Name)
	}
	start := time.Now()
	st, err := s.unpack(ctx, a.Key, blobstore.Object{Size: a.Size, Digest: a.Digest}, []archive.Tree{{Dir: ws.Dir, Owner: ws.Owner}})
	if err != nil {
		return Event{}, fmt.Errorf("restore artifact %s (from stage %s): %w", a.Name, a.Stage, err)
	}
	return Event{What: "restored", Kind: "artifact", Name: a.Name, Files: st.Files, Bytes: st.Bytes, Took: time.Since(start)}, nil
}

// CacheState is what RestoreCaches learnt of one of the step's caches,
// for SaveCaches: its key as expanded and whether an entry had it.
type CacheState struct {
	Index int    `json:"index"`
	Key   string `json:"key"`
	Hit   bool   `json:"hit"`
}

// CacheRun is one stage attempt's view of the caches: where its entries
// are read and written.
type CacheRun struct {
	// Scope is the run's own: its tenant, pipeline and branch; entries
	// are written there only.
	Scope CacheScope
	// DefaultBranch is read after Scope's branch misses ("" or the
	// branch itself: none).
	DefaultBranch string
	// Vars expand ${NAME} in keys.
	Vars map[string]string
}

// RestoreCaches restores step's caches into ws: for each, the entry with
// its exact key, else the newest whose key starts with a restore-keys
// prefix, in the run's branch, then in the default branch. Nothing here
// fails the stage: a cache that cannot be restored (a corrupt blob is
// deleted with its entry) is a miss, said in an event. Each cache is
// unpacked into a staging folder and moved into place once the whole
// archive was read and checked.
func (s *Service) RestoreCaches(ctx context.Context, cr CacheRun, step pipeline.Step, ws Workspace) ([]CacheState, []Event) {
	var states []CacheState
	var events []Event
	for i, c := range step.Cache {
		key, prefixes, err := cacheKeys(c, step, cr.Vars, ws.Dir)
		if err != nil {
			events = append(events, Event{What: "skipped", Kind: "cache", Name: c.Key, Detail: err.Error()})
			continue
		}
		states = append(states, CacheState{Index: i, Key: key})
		if err := CheckID(cr.Scope.Tenant); err != nil {
			events = append(events, Event{What: "skipped", Kind: "cache", Name: key, Detail: err.Error()})
			continue
		}
		ev := s.restoreCache(ctx, cr, c, key, prefixes, ws)
		states[len(states)-1].Hit = ev.What == "hit" && ev.Detail == ""
		events = append(events, ev)
	}
	return states, events
}

func (s *Service) restoreCache(ctx context.Context, cr CacheRun, c pipeline.Cache, key string, prefixes []string, ws Workspace) Event {
	scopes := []CacheScope{cr.Scope}
	if cr.DefaultBranch != "" && cr.DefaultBranch != cr.Scope.Branch {
		d := cr.Scope
		d.Branch = cr.DefaultBranch
		scopes = append(scopes, d)
	}
	start := time.Now()
	for _, sc := range scopes {
		e, err := s.Catalog.FindCache(ctx, sc, key, prefixes)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Event{What: "miss", Kind: "cache", Name: key, Detail: "the catalog failed: " + err.Error()}
		}
		if !strings.HasPrefix(e.BlobKey, TenantPrefix(cr.Scope.Tenant)) {
			return Event{What: "miss", Kind: "cache", Name: key, Detail: "the entry is not the tenant's"}
		}
		st, err := s.restoreCacheEntry(ctx, c, e, ws)
		if err != nil {
			detail := err.Error()
			if errors.Is(err, blobstore.ErrCorrupt) || errors.Is(err, blobstore.ErrNotFound) {
				if _, derr := s.Catalog.DeleteCache(ctx, e.CacheScope, e.Key); derr == nil {
					_ = s.Store.Delete(ctx, e.BlobKey)
				}
				detail = fmt.Sprintf("entry %s is unusable and was deleted (%v); running as on a miss", e.Key, err)
			}
			return Event{What: "miss", Kind: "cache", Name: key, Detail: detail}
		}
		ev := Event{What: "hit", Kind: "cache", Name: key, Files: st.Files, Bytes: st.Bytes, Took: time.Since(start)}
		if e.Key != key || sc.Branch != cr.Scope.Branch {
			ev.Detail = "restored " + e.Key
			if sc.Branch != cr.Scope.Branch {
				ev.Detail += " of branch " + sc.Branch
			}
		}
		return ev
	}
	return Event{What: "miss", Kind: "cache", Name: key}
}

// cacheTrees are a cache's paths as archive trees: "w" in the workspace,
// "h" in the home.
func cacheTrees(c pipeline.Cache, ws Workspace) ([]archive.Tree, error) {
	w := archive.Tree{Prefix: "w", Dir: ws.Dir, Optional: true, Owner: ws.Owner}
	h := archive.Tree{Prefix: "h", Dir: ws.Home, Optional: true, Owner: ws.Owner}
	for _, p := range c.Paths {
		if p == "~" || strings.HasPrefix(p, "~/") {
			rel := strings.TrimPrefix(strings.TrimPrefix(p, "~"), "/")
			if rel == "" {
				rel = "."
			}
			h.Paths = append(h.Paths, rel)
			continue
		}
		w.Paths = append(w.Paths, p)
	}
	var trees []archive.Tree
	if len(w.Paths) > 0 {
		trees = append(trees, w)
	}
	if len(h.Paths) > 0 {
		if ws.Home == "" {
			return nil, errors.New("the stage has no home folder for ~ paths")
		}
		trees = append(trees, h)
	}
	return trees, nil
}

// restoreCacheEntry unpacks e into staging folders beside the targets and
// moves what they hold into place once the archive is read and checked.
func (s *Service) restoreCacheEntry(ctx context.Context, c pipeline.Cache, e CacheEntry, ws Workspace) (archive.Stats, error) {
	trees, err := cacheTrees(c, ws)
	if err != nil {
		return archive.Stats{}, err
	}
	staged := make([]archive.Tree, len(trees))
	for i, t := range trees {
		if err := os.MkdirAll(t.Dir, 0o755); err != nil {
			return archive.Stats{}, err
		}
		dir, err := os.MkdirTemp(t.Dir, ".buildit-cache-")
		if err != nil {
			return archive.Stats{}, err
		}
		defer os.RemoveAll(dir)
		staged[i] = t
		staged[i].Dir = dir
	}
	st, err := s.unpack(ctx, e.BlobKey, blobstore.Object{Size: e.Size, Digest: e.Digest}, staged)
	if err != nil {
		return st, err
	}
	for i, t := range trees {
		if err := moveInto(t.Dir, filepath.Base(staged[i].Dir)); err != nil {
			return st, fmt.Errorf("move the restored cache into place: %w", err)
		}
	}
	return st, nil
}

// moveInto moves everything in dst's folder staging into dst, merging
// folders that exist in both and replacing the rest; it works through an
// os.Root on dst, so that a link planted in dst takes nothing outside.
func moveInto(dst, staging string) error {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	var move func(rel string) error
	move = func(rel string) error {
		entries, err := fs.ReadDir(root.FS(), filepath.ToSlash(filepath.Join(staging, rel)))
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := filepath.Join(rel, e.Name())
			fi, err := root.Lstat(name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				return err
			case e.IsDir() && fi.IsDir():
				if err := move(name); err != nil {
					return err
				}
				continue
			case fi.IsDir():
				if err := root.RemoveAll(name); err != nil {
					return err
				}
			}
			if err := root.Rename(filepath.Join(staging, name), name); err != nil {
				return err
			}
		}
		return nil
	}
	return move(".")
}

// SaveCaches saves, after a successful attempt, each cache whose exact key
// missed (entries are immutable): streamed into a blob of its own,
// recorded, and the tenant's caches evicted down to CacheMaxBytes.
func (s *Service) SaveCaches(ctx context.Context, cr CacheRun, step pipeline.Step, ws Workspace, states []CacheState) []Event {
	var events []Event
	saved := false
	for _, cs := range states {
		if cs.Hit || cs.Index >= len(step.Cache) {
			continue
		}
		ev := s.saveCache(ctx, cr.Scope, step.Cache[cs.Index], cs.Key, ws)
		saved = saved || ev.What == "saved"
		events = append(events, ev)
	}
	if saved {
		limit := s.CacheMaxBytes
		if limit <= 0 {
			limit = DefaultCacheMaxBytes
		}
		evicted, err := s.Catalog.EvictCaches(ctx, Scope{Tenant: cr.Scope.Tenant}, limit)
		for _, e := range evicted {
			_ = s.Store.Delete(ctx, e.BlobKey)
			events = append(events, Event{What: "evicted", Kind: "cache", Name: e.Key, Detail: "least recently used, over the limit of " + byteSize(limit)})
		}
		if err != nil {
			events = append(events, Event{What: "not evicted", Kind: "cache", Name: "entries", Detail: err.Error()})
		}
	}
	return events
}

func (s *Service) saveCache(ctx context.Context, sc CacheScope, c pipeline.Cache, key string, ws Workspace) Event {
	fail := func(err error) Event {
		return Event{What: "not saved", Kind: "cache", Name: key, Detail: err.Error()}
	}
	if err := CheckID(sc.Tenant); err != nil {
		return fail(err)
	}
	trees, err := cacheTrees(c, ws)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	var unique [16]byte
	_, _ = rand.Read(unique[:])
	blobKey := CacheBlobKey(sc, key, hex.EncodeToString(unique[:]))
	obj, st, err := s.pack(ctx, blobKey, trees)
	if err != nil {
		_ = s.Store.Delete(ctx, blobKey)
		return fail(err)
	}
	if st.Files == 0 {
		_ = s.Store.Delete(ctx, blobKey)
		return fail(fmt.Errorf("none of its paths exist (%s)", strings.Join(c.Paths, ", ")))
	}
	now := time.Now().UTC()
	added, err := s.Catalog.AddCache(ctx, CacheEntry{CacheScope: sc, Key: key, BlobKey: blobKey, Size: obj.Size, Digest: obj.Digest, Files: st.Files, Created: now, LastUsed: now})
	if err != nil || !added {
		_ = s.Store.Delete(ctx, blobKey)
		if err != nil {
			return fail(err)
		}
		return Event{What: "not saved", Kind: "cache", Name: key, Detail: "another run saved this key first"}
	}
	return Event{What: "saved", Kind: "cache", Name: key, Files: st.Files, Bytes: st.Bytes, Took: time.Since(start)}
}

// cacheKeys expands a cache's key (the stage's name when it has none) and
// restore-keys.
func cacheKeys(c pipeline.Cache, step pipeline.Step, vars map[string]string, dir string) (string, []string, error) {
	raw := c.Key
	if raw == "" {
		raw = step.Stage
	}
	hash := func(globs []string) (string, error) { return HashFiles(dir, globs) }
	expand := func(s string) (string, error) {
		k, err := pipeline.ParseCacheKey(s)
		if err != nil {
			return "", err
		}
		return k.Expand(vars, hash)
	}
	key, err := expand(raw)
	if err != nil {
		return "", nil, err
	}
	if key == "" {
		return "", nil, errors.New("the key is empty once expanded")
	}
	var prefixes []string
	for _, rk := range c.RestoreKeys {
		p, err := expand(rk)
		if err != nil {
			return "", nil, err
		}
		if p != "" {
			prefixes = append(prefixes, p)
		}
	}
	return key, prefixes, nil
}

// HashFiles is hashFiles(globs...): the hex sha256 over the paths
// (relative, with slashes) and contents of the regular files under dir
// that the globs match, in path order; "" when none match. Links are not
// followed; .git and .buildit (where buildit run unpacks artifacts) are
// not looked into.
func HashFiles(dir string, globs []string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	var names []string
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (name == ".git" || name == ".buildit" || strings.HasPrefix(d.Name(), ".buildit-cache-")) {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		for _, g := range globs {
			if archive.Match(g, name) {
				names = append(names, name)
				break
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashFiles: %w", err)
	}
	if len(names) == 0 {
		return "", nil
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		f, err := root.Open(n)
		if err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		fmt.Fprintf(h, "%s\x00", n)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hashFiles %s: %w", n, err)
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
