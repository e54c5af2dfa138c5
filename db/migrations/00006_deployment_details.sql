-- What deploy stages record: the target a deployment went to and the full
-- spec it applied (for a rollback), the stage of the run that made it (one
-- deployment per run and stage, so a retried record is no second one), how
-- it ended and which revision it rolled back to.

-- +goose Up
ALTER TABLE deployments
    ADD COLUMN target         text NOT NULL DEFAULT '',
    ADD COLUMN spec           jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN stage_id       text NOT NULL DEFAULT '',
    ADD COLUMN message        text NOT NULL DEFAULT '',
    ADD COLUMN rolled_back_to integer;
CREATE UNIQUE INDEX deployments_run_stage_key ON deployments (run_id, stage_id)
    WHERE run_id IS NOT NULL AND stage_id <> '';
CREATE INDEX deployments_environment_time_idx ON deployments (tenant_id, environment_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX deployments_environment_time_idx;
DROP INDEX deployments_run_stage_key;
ALTER TABLE deployments
    DROP COLUMN rolled_back_to,
    DROP COLUMN message,
    DROP COLUMN stage_id,
    DROP COLUMN spec,
    DROP COLUMN target;
