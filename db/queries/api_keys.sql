-- name: CreateAPIKey :one
INSERT INTO api_keys (org_id, tenant_id, name, prefix, secret_hash, scopes, created_by, expires_at)
VALUES (@org_id, sqlc.narg('tenant_id'), @name, @prefix, @secret_hash, @scopes, sqlc.narg('created_by'), sqlc.narg('expires_at'))
RETURNING *;

-- name: LookupAPIKey :one
-- Only keys that still work: not revoked, not expired.
SELECT * FROM api_keys
WHERE prefix = @prefix
  AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > now());

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
