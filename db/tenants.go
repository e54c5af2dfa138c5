package db

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// TenantRole is a user's role in a tenant.
type TenantRole string

// The tenant roles, from most to least powerful.
const (
	TenantRoleAdmin  TenantRole = "admin"
	TenantRoleMember TenantRole = "member"
	TenantRoleViewer TenantRole = "viewer"
)

// Valid reports whether r is one of the tenant roles.
func (r TenantRole) Valid() bool {
	switch r {
	case TenantRoleAdmin, TenantRoleMember, TenantRoleViewer:
		return true
	}
	return false
}

// Tenant is a workspace of an organization: it holds pipelines, runs,
// secrets and everything about deployments.
type Tenant struct {
	ID        uuid.UUID
	OrgID     uuid.UUID
	Slug      string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ArtifactRetentionDays is how long the tenant's artifacts are kept
	// (1 to 400 days; 30 by default). A change applies to artifacts kept
	// afterwards.
	ArtifactRetentionDays int
}

// NewTenant is what Create needs.
type NewTenant struct {
	Slug string
	Name string
}

// TenantPatch changes the fields that are not nil.
type TenantPatch struct {
	Slug                  *string
	Name                  *string
	ArtifactRetentionDays *int
}

// MemberTenant is a tenant as one of its members sees it.
type MemberTenant struct {
	Tenant
	Role TenantRole
}

// TenantMembership is a user's membership of a tenant, with the user's
// email and name for listing.
type TenantMembership struct {
	TenantID  uuid.UUID
	UserID    uuid.UUID
	Role      TenantRole
	Email     string
	Name      string
	CreatedAt time.Time
}

// TenantRepo holds tenants, their memberships and their secrets.
type TenantRepo struct{ h handle }

// Create creates a tenant in orgID. A slug taken in the organization is an
// ErrConflict.
func (r TenantRepo) Create(ctx context.Context, orgID uuid.UUID, t NewTenant) (Tenant, error) {
	row, err := r.h.q.CreateTenant(ctx, sqlcdb.CreateTenantParams{OrgID: orgID, Slug: t.Slug, Name: t.Name})
	return toTenant(row), wrap(err, "create tenant %q", t.Slug)
}

// Get returns orgID's tenant with slug.
func (r TenantRepo) Get(ctx context.Context, orgID uuid.UUID, slug string) (Tenant, error) {
	row, err := r.h.q.GetTenant(ctx, sqlcdb.GetTenantParams{OrgID: orgID, Slug: slug})
	return toTenant(row), wrap(err, "get tenant %q", slug)
}

// GetByID returns orgID's tenant with id.
func (r TenantRepo) GetByID(ctx context.Context, orgID, id uuid.UUID) (Tenant, error) {
	row, err := r.h.q.GetTenantByID(ctx, sqlcdb.GetTenantByIDParams{OrgID: orgID, ID: id})
	return toTenant(row), wrap(err, "get tenant %s", id)
}

// List lists an organization's tenants by slug.
func (r TenantRepo) List(ctx context.Context, orgID uuid.UUID, after string, limit int) (Page[Tenant], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[Tenant]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListTenants(ctx, sqlcdb.ListTenantsParams{OrgID: orgID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[Tenant]{}, wrap(err, "list tenants of organization %s", orgID)
	}
	return pageOf(rows, size, toTenant, func(row sqlcdb.Tenant) string { return nameCursor(row.Slug) }), nil
}

// ListForMember lists the tenants of orgID that userID is a member of, by
// slug, with the user's role in each.
func (r TenantRepo) ListForMember(ctx context.Context, orgID, userID uuid.UUID, after string, limit int) (Page[MemberTenant], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[MemberTenant]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListTenantsForMember(ctx, sqlcdb.ListTenantsForMemberParams{OrgID: orgID, UserID: userID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[MemberTenant]{}, wrap(err, "list tenants of member %s", userID)
	}
	return pageOf(rows, size,
		func(row sqlcdb.ListTenantsForMemberRow) MemberTenant {
			return MemberTenant{Tenant: toTenant(row.Tenant), Role: TenantRole(row.Role)}
		},
		func(row sqlcdb.ListTenantsForMemberRow) string { return nameCursor(row.Tenant.Slug) }), nil
}

// Update changes a tenant's slug or name.
func (r TenantRepo) Update(ctx context.Context, orgID, id uuid.UUID, p TenantPatch) (Tenant, error) {
	var days *int32
	if p.ArtifactRetentionDays != nil {
		if d := *p.ArtifactRetentionDays; d < 1 || d > 400 {
			return Tenant{}, invalid("artifact retention of %d days: 1 to 400", d)
		}
		days = new(int32(*p.ArtifactRetentionDays)) //nolint:gosec // bounded above
	}
	row, err := r.h.q.UpdateTenant(ctx, sqlcdb.UpdateTenantParams{OrgID: orgID, ID: id, Slug: p.Slug, Name: p.Name, ArtifactRetentionDays: days})
	return toTenant(row), wrap(err, "update tenant %s", id)
}

// Delete deletes a tenant with everything in it: memberships, secrets,
// pipelines and runs, deployments, and its scoped API keys. Its audit entries
// stay with the organization.
func (r TenantRepo) Delete(ctx context.Context, orgID, id uuid.UUID) error {
	return wrap(affected(r.h.q.DeleteTenant(ctx, sqlcdb.DeleteTenantParams{OrgID: orgID, ID: id})), "delete tenant %s", id)
}

// Count returns the number of an organization's tenants, for plan limits.
func (r TenantRepo) Count(ctx context.Context, orgID uuid.UUID) (int, error) {
	n, err := r.h.q.CountTenants(ctx, orgID)
	return int(n), wrap(err, "count tenants of organization %s", orgID)
}

// AddMember makes userID a member of tenantID with role. The user must be a
// member of the tenant's organization (ErrInvalid otherwise); an unknown
// tenant is ErrNotFound and an existing member ErrConflict.
func (r TenantRepo) AddMember(ctx context.Context, tenantID, userID uuid.UUID, role TenantRole) (TenantMembership, error) {
	if !role.Valid() {
		return TenantMembership{}, invalid("tenant role %q", role)
	}
	row, err := r.h.q.AddTenantMember(ctx, sqlcdb.AddTenantMemberParams{TenantID: tenantID, UserID: userID, Role: string(role)})
	return toTenantMembership(sqlcdb.GetTenantMemberRow(row)), wrap(err, "add member %s to tenant %s", userID, tenantID)
}

// GetMember returns userID's membership of tenantID: ErrNotFound when the
// user is not a member.
func (r TenantRepo) GetMember(ctx context.Context, tenantID, userID uuid.UUID) (TenantMembership, error) {
	row, err := r.h.q.GetTenantMember(ctx, sqlcdb.GetTenantMemberParams{TenantID: tenantID, UserID: userID})
	return toTenantMembership(row), wrap(err, "get member %s of tenant %s", userID, tenantID)
}

// ListMembers lists a tenant's members by email.
func (r TenantRepo) ListMembers(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[TenantMembership], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[TenantMembership]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListTenantMembers(ctx, sqlcdb.ListTenantMembersParams{TenantID: tenantID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[TenantMembership]{}, wrap(err, "list members of tenant %s", tenantID)
	}
	return pageOf(rows, size,
		func(row sqlcdb.ListTenantMembersRow) TenantMembership {
			return TenantMembership{TenantID: row.TenantID, UserID: row.UserID, Role: TenantRole(row.Role), Email: row.Email, Name: row.Name, CreatedAt: row.CreatedAt}
		},
		func(row sqlcdb.ListTenantMembersRow) string { return nameCursor(row.EmailKey) }), nil
}

// UpdateMemberRole changes a tenant member's role.
func (r TenantRepo) UpdateMemberRole(ctx context.Context, tenantID, userID uuid.UUID, role TenantRole) (TenantMembership, error) {
	if !role.Valid() {
		return TenantMembership{}, invalid("tenant role %q", role)
	}
	row, err := r.h.q.UpdateTenantMemberRole(ctx, sqlcdb.UpdateTenantMemberRoleParams{TenantID: tenantID, UserID: userID, Role: string(role)})
	return toTenantMembership(sqlcdb.GetTenantMemberRow(row)), wrap(err, "set role of member %s of tenant %s", userID, tenantID)
}

// RemoveMember removes userID from tenantID.
func (r TenantRepo) RemoveMember(ctx context.Context, tenantID, userID uuid.UUID) error {
	n, err := r.h.q.RemoveTenantMember(ctx, sqlcdb.RemoveTenantMemberParams{TenantID: tenantID, UserID: userID})
	return wrap(affected(n, err), "remove member %s from tenant %s", userID, tenantID)
}

func toTenant(row sqlcdb.Tenant) Tenant {
	return Tenant{
		ID:        row.ID,
		OrgID:     row.OrgID,
		Slug:      row.Slug,
		Name:      row.Name,
		CreatedAt: row.CreatedAt,
		UpdatedAt: row.UpdatedAt,

		ArtifactRetentionDays: int(row.ArtifactRetentionDays),
	}
}

func toTenantMembership(row sqlcdb.GetTenantMemberRow) TenantMembership {
	return TenantMembership{
		TenantID:  row.TenantID,
		UserID:    row.UserID,
		Role:      TenantRole(row.Role),
		Email:     row.Email,
		Name:      row.Name,
		CreatedAt: row.CreatedAt,
	}
}
