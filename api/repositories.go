package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/forge"
)

// pipelinesPathRE is a directory inside a repository.
var pipelinesPathRE = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)

// repositoryRequest is the body of POST and PATCH …/repositories.
type repositoryRequest struct {
	Forge         *string `json:"forge"`
	URL           *string `json:"url"`
	TokenSecret   *string `json:"token_secret"`
	PipelinesPath *string `json:"pipelines_path"`
	ForkSecrets   *bool   `json:"fork_secrets"`
	APIURL        *string `json:"api_url"`
}

// webhookURL is where the forge sends repo's webhooks.
func (s *Server) webhookURL(r db.Repository) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/api/v1/hooks/" + r.Forge + "/" + r.ID.String()
}

func (s *Server) viewRepository(r db.Repository) apiview.Repository {
	return apiview.Repository{
		ID: r.ID.String(), Forge: r.Forge, URL: r.URL, APIURL: r.APIURL, TokenSecret: r.TokenSecret,
		PipelinesPath: r.PipelinesPath, ForkSecrets: r.ForkSecrets, DefaultBranch: r.DefaultBranch,
		WebhookURL: s.webhookURL(r), CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
	}
}

// normalizeRepositoryURL is the form a connected repository's URL is
// stored and compared in: an http(s) URL without credentials, query,
// trailing slash or .git, its scheme and host in lower case.
func normalizeRepositoryURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", invalid("url must be the repository's https:// clone or web URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", invalid("url must not hold credentials, a query or a fragment: the token goes in token_secret")
	}
	p := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), ".git")
	if strings.Trim(p, "/") == "" {
		return "", invalid("url must name a repository: https://HOST/OWNER/NAME")
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + p, nil
}

// checkRepositoryPatch checks the settings a create or an update sets.
func (s *Server) checkRepositorySettings(c *gin.Context, tenantID uuid.UUID, req repositoryRequest) error {
	if req.TokenSecret != nil {
		if !secretNameRE.MatchString(*req.TokenSecret) {
			return invalid("token_secret must name a tenant secret")
		}
		if _, err := s.store.Tenants().GetSecret(c, tenantID, *req.TokenSecret); err != nil {
			if errors.Is(err, db.ErrNotFound) {
				return invalid("token_secret names no secret of this tenant: create it first (PUT …/secrets/" + *req.TokenSecret + ")")
			}
			return err
		}
	}
	if req.PipelinesPath != nil {
		p := strings.Trim(*req.PipelinesPath, "/")
		if !pipelinesPathRE.MatchString(p) || slicesDots(p) || len(p) > 512 {
			return invalid("pipelines_path must be a directory inside the repository, like .buildit")
		}
		*req.PipelinesPath = p
	}
	if req.APIURL != nil && *req.APIURL != "" {
		u, err := url.Parse(*req.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return invalid("api_url must be the forge's API base URL, like https://git.example.com/api/v1")
		}
		if err := s.cfg.Repositories.Check(*req.APIURL); err != nil {
			return err
		}
	}
	return nil
}

func slicesDots(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == "." || part == ".." {
			return true
		}
	}
	return false
}

// newWebhookSecret is 32 random bytes, hex.
func newWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func repositoryError(err error) error {
	switch {
	case errors.Is(err, db.ErrNotFound):
		return notFound("repository")
	case errors.Is(err, db.ErrConflict):
		return conflict("this tenant has connected that repository already")
	case errors.Is(err, db.ErrNoSecretKey):
		return errNoSecretKey
	}
	return err
}

func (s *Server) createRepository(c *gin.Context) {
	var req repositoryRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Forge == nil || req.URL == nil || req.TokenSecret == nil {
		fail(c, invalid("forge, url and token_secret are required"))
		return
	}
	kind, err := forge.ParseKind(*req.Forge)
	if err != nil {
		fail(c, invalid(err.Error()))
		return
	}
	u, err := normalizeRepositoryURL(*req.URL)
	if err != nil {
		fail(c, err)
		return
	}
	if err := s.cfg.Repositories.Check(u); err != nil {
		fail(c, err)
		return
	}
	org, t := orgOf(c), tenantOf(c)
	if err := s.checkRepositorySettings(c, t.ID, req); err != nil {
		fail(c, err)
		return
	}
	n := db.NewRepository{Forge: string(kind), URL: u, TokenSecret: *req.TokenSecret, CreatedBy: actorName(c), WebhookSecret: newWebhookSecret()}
	if req.PipelinesPath != nil {
		n.PipelinesPath = *req.PipelinesPath
	}
	if req.ForkSecrets != nil {
		n.ForkSecrets = *req.ForkSecrets
	}
	if req.APIURL != nil {
		n.APIURL = strings.TrimRight(*req.APIURL, "/")
	}
	var repo db.Repository
	err = s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		repo, err = tx.Repositories().Create(c, t.ID, n)
		return auditEntry(c, org.ID, &t.ID, "repository.connect", "repository", repo.ID.String(),
			map[string]any{"forge": n.Forge, "url": n.URL, "fork_secrets": n.ForkSecrets}), err
	})
	if err != nil {
		fail(c, repositoryError(err))
		return
	}
	v := s.viewRepository(repo)
	v.WebhookSecret = n.WebhookSecret
	created(c, v)
}

func (s *Server) listRepositories(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Repositories().List(c, tenantOf(c).ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, s.viewRepository))
}

// repositoryID is the :id of the route; not a UUID is a 404, as one of
// another tenant.
func repositoryID(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, notFound("repository"))
		return uuid.Nil, false
	}
	return id, true
}

func (s *Server) getRepository(c *gin.Context) {
	id, okID := repositoryID(c)
	if !okID {
		return
	}
	r, err := s.store.Repositories().Get(c, tenantOf(c).ID, id)
	if err != nil {
		fail(c, repositoryError(err))
		return
	}
	ok(c, s.viewRepository(r))
}

func (s *Server) updateRepository(c *gin.Context) {
	id, okID := repositoryID(c)
	if !okID {
		return
	}
	var req repositoryRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Forge != nil || req.URL != nil {
		fail(c, invalid("a repository's forge and url do not change: connect the other repository"))
		return
	}
	org, t := orgOf(c), tenantOf(c)
	if err := s.checkRepositorySettings(c, t.ID, req); err != nil {
		fail(c, err)
		return
	}
	if req.APIURL != nil {
		trimmed := strings.TrimRight(*req.APIURL, "/")
		req.APIURL = &trimmed
	}
	var repo db.Repository
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		repo, err = tx.Repositories().Update(c, t.ID, id, db.RepositoryPatch{
			TokenSecret: req.TokenSecret, PipelinesPath: req.PipelinesPath, APIURL: req.APIURL, ForkSecrets: req.ForkSecrets,
		})
		meta := map[string]any{}
		if req.ForkSecrets != nil {
			meta["fork_secrets"] = *req.ForkSecrets
		}
		if req.TokenSecret != nil {
			meta["token_secret"] = *req.TokenSecret
		}
		return auditEntry(c, org.ID, &t.ID, "repository.update", "repository", id.String(), meta), err
	})
	if err != nil {
		fail(c, repositoryError(err))
		return
	}
	ok(c, s.viewRepository(repo))
}

// rotateRepositorySecret gives the repository a new webhook secret,
// shown in this answer only; the forge's webhook must be given it.
func (s *Server) rotateRepositorySecret(c *gin.Context) {
	if err := bindOptional(c, &struct{}{}); err != nil {
		fail(c, err)
		return
	}
	id, okID := repositoryID(c)
	if !okID {
		return
	}
	org, t := orgOf(c), tenantOf(c)
	secret := newWebhookSecret()
	var repo db.Repository
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		repo, err = tx.Repositories().SetWebhookSecret(c, t.ID, id, secret)
		return auditEntry(c, org.ID, &t.ID, "repository.rotate_secret", "repository", id.String(), nil), err
	})
	if err != nil {
		fail(c, repositoryError(err))
		return
	}
	v := s.viewRepository(repo)
	v.WebhookSecret = secret
	ok(c, v)
}

func (s *Server) deleteRepository(c *gin.Context) {
	id, okID := repositoryID(c)
	if !okID {
		return
	}
	org, t := orgOf(c), tenantOf(c)
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		return auditEntry(c, org.ID, &t.ID, "repository.disconnect", "repository", id.String(), nil), tx.Repositories().Delete(c, t.ID, id)
	})
	if err != nil {
		fail(c, repositoryError(err))
		return
	}
	noContent(c)
}
