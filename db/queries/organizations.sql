-- name: CreateOrganization :one
INSERT INTO organizations (slug, name, plan)
VALUES (@slug, @name, @plan)
RETURNING *;

-- name: GetOrganization :one
SELECT * FROM organizations WHERE id = @id;

-- name: GetOrganizationBySlug :one
SELECT * FROM organizations WHERE slug = @slug;

-- name: UpdateOrganization :one
UPDATE organizations
SET name = coalesce(sqlc.narg('name'), name),
    plan = coalesce(sqlc.narg('plan'), plan),
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteOrganization :execrows
DELETE FROM organizations WHERE id = @id;

-- name: LockOrganization :one
-- Serializes changes to an organization's members and tenants until the
-- transaction ends, so that what they check first (an owner stays, the
-- plan's limits, who may grant what) stays true until they commit. NO KEY
-- UPDATE, not UPDATE: the inserts of other requests that point at the
-- organization (audit entries, API keys) are not held up.
SELECT id FROM organizations WHERE id = @id FOR NO KEY UPDATE;

-- name: ListOrganizationsForUser :many
SELECT sqlc.embed(o), m.role
FROM org_memberships m
JOIN organizations o ON o.id = m.org_id
WHERE m.user_id = @user_id AND o.slug > @after
ORDER BY o.slug
LIMIT @lim;

-- name: AddOrgMember :one
WITH m AS (
    INSERT INTO org_memberships (org_id, user_id, role)
    VALUES (@org_id, @user_id, @role)
    RETURNING *
)
SELECT m.org_id, m.user_id, m.role, m.created_at, u.email, u.name
FROM m JOIN users u ON u.id = m.user_id;

-- name: GetOrgMember :one
SELECT m.org_id, m.user_id, m.role, m.created_at, u.email, u.name
FROM org_memberships m JOIN users u ON u.id = m.user_id
WHERE m.org_id = @org_id AND m.user_id = @user_id;

-- name: ListOrgMembers :many
SELECT m.org_id, m.user_id, m.role, m.created_at, u.email, u.name, lower(u.email)::text AS email_key
FROM org_memberships m JOIN users u ON u.id = m.user_id
WHERE m.org_id = @org_id AND lower(u.email) > @after
ORDER BY lower(u.email)
LIMIT @lim;

-- name: UpdateOrgMemberRole :one
WITH m AS (
    UPDATE org_memberships SET role = @role
    WHERE org_id = @org_id AND user_id = @user_id
    RETURNING *
)
SELECT m.org_id, m.user_id, m.role, m.created_at, u.email, u.name
FROM m JOIN users u ON u.id = m.user_id;

-- name: RemoveOrgMember :execrows
DELETE FROM org_memberships WHERE org_id = @org_id AND user_id = @user_id;

-- name: CountOrgMembers :one
SELECT count(*) FROM org_memberships WHERE org_id = @org_id;

-- name: CountOrgOwners :one
SELECT count(*) FROM org_memberships WHERE org_id = @org_id AND role = 'owner';

-- name: LockOrganizationsOwnedBy :many
-- Locks the organizations user_id owns and says, for each, whether anyone
-- else owns it too.
SELECT o.id,
       EXISTS (SELECT 1 FROM org_memberships x
               WHERE x.org_id = o.id AND x.role = 'owner' AND x.user_id <> @user_id) AS has_other_owner
FROM organizations o JOIN org_memberships m ON m.org_id = o.id
WHERE m.user_id = @user_id AND m.role = 'owner'
ORDER BY o.id
FOR UPDATE OF o;
