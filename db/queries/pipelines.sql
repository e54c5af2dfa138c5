-- name: CreatePipeline :one
INSERT INTO pipelines (tenant_id, name, source, plan)
VALUES (@tenant_id, @name, @source, @plan)
RETURNING *;

-- name: PutPipeline :one
-- Creates the pipeline or replaces its source and plan, bumping its version.
INSERT INTO pipelines (tenant_id, name, source, plan)
VALUES (@tenant_id, @name, @source, @plan)
ON CONFLICT (tenant_id, name) DO UPDATE
SET source = excluded.source,
    plan = excluded.plan,
    version = pipelines.version + 1,
    updated_at = now()
RETURNING *, (xmax = 0)::boolean AS inserted;

-- name: UpdatePipeline :one
-- A zero if_version matches any version.
UPDATE pipelines
SET source = @source,
    plan = @plan,
    version = version + 1,
    updated_at = now()
WHERE tenant_id = @tenant_id AND name = @name
  AND (@if_version::integer = 0 OR version = @if_version::integer)
RETURNING *;

-- name: GetPipeline :one
SELECT * FROM pipelines WHERE tenant_id = @tenant_id AND name = @name;

-- name: GetPipelineByID :one
SELECT * FROM pipelines WHERE tenant_id = @tenant_id AND id = @id;

-- name: ListPipelines :many
-- Without the source and plan, which lists do not show: each can be as large
-- as a request body, and a page holds up to 500 pipelines.
SELECT id, tenant_id, name, version, created_at, updated_at FROM pipelines
WHERE tenant_id = @tenant_id AND name > @after
ORDER BY name
LIMIT @lim;

-- name: DeletePipeline :execrows
DELETE FROM pipelines WHERE tenant_id = @tenant_id AND name = @name;

-- name: CountPipelines :one
SELECT count(*) FROM pipelines WHERE tenant_id = @tenant_id;
