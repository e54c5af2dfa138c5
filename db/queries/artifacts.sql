-- name: LockTenantArtifacts :one
-- Locks the tenant's row, so that two writers of one tenant check its
-- quota and insert one after the other. The sum is read by another
-- statement after it: under READ COMMITTED that one sees what the writer
-- before committed (a subquery here would use the snapshot taken before
-- the lock was granted).
SELECT t.id FROM tenants t WHERE t.id = @tenant_id FOR UPDATE;

-- name: ArtifactUsage :one
SELECT o.plan, (SELECT coalesce(sum(a.size), 0)::bigint FROM artifacts a WHERE a.tenant_id = t.id) AS used
FROM tenants t JOIN organizations o ON o.id = t.org_id
WHERE t.id = @tenant_id;

-- name: ReplacedArtifactSize :one
-- The size of the record an upsert would replace (a retried attempt), 0
-- when none.
SELECT coalesce(sum(a.size), 0)::bigint
FROM artifacts a JOIN pipeline_runs r ON r.tenant_id = a.tenant_id AND r.id = a.run_id
WHERE a.tenant_id = @tenant_id AND r.tenant_id = @tenant_id
  AND (r.workflow_id = @run OR r.id::text = @run)
  AND a.stage_id = @stage_id AND a.name = @name;

-- name: PutArtifact :one
-- run is the run's workflow ID (what the engine knows) or its row's ID.
-- A record of the same run, stage and name replaces the earlier one.
INSERT INTO artifacts (tenant_id, run_id, stage_id, name, blob_key, size, digest, files, expires_at)
SELECT r.tenant_id, r.id, @stage_id, @name, @blob_key, @size, @digest, @files,
       now() + make_interval(days => t.artifact_retention_days)
FROM pipeline_runs r JOIN tenants t ON t.id = r.tenant_id
WHERE r.tenant_id = @tenant_id AND (r.workflow_id = @run OR r.id::text = @run)
ORDER BY r.created_at DESC
LIMIT 1
ON CONFLICT (run_id, stage_id, name) DO UPDATE
SET blob_key = excluded.blob_key,
    size = excluded.size,
    digest = excluded.digest,
    files = excluded.files,
    created_at = now(),
    expires_at = excluded.expires_at
RETURNING *;

-- name: ListArtifactsOfRun :many
-- run is the run's workflow ID or its row's ID.
SELECT a.*
FROM artifacts a JOIN pipeline_runs r ON r.tenant_id = a.tenant_id AND r.id = a.run_id
WHERE a.tenant_id = @tenant_id AND r.tenant_id = @tenant_id
  AND (r.workflow_id = @run OR r.id::text = @run)
ORDER BY a.stage_id, a.name;

-- name: GetArtifactByName :one
SELECT * FROM artifacts
WHERE tenant_id = @tenant_id AND run_id = @run_id AND name = @name
ORDER BY created_at DESC, stage_id
LIMIT 1;

-- name: DeleteArtifact :execrows
DELETE FROM artifacts WHERE tenant_id = @tenant_id AND id = @id;

-- name: DeleteExpiredArtifacts :many
-- The sweeper's, across tenants (an operator's job, not a tenant's
-- request): at most lim expired rows, each deleted once even when two
-- servers sweep at once. The trigger queues their blobs.
DELETE FROM artifacts
WHERE id IN (
    SELECT x.id FROM artifacts x
    WHERE x.expires_at <= @now
    ORDER BY x.expires_at
    LIMIT @lim
    FOR UPDATE SKIP LOCKED
)
RETURNING tenant_id, blob_key, size;

-- name: DropReferencedBlobDeletions :execrows
-- A queued blob that a row uses again (a rerun's record of a reused
-- artifact) is not deleted.
DELETE FROM blob_deletions q
WHERE EXISTS (SELECT 1 FROM artifacts a WHERE a.tenant_id = q.tenant_id AND a.blob_key = q.blob_key)
   OR EXISTS (SELECT 1 FROM caches c WHERE c.tenant_id = q.tenant_id AND c.blob_key = q.blob_key);

-- name: ListBlobDeletions :many
-- The sweeper's, across tenants: the oldest queued blobs.
SELECT * FROM blob_deletions ORDER BY id LIMIT @lim;

-- name: DoneBlobDeletion :exec
DELETE FROM blob_deletions WHERE tenant_id = @tenant_id AND id = @id;

-- name: FailBlobDeletion :exec
UPDATE blob_deletions SET attempts = attempts + 1, last_error = @last_error
WHERE tenant_id = @tenant_id AND id = @id;
