-- Pipelines, their runs, the runs' stage attempts and their logs. Every row
-- carries tenant_id, and the composite foreign keys make a run's pipeline, a
-- stage's run and a log line's run belong to the same tenant as the row.

-- +goose Up
CREATE TABLE pipelines (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            text NOT NULL,
    source          text NOT NULL,
    plan            jsonb NOT NULL DEFAULT '{}',
    version         integer NOT NULL DEFAULT 1,
    -- The number the next run gets; taken with UPDATE … RETURNING, which
    -- locks the row, so concurrent runs get distinct numbers without gaps.
    next_run_number bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pipelines_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT pipelines_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT pipelines_name_check CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE TABLE pipeline_runs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    number      bigint NOT NULL,
    status      text NOT NULL DEFAULT 'queued',
    branch      text NOT NULL DEFAULT '',
    commit_sha  text NOT NULL DEFAULT '',
    event       text NOT NULL DEFAULT '',
    trigger     text NOT NULL DEFAULT '',
    actor       text NOT NULL DEFAULT '',
    workflow_id text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    ended_at    timestamptz,
    CONSTRAINT pipeline_runs_pipeline_id_number_key UNIQUE (pipeline_id, number),
    CONSTRAINT pipeline_runs_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT pipeline_runs_pipeline_fkey FOREIGN KEY (tenant_id, pipeline_id)
        REFERENCES pipelines (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT pipeline_runs_status_check
        CHECK (status IN ('queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'))
);
CREATE INDEX pipeline_runs_tenant_time_idx ON pipeline_runs (tenant_id, created_at DESC, id DESC);

CREATE TABLE stage_runs (
    tenant_id  uuid NOT NULL,
    run_id     uuid NOT NULL,
    stage_id   text NOT NULL,
    attempt    integer NOT NULL,
    status     text NOT NULL DEFAULT 'pending',
    exit_code  integer,
    started_at timestamptz,
    ended_at   timestamptz,
    CONSTRAINT stage_runs_pkey PRIMARY KEY (run_id, stage_id, attempt),
    CONSTRAINT stage_runs_run_fkey FOREIGN KEY (tenant_id, run_id)
        REFERENCES pipeline_runs (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT stage_runs_attempt_check CHECK (attempt >= 1),
    CONSTRAINT stage_runs_status_check
        CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled'))
);

-- One row per log line: stream 0 is BuildIt's own messages, 1 stdout, 2 stderr.
CREATE TABLE stage_logs (
    tenant_id uuid NOT NULL,
    run_id    uuid NOT NULL,
    stage_id  text NOT NULL,
    attempt   integer NOT NULL,
    seq       bigint NOT NULL,
    stream    smallint NOT NULL,
    line      text NOT NULL,
    at        timestamptz NOT NULL,
    CONSTRAINT stage_logs_pkey PRIMARY KEY (run_id, stage_id, attempt, seq),
    CONSTRAINT stage_logs_run_fkey FOREIGN KEY (tenant_id, run_id)
        REFERENCES pipeline_runs (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT stage_logs_stream_check CHECK (stream BETWEEN 0 AND 2)
);
CREATE INDEX stage_logs_tenant_id_run_id_idx ON stage_logs (tenant_id, run_id);

-- +goose Down
DROP TABLE stage_logs;
DROP TABLE stage_runs;
DROP TABLE pipeline_runs;
DROP TABLE pipelines;
