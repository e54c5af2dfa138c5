-- name: CreateAPIKey :one
INSERT INTO api_keys (org_id, tenant_id, name, prefix, secret_hash, scopes, created_by, expires_at)
VALUES (@org_id, sqlc.narg('tenant_id'), @name, @prefix, @secret_hash, @scopes, sqlc.narg('created_by'), sqlc.narg('expires_at'))
RETURNING *;

-- name: LookupAPIKey :one
-- Only keys that still work: not revoked, not expired, and whose creator
-- still holds the membership that let them make it (owner or admin of the
-- key's organization). A key acts with its creator's current role, which
-- creator_role is; a key without a creator works for no one.
SELECT sqlc.embed(k), m.role AS creator_role
FROM api_keys k
JOIN org_memberships m ON m.org_id = k.org_id AND m.user_id = k.created_by
WHERE k.prefix = @prefix
  AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now())
  AND m.role IN ('owner', 'admin');

-- name: GetAPIKey :one
SELECT * FROM api_keys WHERE org_id = @org_id AND id = @id;

-- name: ListAPIKeys :many
SELECT * FROM api_keys
WHERE org_id = @org_id
  AND (sqlc.narg('tenant_id')::uuid IS NULL OR tenant_id = sqlc.narg('tenant_id'))
  AND (@include_revoked::boolean OR revoked_at IS NULL)
  AND (created_at, id) > (@after_time::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @lim;

-- name: RevokeAPIKey :one
UPDATE api_keys SET revoked_at = now()
WHERE org_id = @org_id AND id = @id AND revoked_at IS NULL
RETURNING *;

-- name: TouchAPIKey :execrows
-- Writes at most once a minute per key: the lookup is on every request.
UPDATE api_keys SET last_used_at = now()
WHERE org_id = @org_id AND id = @id
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
