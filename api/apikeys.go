package api

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/api/auth"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

func (s *Server) listAPIKeys(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	org := orgOf(c)
	page, err := s.store.APIKeys().List(c, org.ID, db.APIKeyFilter{IncludeRevoked: c.Query("revoked") == "true"}, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	slugs := map[uuid.UUID]string{}
	out := apiview.List[apiview.APIKey]{Items: make([]apiview.APIKey, 0, len(page.Items)), Next: page.Next}
	for _, k := range page.Items {
		slug := ""
		if k.TenantID != nil {
			if slug = slugs[*k.TenantID]; slug == "" {
				t, err := s.store.Tenants().GetByID(c, org.ID, *k.TenantID)
				if err != nil {
					fail(c, err)
					return
				}
				slug, slugs[t.ID] = t.Slug, t.Slug
			}
		}
		out.Items = append(out.Items, viewAPIKey(k, slug))
	}
	ok(c, out)
}

type apiKeyRequest struct {
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Tenant    string     `json:"tenant"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// createAPIKey makes a key; its secret is in this response and nowhere
// else, ever.
func (s *Server) createAPIKey(c *gin.Context) {
	var req apiKeyRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := checkName("name", req.Name); err != nil {
		fail(c, err)
		return
	}
	if len(req.Scopes) == 0 {
		fail(c, invalid("scopes is required: one or more of "+strings.Join(Scopes, ", ")))
		return
	}
	scopes := []string{}
	for _, sc := range req.Scopes {
		if !slices.Contains(Scopes, sc) {
			fail(c, invalid("unknown scope "+strconvQuote(sc)+"; scopes are "+strings.Join(Scopes, ", ")))
			return
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(s.now()) {
		fail(c, invalid("expires_at must be in the future"))
		return
	}
	org, p := orgOf(c), principalOf(c)
	var tenantID *uuid.UUID
	if req.Tenant != "" {
		if slices.Contains(scopes, ScopeOrgAdmin) {
			fail(c, invalid("a key scoped to one tenant cannot have org:admin"))
			return
		}
		t, err := s.store.Tenants().Get(c, org.ID, req.Tenant)
		if errors.Is(err, db.ErrNotFound) {
			fail(c, invalid("the organization has no tenant "+strconvQuote(req.Tenant)))
			return
		}
		if err != nil {
			fail(c, err)
			return
		}
		tenantID = &t.ID
	}
	expires := req.ExpiresAt
	if p.key != nil {
		within, err := p.keyWithin(scopes, expires)
		if err != nil {
			fail(c, err)
			return
		}
		expires = within
	}
	// The new key belongs to the user the request acts for: made by a
	// key, to that key's creator, so that it stops working with theirs.
	creator := p.actsFor()
	nk := auth.NewAPIKey()
	var k db.APIKey
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		in := db.NewAPIKey{OrgID: org.ID, TenantID: tenantID, Name: strings.TrimSpace(req.Name), Prefix: nk.Prefix, SecretHash: nk.Hash,
			Scopes: scopes, CreatedBy: &creator, ExpiresAt: expires}
		var err error
		k, err = tx.APIKeys().Create(c, in)
		return auditEntry(c, org.ID, tenantID, "api_key.create", "api_key", k.ID.String(), map[string]any{"name": in.Name, "prefix": nk.Prefix, "scopes": scopes, "created_by": creator}), err
	})
	if err != nil {
		fail(c, err)
		return
	}
	v := viewAPIKey(k, req.Tenant)
	v.Secret = nk.Key
	created(c, v)
}

// keyWithin checks a key that p's key makes against p's key: the new key
// holds no scope the maker lacks and expires no later (with no expiry
// asked, it takes the maker's); a tenant key makes none. It returns the
// new key's expiry.
func (p principal) keyWithin(scopes []string, expires *time.Time) (*time.Time, error) {
	if p.key.TenantID != nil {
		return nil, forbidden("a tenant-scoped key cannot make keys")
	}
	for _, sc := range scopes {
		if !p.has(sc) {
			return nil, forbidden("an API key makes keys only with scopes it holds itself; it lacks " + sc)
		}
	}
	if limit := p.key.ExpiresAt; limit != nil {
		if expires == nil {
			return limit, nil
		}
		if expires.After(*limit) {
			return nil, invalid("expires_at must be no later than the expiry of the key that makes it, " + limit.UTC().Format(time.RFC3339))
		}
	}
	return expires, nil
}

func (s *Server) revokeAPIKey(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, notFound("API key"))
		return
	}
	org := orgOf(c)
	err = s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		k, err := tx.APIKeys().Revoke(c, org.ID, id)
		return auditEntry(c, org.ID, k.TenantID, "api_key.revoke", "api_key", id.String(), map[string]any{"prefix": k.Prefix}), err
	})
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("API key")
	}
	if err != nil {
		fail(c, err)
		return
	}
	noContent(c)
}
