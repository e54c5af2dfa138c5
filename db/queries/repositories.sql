-- name: CreateRepository :one
INSERT INTO repositories (id, tenant_id, forge, url, api_url, token_secret, webhook_ciphertext, webhook_nonce, webhook_key_id,
                          pipelines_path, fork_secrets, created_by)
VALUES (@id, @tenant_id, @forge, @url, @api_url, @token_secret, @webhook_ciphertext, @webhook_nonce, @webhook_key_id,
        @pipelines_path, @fork_secrets, @created_by)
RETURNING *;

-- name: GetRepository :one
SELECT * FROM repositories WHERE tenant_id = @tenant_id AND id = @id;

-- name: GetRepositoryForHook :one
-- The webhook route's one lookup: by id alone, since the caller is not
-- signed in; the id is unguessable and the signature is checked next.
SELECT sqlc.embed(r), t.org_id
FROM repositories r JOIN tenants t ON t.id = r.tenant_id
WHERE r.id = @id;

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

-- name: InsertWebhookDelivery :execrows
-- Zero rows: the delivery was taken before.
INSERT INTO webhook_deliveries (repository_id, delivery_id)
VALUES (@repository_id, @delivery_id)
ON CONFLICT DO NOTHING;

-- name: DeleteWebhookDelivery :exec
DELETE FROM webhook_deliveries WHERE repository_id = @repository_id AND delivery_id = @delivery_id;

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
  AND (source <> @source OR repository_path <> @repository_path)
RETURNING *;

-- name: GetRunByTriggerKey :one
SELECT * FROM pipeline_runs
WHERE tenant_id = @tenant_id AND pipeline_id = @pipeline_id AND trigger_key = @trigger_key;
