package localrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// BlobURLEnv names the environment variable that chooses a local run's
// blob store when --blob-url does not.
const BlobURLEnv = "BUILDIT_BLOB_URL"

// DefaultBlobURL is where local runs keep artifacts and caches: a folder
// under the user's cache folder (~/.cache/buildit/blobs on Linux).
func DefaultBlobURL() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no folder for the blob store (set --blob-url or %s): %w", BlobURLEnv, err)
	}
	return "file://" + filepath.Join(dir, "buildit", "blobs"), nil
}

// OpenArtifacts opens the blob store at url ("" is $BUILDIT_BLOB_URL,
// then DefaultBlobURL) with the catalog kept in it: what local runs and
// `buildit cache` use.
func OpenArtifacts(ctx context.Context, url string) (*artifact.Service, error) {
	if url == "" {
		url = os.Getenv(BlobURLEnv)
	}
	if url == "" {
		var err error
		if url, err = DefaultBlobURL(); err != nil {
			return nil, err
		}
	}
	store, err := blobstore.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return &artifact.Service{Store: store, Catalog: artifact.NewBlobCatalog(store)}, nil
}

// planKeepsAnything reports whether a stage of the plan has artifacts or
// caches.
func planKeepsAnything(p *pipeline.Plan) bool {
	for _, st := range p.Steps {
		if len(st.Artifacts) > 0 || len(st.Cache) > 0 {
			return true
		}
	}
	return false
}

// extractArtifacts unpacks every artifact the run kept into
// dir/<run-id>/<name>/ and answers with dir/<run-id>, or "" when the run
// kept none.
func extractArtifacts(ctx context.Context, svc *artifact.Service, state workflows.RunState, runID, dir string) (string, error) {
	out := filepath.Join(dir, runID)
	n := 0
	var errs []error
	for _, st := range state.Stages {
		for _, a := range st.Artifacts {
			if a.RunID != runID {
				continue
			}
			to := filepath.Join(out, folderName(a.Name))
			r, err := svc.Store.Get(ctx, a.Key, blobstore.Object{Size: a.Size, Digest: a.Digest})
			if err == nil {
				_, err = archive.Unpack(ctx, r, []archive.Tree{{Dir: to}})
				r.Close()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("artifact %s: %w", a.Name, err))
				continue
			}
			n++
		}
	}
	if n == 0 {
		return "", errors.Join(errs...)
	}
	return out, errors.Join(errs...)
}

// folderName is an artifact's name as one folder's name (a matrix value
// may hold a slash).
func folderName(name string) string {
	name = strings.NewReplacer("/", "_", `\`, "_").Replace(name)
	if name == "." || name == ".." {
		name = "_"
	}
	return name
}
