package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/localrun"
)

func newRunsArtifactsCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "artifacts PIPELINE NUMBER",
		Short: "The artifacts a run's stages kept",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := f.runTarget(cmd, args)
			if err != nil {
				return err
			}
			as, err := s.c.Artifacts(cmd.Context(), s.scope, args[0], n)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(as)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTAGE\tSIZE\tFILES\tCREATED\tEXPIRES")
			for _, x := range as {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", x.Name, x.Stage, artifact.FormatBytes(x.Size), x.Files,
					x.CreatedAt.Local().Format(time.DateTime), x.ExpiresAt.Local().Format(time.DateOnly))
			}
			return tw.Flush()
		},
	}
}

func newRunsDownloadCommand(a *app, f *remoteFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "download PIPELINE NUMBER [NAME]",
		Short: "Download a run's artifacts (all, or the one named), each unpacked into DIR/NAME/",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := f.runTarget(cmd, args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			as, err := s.c.Artifacts(ctx, s.scope, args[0], n)
			if err != nil {
				return apiError(err)
			}
			if len(args) == 3 {
				var one []apiview.Artifact
				for _, x := range as {
					if x.Name == args[2] {
						one = append(one, x)
						break
					}
				}
				if len(one) == 0 {
					return usageError(fmt.Errorf("run %d of %s has no artifact %q", n, args[0], args[2]))
				}
				as = one
			}
			if len(as) == 0 {
				fmt.Fprintf(a.stdout, "run %d of %s kept no artifacts\n", n, args[0])
				return nil
			}
			for _, x := range as {
				dir, err := artifactDir(out, x.Name)
				if err != nil {
					return err
				}
				d, err := s.c.DownloadArtifact(ctx, s.scope, args[0], n, x.Name)
				if err != nil {
					return apiError(err)
				}
				st, err := unpackChecked(ctx, d.Body, d.Digest, dir)
				d.Body.Close()
				if err != nil {
					return &ExitError{Code: ExitFailed, Err: fmt.Errorf("artifact %s: %w", x.Name, err)}
				}
				fmt.Fprintf(a.stdout, "%s: %d files, %s, into %s\n", x.Name, st.Files, artifact.FormatBytes(x.Size), dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", ".", "unpack into this `DIR`, each artifact in a folder of its name")
	return cmd
}

// artifactDir is where artifact name is unpacked under out. A name that is
// not one plain path element (a server's answer is not trusted to be) is
// refused.
func artifactDir(out, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || !filepath.IsLocal(name) {
		return "", fmt.Errorf("artifact name %q cannot be a folder name", name)
	}
	abs, err := filepath.Abs(filepath.Join(out, name))
	if err != nil {
		return "", err
	}
	return abs, nil
}

// unpackChecked unpacks an archive from r into dir, streaming, and checks
// its sha256 against digest ("sha256:<hex>") when given.
func unpackChecked(ctx context.Context, r io.Reader, digest, dir string) (archive.Stats, error) {
	h := sha256.New()
	st, err := archive.Unpack(ctx, io.TeeReader(r, h), []archive.Tree{{Dir: dir}})
	if err != nil {
		return st, err
	}
	if digest != "" && digest != sum(h) {
		return st, fmt.Errorf("the download does not match its digest %s (got %s): the files in %s are not to be trusted", digest, sum(h), dir)
	}
	return st, nil
}

func sum(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// cacheFlags are buildit cache's: remote (as the other remote commands),
// or --local against the local blob store.
type cacheFlags struct {
	remote  remoteFlags
	local   bool
	blobURL string
}

// openLocal opens the blob store of local runs and the catalog kept in
// it, as buildit run does (localrun.OpenArtifacts).
func (f *cacheFlags) openLocal(ctx context.Context) (*blobstore.Store, artifact.Catalog, error) {
	svc, err := localrun.OpenArtifacts(ctx, f.blobURL)
	if err != nil {
		return nil, nil, usageError(fmt.Errorf("--blob-url: %w", err))
	}
	return svc.Store, svc.Catalog, nil
}

func newCacheCommand(a *app) *cobra.Command {
	f := &cacheFlags{}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List and delete a pipeline's caches, on the server or (--local) of local runs",
	}
	f.remote.add(cmd)
	pf := cmd.PersistentFlags()
	pf.BoolVar(&f.local, "local", false, "the caches of local runs (buildit run), in the local blob store, instead of the server's")
	pf.StringVar(&f.blobURL, "blob-url", "", "with --local: the blob store (env BUILDIT_BLOB_URL; default: a folder under the user's cache folder, as buildit run)")
	cmd.AddCommand(newCacheListCommand(a, f), newCacheDeleteCommand(a, f))
	return cmd
}

func newCacheListCommand(a *app, f *cacheFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list [PIPELINE]",
		Short: "A pipeline's cache entries, most recently used first (every pipeline's with --local and no PIPELINE)",
		Args:  cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pipeline := ""
			if len(args) == 1 {
				pipeline = args[0]
			}
			var cs []apiview.Cache
			if f.local {
				store, cat, err := f.openLocal(ctx)
				if err != nil {
					return err
				}
				defer store.Close()
				es, err := cat.Caches(ctx, artifact.Scope{Tenant: artifact.LocalTenant}, pipeline)
				if err != nil {
					return &ExitError{Code: ExitFailed, Err: err}
				}
				cs = viewEntries(es)
			} else {
				if pipeline == "" {
					return usageError(errors.New("which pipeline? buildit cache list PIPELINE"))
				}
				s, err := f.remote.connect(ctx, true)
				if err != nil {
					return err
				}
				if cs, err = s.c.Caches(ctx, s.scope, pipeline); err != nil {
					return apiError(err)
				}
			}
			if f.remote.json {
				return a.printJSON(cs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PIPELINE\tBRANCH\tKEY\tSIZE\tFILES\tLAST USED")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", c.Pipeline, c.Branch, c.Key, artifact.FormatBytes(c.Size), c.Files, c.LastUsedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
}

func newCacheDeleteCommand(a *app, f *cacheFlags) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "delete PIPELINE",
		Short: "Delete a pipeline's cache entries under --key (on every branch), or all of them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var gone []apiview.Cache
			if f.local {
				store, cat, err := f.openLocal(ctx)
				if err != nil {
					return err
				}
				defer store.Close()
				es, err := cat.DeleteCache(ctx, artifact.CacheScope{Tenant: artifact.LocalTenant, Pipeline: args[0]}, key)
				if err != nil {
					return &ExitError{Code: ExitFailed, Err: err}
				}
				for _, e := range es {
					if err := store.Delete(ctx, e.BlobKey); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
						return &ExitError{Code: ExitFailed, Err: fmt.Errorf("delete the blob of cache %s: %w", e.Key, err)}
					}
				}
				gone = viewEntries(es)
			} else {
				s, err := f.remote.connect(ctx, true)
				if err != nil {
					return err
				}
				if gone, err = s.c.DeleteCaches(ctx, s.scope, args[0], key); err != nil {
					return apiError(err)
				}
			}
			if f.remote.json {
				return a.printJSON(gone)
			}
			var total int64
			for _, c := range gone {
				total += c.Size
			}
			fmt.Fprintf(a.stdout, "deleted %d cache entries of %s (%s)\n", len(gone), args[0], artifact.FormatBytes(total))
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "only the entries under this key")
	return cmd
}

func viewEntries(es []artifact.CacheEntry) []apiview.Cache {
	out := make([]apiview.Cache, len(es))
	for i, e := range es {
		out[i] = apiview.Cache{Pipeline: e.Pipeline, Branch: e.Branch, Key: e.Key, Size: e.Size, Digest: e.Digest, Files: e.Files,
			CreatedAt: e.Created, LastUsedAt: e.LastUsed}
	}
	return out
}
