-- name: InsertAuditEntry :one
INSERT INTO audit_logs (org_id, tenant_id, actor_user_id, actor_api_key_id, action, target_type, target_id, metadata, ip)
VALUES (@org_id, sqlc.narg('tenant_id'), sqlc.narg('actor_user_id'), sqlc.narg('actor_api_key_id'),
        @action, @target_type, @target_id, @metadata, sqlc.narg('ip'))
RETURNING *;

-- name: ListAuditEntries :many
-- Newest first. A NULL filter matches every row.
SELECT * FROM audit_logs
WHERE org_id = @org_id
  AND (sqlc.narg('tenant_id')::uuid IS NULL OR tenant_id = sqlc.narg('tenant_id'))
  AND (sqlc.narg('actor_user_id')::uuid IS NULL OR actor_user_id = sqlc.narg('actor_user_id'))
  AND (sqlc.narg('actor_api_key_id')::uuid IS NULL OR actor_api_key_id = sqlc.narg('actor_api_key_id'))
  AND (sqlc.narg('action')::text IS NULL OR action = sqlc.narg('action'))
  AND created_at >= @since::timestamptz
  AND created_at < @until::timestamptz
  AND (created_at, id) < (@before_time::timestamptz, @before_id::bigint)
ORDER BY created_at DESC, id DESC
LIMIT @lim;
