-- name: CreateRepository :one
INSERT INTO repositories (id, tenant_id, forge, url, api_url, token_secret, webhook_ciphertext, webhook_nonce, webhook_key_id,
                          pipelines_path, fork_secrets, created_by)
VALUES (@id, @tenant_id, @forge, @url, @api_url, @token_secret, @webhook_ciphertext, @webhook_nonce, @webhook_key_id,
        @pipelines_path, @fork_secrets, @created_by)
RETURNING *;

-- name: GetRepository :one
SELECT * FROM repositories WHERE tenant_id = @tenant_id AND id = @id;

-- name: GetRepositoriesForHooks :many
-- The webhook route's lookup, of a batch of concurrent deliveries: by id
-- alone, since the caller is not signed in; the id is unguessable and the
-- signature is checked next.
SELECT sqlc.embed(r), t.org_id
FROM repositories r JOIN tenants t ON t.id = r.tenant_id
WHERE r.id = ANY(@ids::uuid[]);

-- name: ListRepositories :many
SELECT * FROM repositories
WHERE tenant_id = @tenant_id AND url > @after
ORDER BY url
LIMIT @lim;

-- name: UpdateRepository :one
-- Null arguments keep the field.
UPDATE repositories
SET token_secret = coalesce(sqlc.narg('token_secret')::text, token_secret),
    pipelines_path = coalesce(sqlc.narg('pipelines_path')::text, pipelines_path),
    fork_secrets = coalesce(sqlc.narg('fork_secrets')::boolean, fork_secrets),
    api_url = coalesce(sqlc.narg('api_url')::text, api_url)
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: SetRepositoryWebhookSecret :one
UPDATE repositories
SET webhook_ciphertext = @webhook_ciphertext, webhook_nonce = @webhook_nonce, webhook_key_id = @webhook_key_id
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: SetRepositoryDefaultBranch :exec
UPDATE repositories SET default_branch = @default_branch
WHERE tenant_id = @tenant_id AND id = @id AND default_branch <> @default_branch;

-- name: DeleteRepository :execrows
DELETE FROM repositories WHERE tenant_id = @tenant_id AND id = @id;

-- name: InsertWebhookDeliveries :many
-- Records a batch of concurrent deliveries; returns those taken (a
-- delivery taken before, or twice in the batch, is returned once at
-- most).
INSERT INTO webhook_deliveries (repository_id, delivery_id, input)
SELECT unnest(@repository_ids::uuid[]), unnest(@delivery_ids::text[]), unnest(@inputs::text[])::jsonb
ON CONFLICT DO NOTHING
RETURNING repository_id, delivery_id;

-- name: MarkWebhookDeliveriesStarted :exec
UPDATE webhook_deliveries d SET started_at = now(), input = NULL
FROM (SELECT unnest(@repository_ids::uuid[]) AS repository_id, unnest(@delivery_ids::text[]) AS delivery_id) s
WHERE d.repository_id = s.repository_id AND d.delivery_id = s.delivery_id AND d.started_at IS NULL;

-- name: FailWebhookDeliveryStart :exec
-- Backs off the delivery's next start: 2^attempts seconds, at most 5
-- minutes.
UPDATE webhook_deliveries
SET attempts = attempts + 1,
    next_attempt_at = now() + make_interval(secs => least(power(2, attempts + 1), 300))
WHERE repository_id = @repository_id AND delivery_id = @delivery_id AND started_at IS NULL;

-- name: ListPendingWebhookDeliveries :many
-- The sweeper's work: deliveries not started, received before the
-- cutoff (older than the in-process hand-off), whose backoff is over,
-- the oldest first.
SELECT repository_id, delivery_id, input, attempts
FROM webhook_deliveries
WHERE started_at IS NULL AND input IS NOT NULL AND received_at < @received_before
  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
ORDER BY received_at
LIMIT @lim;

-- name: PruneWebhookDeliveries :execrows
-- Forgets deliveries received before the cutoff: a forge redelivers
-- within days (GitHub's manual redelivery, within 3), not later.
DELETE FROM webhook_deliveries WHERE received_at < @before;

-- name: CreateRepositoryPipeline :one
-- A pipeline of a repository's file; nothing when the name is taken.
INSERT INTO pipelines (tenant_id, name, source, plan, repository_id, repository_path)
VALUES (@tenant_id, @name, @source, @plan, @repository_id, @repository_path)
ON CONFLICT (tenant_id, name) DO NOTHING
RETURNING *;

-- name: UpdateRepositoryPipeline :one
-- Replaces the source and plan of a repository's pipeline (a push to its
-- default branch), when they changed.
UPDATE pipelines
SET source = @source, plan = @plan, repository_path = @repository_path,
    version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND repository_id = @repository_id
  -- Only a pipeline read from a file: one stored through the API that
  -- names the repository keeps its source.
  AND repository_path <> ''
  AND (source <> @source OR repository_path <> @repository_path)
RETURNING *;

-- name: GetRunByTriggerKey :one
SELECT * FROM pipeline_runs
WHERE tenant_id = @tenant_id AND pipeline_id = @pipeline_id AND trigger_key = @trigger_key;
