package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

// The JSON shapes the API answers with. Generated or store types never go
// out as they are: these say exactly what a client sees.

type userView struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func viewUser(u db.User) userView {
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt}
}

type orgView struct {
	ID        uuid.UUID  `json:"id"`
	Slug      string     `json:"slug"`
	Name      string     `json:"name"`
	Plan      db.Plan    `json:"plan"`
	Role      db.OrgRole `json:"role,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

func viewOrg(o db.Organization, role db.OrgRole) orgView {
	return orgView{ID: o.ID, Slug: o.Slug, Name: o.Name, Plan: o.Plan, Role: role, CreatedAt: o.CreatedAt}
}

type memberView struct {
	UserID    uuid.UUID `json:"user_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

func viewOrgMember(m db.OrgMembership) memberView {
	return memberView{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), CreatedAt: m.CreatedAt}
}

func viewTenantMember(m db.TenantMembership) memberView {
	return memberView{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), CreatedAt: m.CreatedAt}
}

type tenantView struct {
	ID        uuid.UUID     `json:"id"`
	Slug      string        `json:"slug"`
	Name      string        `json:"name"`
	Role      db.TenantRole `json:"role,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

func viewTenant(t db.Tenant, role db.TenantRole) tenantView {
	return tenantView{ID: t.ID, Slug: t.Slug, Name: t.Name, Role: role, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

type apiKeyView struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	Tenant     string     `json:"tenant,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Secret is the whole key, in the create response only.
	Secret string `json:"secret,omitempty"`
}

func viewAPIKey(k db.APIKey, tenantSlug string) apiKeyView {
	return apiKeyView{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, Tenant: tenantSlug,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

type pipelineView struct {
	Name      string          `json:"name"`
	Source    string          `json:"source,omitempty"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	Version   int             `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// viewPipeline shows a pipeline; lists leave out the source and plan.
func viewPipeline(p db.Pipeline, full bool) pipelineView {
	v := pipelineView{Name: p.Name, Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if full {
		v.Source, v.Plan = p.Source, p.Plan
	}
	return v
}

type secretView struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewSecret(m db.SecretMeta) secretView {
	return secretView{Name: m.Name, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

type auditView struct {
	ID          int64          `json:"id"`
	Tenant      *uuid.UUID     `json:"tenant_id,omitempty"`
	ActorUser   *uuid.UUID     `json:"actor_user_id,omitempty"`
	ActorAPIKey *uuid.UUID     `json:"actor_api_key_id,omitempty"`
	Action      string         `json:"action"`
	TargetType  string         `json:"target_type"`
	TargetID    string         `json:"target_id"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	IP          string         `json:"ip,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
}

func viewAudit(e db.AuditEntry) auditView {
	v := auditView{ID: e.ID, Tenant: e.TenantID, ActorUser: e.ActorUserID, ActorAPIKey: e.ActorAPIKeyID,
		Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, Metadata: e.Metadata, CreatedAt: e.CreatedAt}
	if e.IP.IsValid() {
		v.IP = e.IP.String()
	}
	return v
}

// list is the shape of every list answer: a page of items and the cursor
// of the next page (absent on the last).
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func listOf[S, T any](p db.Page[S], view func(S) T) list[T] {
	out := list[T]{Items: make([]T, 0, len(p.Items)), Next: p.Next}
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
