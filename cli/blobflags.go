package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/workerstore"
)

// blobFlags say where artifacts and caches are kept: --blob-url, and for
// workers --cache-max-size.
type blobFlags struct {
	url          string
	cacheMaxSize byteSize
	// envErr is a BUILDIT_CACHE_MAX_SIZE that is not a size, said at
	// start rather than ignored.
	envErr error
}

// defaultServerBlobDir is where buildit server and buildit worker keep
// blobs without --blob-url: one folder of the user's cache dir, so that a
// server and workers on one host share it with no setting. Several hosts
// need a store they all reach (s3://, gs://, azblob://).
func defaultServerBlobDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "buildit", "server-blobs")
}

// register adds --blob-url (defaulting to the folder def) and, with
// cacheMax, --cache-max-size.
func (f *blobFlags) register(cmd *cobra.Command, def string, cacheMax bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "blob-url", env("BUILDIT_BLOB_URL", ""), "blob store of artifacts and caches: file://DIR, s3://BUCKET?region=…, gs://BUCKET or azblob://CONTAINER (env BUILDIT_BLOB_URL; default file://"+def+"); a server and workers on several hosts need one store they all reach, such as s3://")
	f.url = orDefault(f.url, "file://"+def)
	if cacheMax {
		f.cacheMaxSize = byteSize(artifact.DefaultCacheMaxBytes)
		if v := os.Getenv("BUILDIT_CACHE_MAX_SIZE"); v != "" {
			if err := f.cacheMaxSize.Set(v); err != nil {
				f.envErr = fmt.Errorf("BUILDIT_CACHE_MAX_SIZE: %w", err)
			}
		}
		fl.Var(&f.cacheMaxSize, "cache-max-size", "most bytes of caches a tenant keeps; the least recently used go first (env BUILDIT_CACHE_MAX_SIZE)")
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// check reports a bad setting from the environment, before anything starts.
func (f *blobFlags) check() error {
	if f.envErr != nil {
		return usageError(f.envErr)
	}
	return nil
}

// open opens the blob store, saying where it is (its URL redacted).
func (f *blobFlags) open(ctx context.Context, log *slog.Logger) (*blobstore.Store, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	s, err := blobstore.Open(ctx, f.url)
	if err != nil {
		return nil, usageError(fmt.Errorf("--blob-url %s: %w", blobstore.Redact(f.url), err))
	}
	log.Info("blob store for artifacts and caches", "url", blobstore.Redact(f.url))
	return s, nil
}

// setArtifacts gives a server-mode worker's stages their artifact service:
// the blob store and, with a database, its catalog.
func (f *blobFlags) setArtifacts(acts *activities.Activities, blobs *blobstore.Store, store *db.Store) {
	if blobs == nil || store == nil {
		return
	}
	acts.Stages.Artifacts = &artifact.Service{Store: blobs, Catalog: workerstore.Catalog{Store: store}, CacheMaxBytes: int64(f.cacheMaxSize)}
}
