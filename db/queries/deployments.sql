-- name: PutTarget :one
INSERT INTO targets (tenant_id, name, kind, settings, credentials_secret)
VALUES (@tenant_id, @name, @kind, @settings, @credentials_secret)
ON CONFLICT (tenant_id, name) DO UPDATE
SET kind = excluded.kind,
    settings = excluded.settings,
    credentials_secret = excluded.credentials_secret,
    updated_at = now()
RETURNING *;

-- name: GetTarget :one
SELECT * FROM targets WHERE tenant_id = @tenant_id AND name = @name;

-- name: ListTargets :many
SELECT * FROM targets WHERE tenant_id = @tenant_id AND name > @after ORDER BY name LIMIT @lim;

-- name: DeleteTarget :execrows
DELETE FROM targets WHERE tenant_id = @tenant_id AND name = @name;

-- name: PutEnvironment :one
INSERT INTO environments (tenant_id, name, protection)
VALUES (@tenant_id, @name, @protection)
ON CONFLICT (tenant_id, name) DO UPDATE
SET protection = excluded.protection,
    updated_at = now()
RETURNING *;

-- name: GetEnvironment :one
SELECT * FROM environments WHERE tenant_id = @tenant_id AND name = @name;

-- name: ListEnvironments :many
SELECT * FROM environments WHERE tenant_id = @tenant_id AND name > @after ORDER BY name LIMIT @lim;

-- name: DeleteEnvironment :execrows
DELETE FROM environments WHERE tenant_id = @tenant_id AND name = @name;

-- name: PutService :one
INSERT INTO services (tenant_id, name, settings)
VALUES (@tenant_id, @name, @settings)
ON CONFLICT (tenant_id, name) DO UPDATE
SET settings = excluded.settings,
    updated_at = now()
RETURNING *;

-- name: GetService :one
SELECT * FROM services WHERE tenant_id = @tenant_id AND name = @name;

-- name: ListServices :many
SELECT * FROM services WHERE tenant_id = @tenant_id AND name > @after ORDER BY name LIMIT @lim;

-- name: ServiceNames :many
-- The names of those of a tenant's services whose id is among ids.
SELECT id, name FROM services WHERE tenant_id = @tenant_id AND id = ANY(@ids::uuid[]);

-- name: DeleteService :execrows
DELETE FROM services WHERE tenant_id = @tenant_id AND name = @name;

-- name: LockService :one
-- Serializes revision numbers of a service's deployments.
SELECT id FROM services WHERE tenant_id = @tenant_id AND id = @id FOR UPDATE;

-- name: CreateDeployment :one
-- Run after LockService in the same transaction. The run, when given, must
-- be one of the tenant's runs, or nothing is inserted.
INSERT INTO deployments (tenant_id, service_id, environment_id, revision, image, status, actor, run_id, previous_revision,
                         target, spec, stage_id)
SELECT @tenant_id, @service_id, @environment_id,
       coalesce((SELECT max(d.revision) FROM deployments d
                 WHERE d.tenant_id = @tenant_id AND d.service_id = @service_id
                   AND d.environment_id = @environment_id), 0) + 1,
       @image, @status, @actor, sqlc.narg('run_id'),
       (SELECT max(d.revision) FROM deployments d
        WHERE d.tenant_id = @tenant_id AND d.service_id = @service_id
          AND d.environment_id = @environment_id AND d.status = 'succeeded'),
       @target, @spec, @stage_id
WHERE sqlc.narg('run_id')::uuid IS NULL
   OR EXISTS (SELECT 1 FROM pipeline_runs r WHERE r.tenant_id = @tenant_id AND r.id = sqlc.narg('run_id'))
RETURNING *;

-- name: GetDeployment :one
SELECT * FROM deployments WHERE tenant_id = @tenant_id AND id = @id;

-- name: ListDeployments :many
-- Newest first, across the tenant's services and environments.
SELECT * FROM deployments
WHERE tenant_id = @tenant_id
  AND (created_at, id) < (@before_time::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- name: ListServiceDeployments :many
-- A service's deployments to one environment, newest revision first.
SELECT * FROM deployments
WHERE tenant_id = @tenant_id AND service_id = @service_id AND environment_id = @environment_id
  AND revision < @before_revision
ORDER BY revision DESC
LIMIT @lim;

-- name: SetDeploymentStatus :one
UPDATE deployments
SET status = @status,
    finished_at = CASE WHEN @status IN ('succeeded', 'failed', 'cancelled', 'rolled_back') THEN coalesce(finished_at, now()) ELSE finished_at END
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: GetRunStageDeployment :one
-- The deployment a run's deploy stage made, if it made one.
SELECT * FROM deployments WHERE tenant_id = @tenant_id AND run_id = @run_id AND stage_id = @stage_id;

-- name: GetDeploymentByRevision :one
SELECT * FROM deployments
WHERE tenant_id = @tenant_id AND service_id = @service_id AND environment_id = @environment_id AND revision = @revision;

-- name: FinishDeployment :one
UPDATE deployments
SET status = @status,
    message = @message,
    rolled_back_to = sqlc.narg('rolled_back_to'),
    finished_at = coalesce(finished_at, now())
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: ListEnvironmentDeployments :many
-- An environment's deployments of every service, newest first.
SELECT * FROM deployments
WHERE tenant_id = @tenant_id AND environment_id = @environment_id
  AND (created_at, id) < (@before_time::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- name: GetEnvironmentByID :one
SELECT * FROM environments WHERE tenant_id = @tenant_id AND id = @id;

-- name: GetServiceByID :one
SELECT * FROM services WHERE tenant_id = @tenant_id AND id = @id;
