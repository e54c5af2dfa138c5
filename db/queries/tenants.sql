-- name: CreateTenant :one
INSERT INTO tenants (org_id, slug, name)
VALUES (@org_id, @slug, @name)
RETURNING *;

-- name: GetTenant :one
SELECT * FROM tenants WHERE org_id = @org_id AND slug = @slug;

-- name: GetTenantByID :one
SELECT * FROM tenants WHERE org_id = @org_id AND id = @id;

-- name: ListTenants :many
SELECT * FROM tenants
WHERE org_id = @org_id AND slug > @after
ORDER BY slug
LIMIT @lim;

-- name: ListTenantsForMember :many
SELECT sqlc.embed(t), m.role
FROM tenant_memberships m JOIN tenants t ON t.id = m.tenant_id
WHERE m.org_id = @org_id AND m.user_id = @user_id AND t.slug > @after
ORDER BY t.slug
LIMIT @lim;

-- name: UpdateTenant :one
UPDATE tenants
SET slug = coalesce(sqlc.narg('slug'), slug),
    name = coalesce(sqlc.narg('name'), name),
    artifact_retention_days = coalesce(sqlc.narg('artifact_retention_days'), artifact_retention_days),
    updated_at = now()
WHERE org_id = @org_id AND id = @id
RETURNING *;

-- name: DeleteTenant :execrows
DELETE FROM tenants WHERE org_id = @org_id AND id = @id;

-- name: CountTenants :one
SELECT count(*) FROM tenants WHERE org_id = @org_id;

-- name: AddTenantMember :one
-- The tenant's org comes from the tenant row; the foreign key to
-- org_memberships refuses a user who is not in that org.
WITH m AS (
    INSERT INTO tenant_memberships (org_id, tenant_id, user_id, role)
    SELECT t.org_id, t.id, @user_id, @role FROM tenants t WHERE t.id = @tenant_id
    RETURNING *
)
SELECT m.tenant_id, m.user_id, m.role, m.created_at, u.email, u.name
FROM m JOIN users u ON u.id = m.user_id;

-- name: GetTenantMember :one
SELECT m.tenant_id, m.user_id, m.role, m.created_at, u.email, u.name
FROM tenant_memberships m JOIN users u ON u.id = m.user_id
WHERE m.tenant_id = @tenant_id AND m.user_id = @user_id;

-- name: ListTenantMembers :many
SELECT m.tenant_id, m.user_id, m.role, m.created_at, u.email, u.name, lower(u.email)::text AS email_key
FROM tenant_memberships m JOIN users u ON u.id = m.user_id
WHERE m.tenant_id = @tenant_id AND lower(u.email) > @after
ORDER BY lower(u.email)
LIMIT @lim;

-- name: UpdateTenantMemberRole :one
WITH m AS (
    UPDATE tenant_memberships SET role = @role
    WHERE tenant_id = @tenant_id AND user_id = @user_id
    RETURNING *
)
SELECT m.tenant_id, m.user_id, m.role, m.created_at, u.email, u.name
FROM m JOIN users u ON u.id = m.user_id;

-- name: RemoveTenantMember :execrows
DELETE FROM tenant_memberships WHERE tenant_id = @tenant_id AND user_id = @user_id;
