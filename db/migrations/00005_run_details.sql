-- What server mode needs to show runs: why a stage ended as it did, why a
-- run failed, the request that started it (env overrides, repository), a
-- run that it reruns, and the concurrency group it belongs to.

-- +goose Up
ALTER TABLE stage_runs ADD COLUMN error text NOT NULL DEFAULT '';
ALTER TABLE pipeline_runs
    ADD COLUMN error text NOT NULL DEFAULT '',
    ADD COLUMN params jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN rerun_of bigint,
    ADD COLUMN concurrency_group text NOT NULL DEFAULT '';
-- Run lists filtered by status or branch, newest first.
CREATE INDEX pipeline_runs_pipeline_status_idx ON pipeline_runs (tenant_id, pipeline_id, status, number DESC);
CREATE INDEX pipeline_runs_pipeline_branch_idx ON pipeline_runs (tenant_id, pipeline_id, branch, number DESC);
-- Runs in progress of a tenant, for concurrency groups and plan limits.
CREATE INDEX pipeline_runs_active_idx ON pipeline_runs (tenant_id, concurrency_group)
    WHERE status IN ('queued', 'running', 'waiting');

-- +goose Down
DROP INDEX pipeline_runs_active_idx;
DROP INDEX pipeline_runs_pipeline_branch_idx;
DROP INDEX pipeline_runs_pipeline_status_idx;
ALTER TABLE pipeline_runs
    DROP COLUMN concurrency_group,
    DROP COLUMN rerun_of,
    DROP COLUMN params,
    DROP COLUMN error;
ALTER TABLE stage_runs DROP COLUMN error;
