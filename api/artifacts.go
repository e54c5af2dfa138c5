package api

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/zstd"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/db"
)

// Artifacts and caches are found in the catalog by tenant and run (or
// pipeline): a name or key from the URL is only ever compared with
// catalog rows, never made into a path or a blob key.

func viewArtifact(a db.Artifact) apiview.Artifact {
	return apiview.Artifact{Name: a.Name, Stage: a.StageID, Size: a.Size, Digest: a.Digest, Files: a.Files,
		CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt}
}

func viewCache(e db.Cache) apiview.Cache {
	return apiview.Cache{Pipeline: e.Pipeline, Branch: e.Branch, Key: e.Key, Size: e.Size, Digest: e.Digest, Files: e.Files,
		CreatedAt: e.CreatedAt, LastUsedAt: e.LastUsedAt}
}

func (s *Server) listArtifacts(c *gin.Context) {
	_, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	rows, err := s.store.Artifacts().ListArtifacts(c, tenantOf(c).ID, r.ID.String())
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]apiview.Artifact, len(rows))
	for i, a := range rows {
		out[i] = viewArtifact(a)
	}
	ok(c, apiview.List[apiview.Artifact]{Items: out})
}

// errNoBlobStore answers the routes that read blobs on a server started
// without one.
var errNoBlobStore = errorf(http.StatusServiceUnavailable, CodeUnavailable, "this server has no artifact storage configured (--blob-url)")

// getArtifact streams an artifact's archive, or with ?path= one regular
// file from inside it.
//
// The blob store's reader checks the archive's size and digest as it is
// read and fails at its end on a mismatch. A status cannot change once the
// body has begun, so the body is written one buffer behind what was read:
// a corrupt archive's last buffer is never sent and the connection is
// dropped, so the client sees a body shorter than its Content-Length,
// never a complete wrong archive. With ?path= the file's bytes are sent as
// they are decompressed, its last buffer held back until the rest of the
// archive was read and checked. Either way the corruption is logged. Each
// write has Config.StreamWriteTimeout: a client that takes nothing for
// that long is cut off, however long the whole download takes.
func (s *Server) getArtifact(c *gin.Context) {
	_, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	a, err := s.store.Artifacts().GetArtifact(c, tenantOf(c).ID, r.ID, c.Param("name"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("artifact")
	}
	if err != nil {
		fail(c, err)
		return
	}
	if s.cfg.Blobs == nil {
		fail(c, errNoBlobStore)
		return
	}
	body, err := s.cfg.Blobs.Get(c, a.BlobKey, blobstore.Object{Key: a.BlobKey, Size: a.Size, Digest: a.Digest})
	if errors.Is(err, blobstore.ErrNotFound) {
		logger(c).Error("an artifact's blob is missing", "artifact", a.ID, "error", err)
		err = notFound("artifact")
	}
	if err != nil {
		fail(c, err)
		return
	}
	defer body.Close()
	log := logger(c).With("artifact", a.ID, "name", a.Name)
	if p, given := c.GetQuery("path"); given {
		s.sendArchivedFile(c, body, a, p)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "application/zstd")
	h.Set("Content-Disposition", contentDisposition(a.Name+".tar.zst"))
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	h.Set("Digest", digestHeader(a.Digest))
	h.Set("X-Checksum-Sha256", strings.TrimPrefix(a.Digest, "sha256:"))
	c.Status(http.StatusOK)
	out := stream(c, s.cfg.StreamWriteTimeout, time.Time{})
	if err := copyBehind(out, body, nil); err != nil {
		log.Error("streaming an artifact failed; the response was cut short", "error", err)
		out.Abort(c)
	}
}

// sendArchivedFile finds the regular file at p in the archive and streams
// it; 404 when the archive has none there.
func (s *Server) sendArchivedFile(c *gin.Context, body io.Reader, a db.Artifact, p string) {
	// body is read to its end before the file's last buffer goes, so that
	// the blob store's reader checks the whole archive.
	want := path.Clean("/" + strings.TrimPrefix(p, "./"))[1:]
	log := logger(c).With("artifact", a.ID, "name", a.Name)
	if p == "" || want == "" {
		fail(c, invalid("path must name a file in the artifact"))
		return
	}
	zr, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		fail(c, err)
		return
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			fail(c, notFound("file in the artifact"))
			return
		}
		if err != nil {
			log.Error("reading an artifact failed", "error", err)
			fail(c, errorf(http.StatusBadGateway, CodeInternal, "the artifact's archive is damaged"))
			return
		}
		if path.Clean("/" + hdr.Name)[1:] != want || hdr.Typeflag != tar.TypeReg {
			continue
		}
		h := c.Writer.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", contentDisposition(path.Base(want)))
		h.Set("Content-Length", strconv.FormatInt(hdr.Size, 10))
		c.Status(http.StatusOK)
		// Before the last buffer goes: read the rest of the archive, so
		// that the blob store's reader checks its size and digest.
		drain := func() error { _, err := io.Copy(io.Discard, body); return err }
		out := stream(c, s.cfg.StreamWriteTimeout, time.Time{})
		if err := copyBehind(out, tr, drain); err != nil {
			log.Error("streaming a file of an artifact failed; the response was cut short", "path", want, "error", err)
			out.Abort(c)
		}
		return
	}
}

// copyBehind copies r to w one buffer behind: a buffer is written only
// once the next read succeeded, and the last one once r ended cleanly and
// before (when not nil) said so too. On an error the last buffer is not
// written, and the error is returned.
func copyBehind(w io.Writer, r io.Reader, before func() error) error {
	bufs := [2][]byte{make([]byte, 256<<10), make([]byte, 256<<10)}
	var pending []byte
	for i := 0; ; i ^= 1 {
		n, err := io.ReadFull(r, bufs[i])
		if n > 0 || err == nil {
			if pending != nil {
				if _, werr := w.Write(pending); werr != nil {
					return werr
				}
			}
			pending = bufs[i][:n]
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if before != nil {
				if err := before(); err != nil {
					return err
				}
			}
			_, werr := w.Write(pending)
			return werr
		}
		if err != nil {
			return err
		}
	}
}

// contentDisposition is an attachment header for name, quoted for any
// character (RFC 6266 with RFC 5987's filename*).
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, pathEscapeAll(name))
}

func pathEscapeAll(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// digestHeader is RFC 3230's Digest for "sha256:<hex>": SHA-256=<base64>.
func digestHeader(d string) string {
	hexs, ok := strings.CutPrefix(d, "sha256:")
	raw, err := hex.DecodeString(hexs)
	if !ok || err != nil {
		return ""
	}
	return "SHA-256=" + base64.StdEncoding.EncodeToString(raw)
}

func (s *Server) listCaches(c *gin.Context) {
	p, err := s.pipelineOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	rows, err := s.store.Artifacts().ListCaches(c, tenantOf(c).ID, p.Name)
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]apiview.Cache, len(rows))
	for i, e := range rows {
		out[i] = viewCache(e)
	}
	ok(c, apiview.List[apiview.Cache]{Items: out})
}

// deleteCaches deletes a pipeline's cache entries under ?key= (every
// branch's), or all of them without it, and answers with what it deleted.
// The rows go first, in a transaction with the audit entry; their blobs
// are queued there too and deleted now, or else by the next sweep.
func (s *Server) deleteCaches(c *gin.Context) {
	p, err := s.pipelineOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	key := c.Query("key")
	if _, given := c.GetQuery("key"); given && key == "" {
		fail(c, invalid("key must not be empty; leave it out to delete every entry of the pipeline"))
		return
	}
	org, tenant := orgOf(c), tenantOf(c)
	var gone []db.Cache
	err = s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		gone, err = tx.Artifacts().DeleteCaches(c, db.CacheScope{TenantID: tenant.ID, Pipeline: p.Name}, key)
		if err == nil && key != "" && len(gone) == 0 {
			err = notFound("cache entry")
		}
		meta := map[string]any{"entries": len(gone)}
		if key != "" {
			meta["key"] = key
		}
		return auditEntry(c, org.ID, &tenant.ID, "cache.delete", "pipeline", p.Name, meta), err
	})
	if err != nil {
		fail(c, err)
		return
	}
	if s.cfg.Blobs != nil {
		// Best effort: what fails here stays queued for the sweeper.
		ctx := context.WithoutCancel(c)
		for _, e := range gone {
			if err := s.cfg.Blobs.Delete(ctx, e.BlobKey); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				logger(c).Warn("deleting a cache blob failed; the sweeper retries", "key", e.BlobKey, "error", err)
			}
		}
	}
	out := make([]apiview.Cache, len(gone))
	for i, e := range gone {
		out[i] = viewCache(e)
	}
	ok(c, apiview.List[apiview.Cache]{Items: out})
}

// artifactQuotaError is the 403 of a run start when the tenant keeps its
// plan's artifact storage already.
func artifactQuotaError(u db.ArtifactUsage) *Error {
	return errorf(http.StatusForbidden, CodePlanLimit, (&artifact.QuotaError{Plan: string(u.Plan), Limit: u.Limit, Used: u.Used}).Error()+
		"; delete old runs or wait for their artifacts to expire, or upgrade the organization's plan")
}
