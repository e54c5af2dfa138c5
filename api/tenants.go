package api

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// listTenants lists the tenants the caller can see: all of them for org
// owners, admins and org-wide keys; the ones they belong to for members.
func (s *Server) listTenants(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	p, org := principalOf(c), orgOf(c)
	switch {
	case p.key != nil && p.key.TenantID != nil:
		t, err := s.store.Tenants().GetByID(c, org.ID, *p.key.TenantID)
		if err != nil {
			fail(c, err)
			return
		}
		ok(c, apiview.List[apiview.Tenant]{Items: []apiview.Tenant{viewTenant(t, "")}})
	case p.key != nil || orgRank[orgRoleOf(c)] >= orgRank[db.OrgRoleAdmin]:
		role := db.TenantRoleAdmin
		if p.key != nil {
			role = ""
		}
		page, err := s.store.Tenants().List(c, org.ID, after, limit)
		if err != nil {
			fail(c, err)
			return
		}
		ok(c, listOf(page, func(t db.Tenant) apiview.Tenant { return viewTenant(t, role) }))
	default:
		page, err := s.store.Tenants().ListForMember(c, org.ID, p.user.ID, after, limit)
		if err != nil {
			fail(c, err)
			return
		}
		ok(c, listOf(page, func(t db.MemberTenant) apiview.Tenant { return viewTenant(t.Tenant, t.Role) }))
	}
}

type tenantRequest struct {
	Name *string `json:"name"`
	Slug *string `json:"slug"`
	// ArtifactRetentionDays is taken by PATCH only.
	ArtifactRetentionDays *int `json:"artifact_retention_days"`
}

func (s *Server) createTenant(c *gin.Context) {
	var req tenantRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Name == nil {
		fail(c, invalid("name is required"))
		return
	}
	if err := checkName("name", *req.Name); err != nil {
		fail(c, err)
		return
	}
	given := ""
	if req.Slug != nil {
		given = *req.Slug
	}
	slug, err := slugFor("slug", given, *req.Name)
	if err != nil {
		fail(c, err)
		return
	}
	org := orgOf(c)
	var t db.Tenant
	err = s.changeOrg(c, func(tx *db.Tx) (db.AuditEntry, error) {
		err := checkPlanLimit(org, "tenants", limitsOf[org.Plan].Tenants, func() (int, error) {
			return tx.Tenants().Count(c, org.ID)
		})
		if err != nil {
			return db.AuditEntry{}, err
		}
		t, err = tx.Tenants().Create(c, org.ID, db.NewTenant{Slug: slug, Name: strings.TrimSpace(*req.Name)})
		return auditEntry(c, org.ID, &t.ID, "tenant.create", "tenant", slug, nil), err
	})
	if errors.Is(err, db.ErrConflict) {
		err = conflict("the organization has a tenant with slug " + slug + " already")
	}
	if err != nil {
		fail(c, err)
		return
	}
	created(c, viewTenant(t, db.TenantRoleAdmin))
}

func (s *Server) getTenant(c *gin.Context) {
	ok(c, viewTenant(tenantOf(c), tenantRoleOf(c)))
}

func (s *Server) updateTenant(c *gin.Context) {
	var req tenantRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	patch := db.TenantPatch{}
	if req.Name != nil {
		if err := checkName("name", *req.Name); err != nil {
			fail(c, err)
			return
		}
		n := strings.TrimSpace(*req.Name)
		patch.Name = &n
	}
	if req.Slug != nil {
		if err := checkSlug("slug", *req.Slug); err != nil {
			fail(c, err)
			return
		}
		patch.Slug = req.Slug
	}
	if d := req.ArtifactRetentionDays; d != nil {
		if *d < 1 || *d > 400 {
			fail(c, invalid("artifact_retention_days must be 1 to 400"))
			return
		}
		patch.ArtifactRetentionDays = d
	}
	org, t := orgOf(c), tenantOf(c)
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		meta := map[string]any{}
		if req.Name != nil {
			meta["name"] = *patch.Name
		}
		if req.Slug != nil {
			meta["slug"] = *req.Slug
		}
		if req.ArtifactRetentionDays != nil {
			meta["artifact_retention_days"] = *req.ArtifactRetentionDays
		}
		t, err = tx.Tenants().Update(c, org.ID, t.ID, patch)
		return auditEntry(c, org.ID, &t.ID, "tenant.update", "tenant", t.Slug, meta), err
	})
	if errors.Is(err, db.ErrConflict) {
		err = conflict("the organization has a tenant with that slug already")
	}
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, viewTenant(t, db.TenantRoleAdmin))
}

func (s *Server) deleteTenant(c *gin.Context) {
	org, t := orgOf(c), tenantOf(c)
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		// The entry names the tenant by slug: its id goes with it.
		return auditEntry(c, org.ID, nil, "tenant.delete", "tenant", t.Slug, map[string]any{"id": t.ID}), tx.Tenants().Delete(c, org.ID, t.ID)
	})
	if err != nil {
		fail(c, err)
		return
	}
	noContent(c)
}

func (s *Server) listTenantMembers(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Tenants().ListMembers(c, tenantOf(c).ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, viewTenantMember))
}

// addTenantMember gives a member of the organization a role in the tenant
// (or changes it).
func (s *Server) addTenantMember(c *gin.Context) {
	var req memberRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	role := db.TenantRole(req.Role)
	if req.Role == "" {
		role = db.TenantRoleMember
	}
	if !role.Valid() {
		fail(c, invalid("role must be admin, member or viewer"))
		return
	}
	user, err := s.userByRef(c, req.Email, req.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	org, t := orgOf(c), tenantOf(c)
	if _, err := s.store.Organizations().GetMember(c, org.ID, user.ID); errors.Is(err, db.ErrNotFound) {
		fail(c, invalid("that user is not a member of the organization; add them there first"))
		return
	} else if err != nil {
		fail(c, err)
		return
	}
	var m db.TenantMembership
	err = s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		m, err = tx.Tenants().AddMember(c, t.ID, user.ID, role)
		return auditEntry(c, org.ID, &t.ID, "tenant_member.add", "user", user.ID.String(), map[string]any{"role": role}), err
	})
	if errors.Is(err, db.ErrConflict) {
		err = conflict("that user is a member of the tenant already")
	}
	if err != nil {
		fail(c, err)
		return
	}
	created(c, viewTenantMember(m))
}
