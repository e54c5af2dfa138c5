-- name: TouchCache :one
-- The entry under key, marked used.
UPDATE caches SET last_used_at = now()
WHERE tenant_id = @tenant_id AND pipeline = @pipeline AND branch = @branch AND key = @key
RETURNING *;

-- name: TouchCacheByPrefix :one
-- The newest entry whose key starts with prefix (compared as text, so
-- that no character of it is a pattern), marked used.
UPDATE caches SET last_used_at = now()
WHERE caches.tenant_id = @tenant_id AND caches.id = (
    SELECT c.id FROM caches c
    WHERE c.tenant_id = @tenant_id AND c.pipeline = @pipeline AND c.branch = @branch
      AND left(c.key, length(@prefix::text)) = @prefix::text
    ORDER BY c.created_at DESC, c.id DESC
    LIMIT 1
)
RETURNING *;

-- name: InsertCache :execrows
-- Entries are immutable: a key taken already inserts nothing.
INSERT INTO caches (tenant_id, pipeline, branch, key, blob_key, size, digest, files)
SELECT t.id, @pipeline, @branch, @key, @blob_key, @size, @digest, @files
FROM tenants t WHERE t.id = @tenant_id
ON CONFLICT (tenant_id, pipeline, branch, key) DO NOTHING;

-- name: ListCaches :many
-- Most recently used first; of one pipeline when pipeline is not ''.
SELECT * FROM caches
WHERE tenant_id = @tenant_id AND (@pipeline::text = '' OR pipeline = @pipeline::text)
ORDER BY last_used_at DESC, id DESC
LIMIT @lim;

-- name: DeleteCaches :many
-- A pipeline's entries: every branch's when branch is '', every key's
-- when key is ''.
DELETE FROM caches
WHERE tenant_id = @tenant_id AND pipeline = @pipeline
  AND (@branch::text = '' OR branch = @branch::text)
  AND (@key::text = '' OR key = @key::text)
RETURNING *;

-- name: EvictCaches :many
-- The least recently used entries beyond max_bytes in all, in one
-- statement: a running sum from the most recently used down.
WITH ranked AS (
    SELECT c.id, sum(c.size) OVER (ORDER BY c.last_used_at DESC, c.id DESC) AS running
    FROM caches c
    WHERE c.tenant_id = @tenant_id
)
DELETE FROM caches
USING ranked
WHERE caches.tenant_id = @tenant_id AND caches.id = ranked.id AND ranked.running > @max_bytes::bigint
RETURNING caches.*;
