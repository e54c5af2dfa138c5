package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// The JSON shapes the API answers with are apiview's, shared with the
// client. Generated or store types never go out as they are: these
// functions map them to exactly what a client sees.

func viewUser(u db.User) apiview.User {
	return apiview.User{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt}
}

func viewOrg(o db.Organization, role db.OrgRole) apiview.Org {
	return apiview.Org{ID: o.ID, Slug: o.Slug, Name: o.Name, Plan: string(o.Plan), Role: string(role), CreatedAt: o.CreatedAt}
}

func viewOrgMember(m db.OrgMembership) apiview.Member {
	return apiview.Member{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), CreatedAt: m.CreatedAt}
}

func viewTenantMember(m db.TenantMembership) apiview.Member {
	return apiview.Member{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), CreatedAt: m.CreatedAt}
}

func viewTenant(t db.Tenant, role db.TenantRole) apiview.Tenant {
	return apiview.Tenant{ID: t.ID, Slug: t.Slug, Name: t.Name, Role: string(role), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		ArtifactRetentionDays: t.ArtifactRetentionDays}
}

func viewAPIKey(k db.APIKey, tenantSlug string) apiview.APIKey {
	return apiview.APIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, Tenant: tenantSlug,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// viewPipeline shows a pipeline; lists leave out the source and plan.
func viewPipeline(p db.Pipeline, full bool) apiview.Pipeline {
	v := apiview.Pipeline{Name: p.Name, Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, RepositoryPath: p.RepositoryPath}
	if p.RepositoryID != nil {
		v.RepositoryID = p.RepositoryID.String()
	}
	if full {
		v.Source, v.Plan = p.Source, p.Plan
	}
	return v
}

func viewSecret(m db.SecretMeta) apiview.Secret {
	return apiview.Secret{Name: m.Name, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func viewAudit(e db.AuditEntry) apiview.Audit {
	v := apiview.Audit{ID: e.ID, Tenant: e.TenantID, ActorUser: e.ActorUserID, ActorAPIKey: e.ActorAPIKeyID,
		Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, Metadata: e.Metadata, CreatedAt: e.CreatedAt}
	if e.IP.IsValid() {
		v.IP = e.IP.String()
	}
	return v
}

func listOf[S, T any](p db.Page[S], view func(S) T) apiview.List[T] {
	out := apiview.List[T]{Items: make([]T, 0, len(p.Items)), Next: p.Next}
	for _, it := range p.Items {
		out.Items = append(out.Items, view(it))
	}
	return out
}

// paging reads ?after= and ?limit= (1 to db.MaxPageSize).
func paging(c *gin.Context) (after string, limit int, err error) {
	after = c.Query("after")
	if l := c.Query("limit"); l != "" {
		n, perr := strconv.Atoi(l)
		if perr != nil || n < 1 || n > db.MaxPageSize {
			return "", 0, badRequest("limit must be a whole number from 1 to " + strconv.Itoa(db.MaxPageSize))
		}
		limit = n
	}
	return after, limit, nil
}

func ok(c *gin.Context, v any)      { c.JSON(http.StatusOK, v) }
func created(c *gin.Context, v any) { c.JSON(http.StatusCreated, v) }
func noContent(c *gin.Context)      { c.Status(http.StatusNoContent) }
