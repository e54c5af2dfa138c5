package db

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// Plan is an organization's plan tier.
type Plan string

// The plan tiers.
const (
	PlanFree       Plan = "free"
	PlanPro        Plan = "pro"
	PlanEnterprise Plan = "enterprise"
)

// Valid reports whether p is one of the plan tiers.
func (p Plan) Valid() bool {
	switch p {
	case PlanFree, PlanPro, PlanEnterprise:
		return true
	}
	return false
}

// OrgRole is a user's role in an organization.
type OrgRole string

// The organization roles, from most to least powerful.
const (
	OrgRoleOwner  OrgRole = "owner"
	OrgRoleAdmin  OrgRole = "admin"
	OrgRoleMember OrgRole = "member"
)

// Valid reports whether r is one of the organization roles.
func (r OrgRole) Valid() bool {
	switch r {
	case OrgRoleOwner, OrgRoleAdmin, OrgRoleMember:
		return true
	}
	return false
}

// Organization is a top-level account: it holds users (through
// memberships), tenants and API keys.
type Organization struct {
	ID        uuid.UUID
	Slug      string
	Name      string
	Plan      Plan
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewOrganization is what Create needs. An empty Plan means PlanFree.
type NewOrganization struct {
	Slug string
	Name string
	Plan Plan
}

// OrganizationPatch changes the fields that are not nil.
type OrganizationPatch struct {
	Name *string
	Plan *Plan
}

// UserOrganization is an organization as one of its members sees it.
type UserOrganization struct {
	Organization
	Role OrgRole
}

// OrgMembership is a user's membership of an organization, with the user's
// email and name for listing.
type OrgMembership struct {
	OrgID     uuid.UUID
	UserID    uuid.UUID
	Role      OrgRole
	Email     string
	Name      string
	CreatedAt time.Time
}

// OrganizationRepo holds organizations and their memberships.
type OrganizationRepo struct{ h handle }

// Create creates an organization. A taken slug is an ErrConflict.
func (r OrganizationRepo) Create(ctx context.Context, o NewOrganization) (Organization, error) {
	if o.Plan == "" {
		o.Plan = PlanFree
	}
	if !o.Plan.Valid() {
		return Organization{}, invalid("plan %q", o.Plan)
	}
	row, err := r.h.q.CreateOrganization(ctx, sqlcdb.CreateOrganizationParams{Slug: o.Slug, Name: o.Name, Plan: string(o.Plan)})
	return toOrganization(row), wrap(err, "create organization %q", o.Slug)
}

// Get returns the organization with id.
func (r OrganizationRepo) Get(ctx context.Context, id uuid.UUID) (Organization, error) {
	row, err := r.h.q.GetOrganization(ctx, id)
	return toOrganization(row), wrap(err, "get organization %s", id)
}

// GetBySlug returns the organization with slug.
func (r OrganizationRepo) GetBySlug(ctx context.Context, slug string) (Organization, error) {
	row, err := r.h.q.GetOrganizationBySlug(ctx, slug)
	return toOrganization(row), wrap(err, "get organization %q", slug)
}

// Update changes an organization's name or plan.
func (r OrganizationRepo) Update(ctx context.Context, id uuid.UUID, p OrganizationPatch) (Organization, error) {
	if p.Plan != nil && !p.Plan.Valid() {
		return Organization{}, invalid("plan %q", *p.Plan)
	}
	row, err := r.h.q.UpdateOrganization(ctx, sqlcdb.UpdateOrganizationParams{ID: id, Name: p.Name, Plan: (*string)(p.Plan)})
	return toOrganization(row), wrap(err, "update organization %s", id)
}

// Delete deletes an organization with everything in it: memberships,
// tenants and their data, API keys and audit logs.
func (r OrganizationRepo) Delete(ctx context.Context, id uuid.UUID) error {
	return wrap(affected(r.h.q.DeleteOrganization(ctx, id)), "delete organization %s", id)
}

// ListForUser lists the organizations userID is a member of, by slug, with
// the user's role in each.
func (r OrganizationRepo) ListForUser(ctx context.Context, userID uuid.UUID, after string, limit int) (Page[UserOrganization], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[UserOrganization]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListOrganizationsForUser(ctx, sqlcdb.ListOrganizationsForUserParams{UserID: userID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[UserOrganization]{}, wrap(err, "list organizations of user %s", userID)
	}
	return pageOf(rows, size,
		func(row sqlcdb.ListOrganizationsForUserRow) UserOrganization {
			return UserOrganization{Organization: toOrganization(row.Organization), Role: OrgRole(row.Role)}
		},
		func(row sqlcdb.ListOrganizationsForUserRow) string { return nameCursor(row.Organization.Slug) }), nil
}

// AddMember makes userID a member of orgID with role. A user who already is
// a member is an ErrConflict; an unknown user or organization is ErrInvalid.
func (r OrganizationRepo) AddMember(ctx context.Context, orgID, userID uuid.UUID, role OrgRole) (OrgMembership, error) {
	if !role.Valid() {
		return OrgMembership{}, invalid("organization role %q", role)
	}
	row, err := r.h.q.AddOrgMember(ctx, sqlcdb.AddOrgMemberParams{OrgID: orgID, UserID: userID, Role: string(role)})
	return toOrgMembership(sqlcdb.GetOrgMemberRow(row)), wrap(err, "add member %s to organization %s", userID, orgID)
}

// GetMember returns userID's membership of orgID: ErrNotFound when the user
// is not a member.
func (r OrganizationRepo) GetMember(ctx context.Context, orgID, userID uuid.UUID) (OrgMembership, error) {
	row, err := r.h.q.GetOrgMember(ctx, sqlcdb.GetOrgMemberParams{OrgID: orgID, UserID: userID})
	return toOrgMembership(row), wrap(err, "get member %s of organization %s", userID, orgID)
}

// ListMembers lists an organization's members by email.
func (r OrganizationRepo) ListMembers(ctx context.Context, orgID uuid.UUID, after string, limit int) (Page[OrgMembership], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[OrgMembership]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListOrgMembers(ctx, sqlcdb.ListOrgMembersParams{OrgID: orgID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[OrgMembership]{}, wrap(err, "list members of organization %s", orgID)
	}
	return pageOf(rows, size,
		func(row sqlcdb.ListOrgMembersRow) OrgMembership {
			return OrgMembership{OrgID: row.OrgID, UserID: row.UserID, Role: OrgRole(row.Role), Email: row.Email, Name: row.Name, CreatedAt: row.CreatedAt}
		},
		func(row sqlcdb.ListOrgMembersRow) string { return nameCursor(row.EmailKey) }), nil
}

// UpdateMemberRole changes a member's role. Demoting the last owner is
// ErrLastOwner.
func (r OrganizationRepo) UpdateMemberRole(ctx context.Context, orgID, userID uuid.UUID, role OrgRole) (OrgMembership, error) {
	if !role.Valid() {
		return OrgMembership{}, invalid("organization role %q", role)
	}
	var m OrgMembership
	err := r.h.atomic(ctx, func(h handle) error {
		if role != OrgRoleOwner {
			if err := keepAnOwner(ctx, h, orgID, userID); err != nil {
				return err
			}
		}
		row, err := h.q.UpdateOrgMemberRole(ctx, sqlcdb.UpdateOrgMemberRoleParams{OrgID: orgID, UserID: userID, Role: string(role)})
		m = toOrgMembership(sqlcdb.GetOrgMemberRow(row))
		return err
	})
	return m, wrap(err, "set role of member %s of organization %s", userID, orgID)
}

// RemoveMember removes userID from orgID, and from the organization's
// tenants. Removing the last owner is ErrLastOwner.
func (r OrganizationRepo) RemoveMember(ctx context.Context, orgID, userID uuid.UUID) error {
	err := r.h.atomic(ctx, func(h handle) error {
		if err := keepAnOwner(ctx, h, orgID, userID); err != nil {
			return err
		}
		return affected(h.q.RemoveOrgMember(ctx, sqlcdb.RemoveOrgMemberParams{OrgID: orgID, UserID: userID}))
	})
	return wrap(err, "remove member %s from organization %s", userID, orgID)
}

// Lock holds orgID's lock until the transaction ends. Changes to an
// organization's members and tenants take it before they check anything
// (who may grant what, the last owner, the plan's limits), so that two at
// once cannot both pass a check only one of them may: the second waits,
// then sees what the first did. Outside a transaction it does nothing
// useful.
func (r OrganizationRepo) Lock(ctx context.Context, orgID uuid.UUID) error {
	_, err := r.h.q.LockOrganization(ctx, orgID)
	return wrap(err, "lock organization %s", orgID)
}

// keepAnOwner fails with ErrLastOwner when userID is the only owner of
// orgID. It locks the organization first, so two owners removing each
// other at once cannot both succeed.
func keepAnOwner(ctx context.Context, h handle, orgID, userID uuid.UUID) error {
	if _, err := h.q.LockOrganization(ctx, orgID); err != nil {
		return err
	}
	m, err := h.q.GetOrgMember(ctx, sqlcdb.GetOrgMemberParams{OrgID: orgID, UserID: userID})
	if err != nil {
		return err
	}
	if OrgRole(m.Role) != OrgRoleOwner {
		return nil
	}
	owners, err := h.q.CountOrgOwners(ctx, orgID)
	if err != nil {
		return err
	}
	if owners <= 1 {
		return ErrLastOwner
	}
	return nil
}

// CountMembers returns the number of an organization's members, for plan
// limits.
func (r OrganizationRepo) CountMembers(ctx context.Context, orgID uuid.UUID) (int, error) {
	n, err := r.h.q.CountOrgMembers(ctx, orgID)
	return int(n), wrap(err, "count members of organization %s", orgID)
}

// CountOwners returns the number of an organization's owners.
func (r OrganizationRepo) CountOwners(ctx context.Context, orgID uuid.UUID) (int, error) {
	n, err := r.h.q.CountOrgOwners(ctx, orgID)
	return int(n), wrap(err, "count owners of organization %s", orgID)
}

func toOrganization(row sqlcdb.Organization) Organization {
	return Organization{
		ID:        row.ID,
		Slug:      row.Slug,
		Name:      row.Name,
		Plan:      Plan(row.Plan),
		CreatedAt: row.CreatedAt,
		UpdatedAt: row.UpdatedAt,
	}
}

func toOrgMembership(row sqlcdb.GetOrgMemberRow) OrgMembership {
	return OrgMembership{
		OrgID:     row.OrgID,
		UserID:    row.UserID,
		Role:      OrgRole(row.Role),
		Email:     row.Email,
		Name:      row.Name,
		CreatedAt: row.CreatedAt,
	}
}
