-- name: CreatePipeline :one
-- A repository_id must name a repository of the same tenant: else nothing is
-- inserted (no row). The composite foreign key says the same.
INSERT INTO pipelines (tenant_id, name, source, plan, repository_id)
SELECT @tenant_id::uuid, @name::text, @source::text, @plan::jsonb, sqlc.narg('repository_id')::uuid
WHERE sqlc.narg('repository_id')::uuid IS NULL
   OR EXISTS (SELECT 1 FROM repositories r
              WHERE r.tenant_id = @tenant_id::uuid AND r.id = sqlc.narg('repository_id')::uuid)
RETURNING *;

-- name: PutPipeline :one
-- Creates the pipeline or replaces its source and plan, bumping its version.
-- set_repository false keeps the pipeline's repository (a new one has none);
-- true sets it to repository_id (null: none), which must be a repository of
-- the same tenant. No row: repository_id names none, or the pipeline is read
-- from a connected repository's file (which pushes change, not the API). A
-- file's pipeline whose repository was disconnected becomes an API one.
INSERT INTO pipelines (tenant_id, name, source, plan, repository_id)
SELECT @tenant_id::uuid, @name::text, @source::text, @plan::jsonb,
       CASE WHEN @set_repository::boolean THEN sqlc.narg('repository_id')::uuid END
WHERE NOT @set_repository::boolean
   OR sqlc.narg('repository_id')::uuid IS NULL
   OR EXISTS (SELECT 1 FROM repositories r
              WHERE r.tenant_id = @tenant_id::uuid AND r.id = sqlc.narg('repository_id')::uuid)
ON CONFLICT (tenant_id, name) DO UPDATE
SET source = excluded.source,
    plan = excluded.plan,
    repository_id = CASE WHEN @set_repository::boolean THEN excluded.repository_id ELSE pipelines.repository_id END,
    repository_path = '',
    version = pipelines.version + 1,
    updated_at = now()
WHERE pipelines.repository_path = '' OR pipelines.repository_id IS NULL
RETURNING *, (xmax = 0)::boolean AS inserted;

-- name: UpdatePipeline :one
-- A zero if_version matches any version. set_repository and repository_id
-- are PutPipeline's; no row also when they or the pipeline's being read from
-- a connected repository's file refuse the change.
UPDATE pipelines
SET source = @source,
    plan = @plan,
    repository_id = CASE WHEN @set_repository::boolean THEN sqlc.narg('repository_id')::uuid ELSE repository_id END,
    repository_path = '',
    version = version + 1,
    updated_at = now()
WHERE pipelines.tenant_id = @tenant_id AND pipelines.name = @name
  AND (@if_version::integer = 0 OR pipelines.version = @if_version::integer)
  AND (pipelines.repository_path = '' OR pipelines.repository_id IS NULL)
  AND (NOT @set_repository::boolean
       OR sqlc.narg('repository_id')::uuid IS NULL
       OR EXISTS (SELECT 1 FROM repositories r
                  WHERE r.tenant_id = pipelines.tenant_id AND r.id = sqlc.narg('repository_id')::uuid))
RETURNING *;

-- name: GetPipeline :one
SELECT * FROM pipelines WHERE tenant_id = @tenant_id AND name = @name;

-- name: GetPipelineByID :one
SELECT * FROM pipelines WHERE tenant_id = @tenant_id AND id = @id;

-- name: ListPipelines :many
-- Without the source and plan, which lists do not show: each can be as large
-- as a request body, and a page holds up to 500 pipelines.
SELECT id, tenant_id, name, version, created_at, updated_at, repository_id, repository_path FROM pipelines
WHERE tenant_id = @tenant_id AND name > @after
ORDER BY name
LIMIT @lim;

-- name: DeletePipeline :execrows
DELETE FROM pipelines WHERE tenant_id = @tenant_id AND name = @name;

-- name: CountPipelines :one
SELECT count(*) FROM pipelines WHERE tenant_id = @tenant_id;

-- name: ListRepositoryAPIPipelines :many
-- A page of the pipelines stored through the API that name a connected
-- repository (not those read from its files): its webhooks run them too.
SELECT * FROM pipelines
WHERE tenant_id = @tenant_id AND repository_id = @repository_id AND repository_path = ''
  AND name > @after
ORDER BY name
LIMIT @lim;

-- name: PipelineTriggerSettings :many
-- The `on` and `inputs` of the tenant's pipelines in ids, from their plans:
-- what a list needs to offer a manual run, without the rest of the plan.
SELECT id, (plan -> 'on')::jsonb AS trigger_on, (plan -> 'inputs')::jsonb AS inputs FROM pipelines
WHERE tenant_id = @tenant_id AND id = ANY(@ids::uuid[]);
