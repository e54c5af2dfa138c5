-- name: CreateRun :one
-- Takes the pipeline's next run number and inserts the run in one
-- statement; the UPDATE's row lock orders concurrent callers.
WITH n AS (
    UPDATE pipelines SET next_run_number = next_run_number + 1
    WHERE pipelines.tenant_id = @tenant_id AND pipelines.id = @pipeline_id
    RETURNING pipelines.tenant_id, pipelines.id, next_run_number - 1 AS number
)
INSERT INTO pipeline_runs (tenant_id, pipeline_id, number, status, branch, commit_sha, event, trigger, actor, workflow_id,
                           params, rerun_of, concurrency_group, trigger_key)
SELECT n.tenant_id, n.id, n.number, @status, @branch, @commit_sha, @event, @trigger, @actor, @workflow_id,
       @params, sqlc.narg('rerun_of'), @concurrency_group, @trigger_key
FROM n
RETURNING *;

-- name: GetRun :one
SELECT * FROM pipeline_runs WHERE tenant_id = @tenant_id AND id = @id;

-- name: GetRunByNumber :one
SELECT * FROM pipeline_runs
WHERE tenant_id = @tenant_id AND pipeline_id = @pipeline_id AND number = @number;

-- name: ListRuns :many
-- Newest first, across the tenant's pipelines. Lists leave out the trigger's
-- env (up to a request body, 1 MiB, a run), which only a run itself shows.
SELECT id, tenant_id, pipeline_id, number, status, branch, commit_sha, event, trigger, actor, workflow_id,
       created_at, started_at, ended_at, error, (params - 'env')::jsonb AS params, rerun_of, concurrency_group, trigger_key
FROM pipeline_runs
WHERE tenant_id = @tenant_id
  AND (created_at, id) < (@before_time::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- name: ListPipelineRuns :many
-- Newest first: by number, below before_number; status and branch filter
-- when not null. Without the trigger's env, as ListRuns.
SELECT id, tenant_id, pipeline_id, number, status, branch, commit_sha, event, trigger, actor, workflow_id,
       created_at, started_at, ended_at, error, (params - 'env')::jsonb AS params, rerun_of, concurrency_group, trigger_key
FROM pipeline_runs
WHERE tenant_id = @tenant_id AND pipeline_id = @pipeline_id AND number < @before_number
  AND (sqlc.narg('status')::text IS NULL OR status = sqlc.narg('status')::text)
  AND (sqlc.narg('branch')::text IS NULL OR branch = sqlc.narg('branch')::text)
ORDER BY number DESC
LIMIT @lim;

-- name: LatestPipelineRuns :many
-- The newest run of each of the tenant's pipelines in pipeline_ids (those
-- with a run), each found by the (pipeline_id, number) key. Without the
-- trigger's env, as ListRuns.
SELECT r.id, r.tenant_id, r.pipeline_id, r.number, r.status, r.branch, r.commit_sha, r.event, r.trigger, r.actor, r.workflow_id,
       r.created_at, r.started_at, r.ended_at, r.error, (r.params - 'env')::jsonb AS params, r.rerun_of, r.concurrency_group, r.trigger_key
FROM unnest(@pipeline_ids::uuid[]) AS p(id)
CROSS JOIN LATERAL (
    SELECT * FROM pipeline_runs
    WHERE pipeline_runs.tenant_id = @tenant_id AND pipeline_runs.pipeline_id = p.id
    ORDER BY number DESC
    LIMIT 1
) r;

-- name: SetRunStatus :one
-- A run that has ended keeps its final status: a late or replayed write of
-- an earlier status changes nothing.
UPDATE pipeline_runs
SET status = CASE WHEN status IN ('succeeded', 'failed', 'cancelled') THEN status ELSE @status END,
    error = CASE WHEN status IN ('succeeded', 'failed', 'cancelled') THEN error ELSE @error END,
    started_at = CASE WHEN @status IN ('running', 'waiting', 'succeeded', 'failed') THEN coalesce(started_at, now()) ELSE started_at END,
    ended_at = CASE WHEN @status IN ('succeeded', 'failed', 'cancelled') THEN coalesce(ended_at, now()) ELSE ended_at END
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: SetRunWorkflowID :one
UPDATE pipeline_runs SET workflow_id = @workflow_id
WHERE tenant_id = @tenant_id AND id = @id
RETURNING *;

-- name: UpsertStageRun :one
-- The run_id comes from a run of this tenant, or nothing is written.
INSERT INTO stage_runs (tenant_id, run_id, stage_id, attempt, status, exit_code, started_at, ended_at, error)
SELECT r.tenant_id, r.id, @stage_id, @attempt, @status, sqlc.narg('exit_code'), sqlc.narg('started_at'), sqlc.narg('ended_at'), @error
FROM pipeline_runs r WHERE r.tenant_id = @tenant_id AND r.id = @run_id
ON CONFLICT (run_id, stage_id, attempt) DO UPDATE
SET status = excluded.status,
    error = excluded.error,
    exit_code = coalesce(excluded.exit_code, stage_runs.exit_code),
    started_at = coalesce(excluded.started_at, stage_runs.started_at),
    ended_at = coalesce(excluded.ended_at, stage_runs.ended_at)
RETURNING *;

-- name: ListStageRuns :many
SELECT * FROM stage_runs
WHERE tenant_id = @tenant_id AND run_id = @run_id
ORDER BY coalesce(started_at, 'infinity'), stage_id, attempt;

-- name: AppendStageLogs :copyfrom
INSERT INTO stage_logs (tenant_id, run_id, stage_id, attempt, seq, stream, line, at)
VALUES (@tenant_id, @run_id, @stage_id, @attempt, @seq, @stream, @line, @at);

-- name: ReadStageLogs :many
SELECT seq, stream, line, at FROM stage_logs
WHERE tenant_id = @tenant_id AND run_id = @run_id AND stage_id = @stage_id AND attempt = @attempt
  AND seq > @after_seq
ORDER BY seq
LIMIT @lim;

-- name: LastStageLogSeq :one
-- The highest seq stored of an attempt's log, 0 when none is: max() over
-- the primary key's prefix is one backward index scan, whatever the log's
-- length.
SELECT coalesce(max(seq), 0)::bigint AS last_seq FROM stage_logs
WHERE tenant_id = @tenant_id AND run_id = @run_id AND stage_id = @stage_id AND attempt = @attempt;

-- name: ReadStageLogPage :many
-- A page of an attempt's log after after_seq, in order: the lines that fit
-- in lim lines and max_bytes bytes of line text (kept), then, when lines
-- remain, one row more with kept false and an empty line, which says so.
-- octet_length is a stored value's size, read without detoasting it, so the
-- lines past the page are counted but never read.
SELECT seq, stream, at, (CASE WHEN kept THEN line ELSE '' END)::text AS line, kept::boolean AS kept
FROM (
    SELECT seq, stream, at, line,
           n <= sqlc.arg(lim)::int AND total <= sqlc.arg(max_bytes)::bigint AS kept,
           total - octet_length(line) AS before
    FROM (
        SELECT seq, stream, at, line,
               row_number() OVER w AS n,
               sum(octet_length(line)) OVER w AS total
        FROM stage_logs
        WHERE tenant_id = @tenant_id AND run_id = @run_id AND stage_id = @stage_id AND attempt = @attempt
          AND seq > @after_seq
        WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)
        ORDER BY seq
        LIMIT sqlc.arg(lim)::int + 1
    ) page
) marked
WHERE before <= sqlc.arg(max_bytes)::bigint
ORDER BY seq;

-- name: CountActiveRuns :one
-- Runs of an organization's tenants that have not ended, for the plan's
-- limit.
SELECT count(*) FROM pipeline_runs r JOIN tenants t ON t.id = r.tenant_id
WHERE t.org_id = @org_id AND r.status IN ('queued', 'running', 'waiting');

-- name: ListActiveRunsInGroup :many
-- Runs of a tenant in a concurrency group that have not ended, oldest first.
SELECT * FROM pipeline_runs
WHERE tenant_id = @tenant_id AND concurrency_group = @concurrency_group
  AND status IN ('queued', 'running', 'waiting')
ORDER BY created_at, id;

-- name: LockOrgRuns :exec
-- lock_key is "runs:" and the organization's id. Serializes run starts of an organization until the transaction ends, so
-- that a count of its runs in progress stays true until the insert.
SELECT pg_advisory_xact_lock(hashtextextended(sqlc.arg('lock_key')::text, 0));
