-- Artifacts (archives a stage kept, downloadable after the run, restored by
-- later stages and reruns) and caches (archives kept between runs under a
-- key). The archives live in the blob store; these rows are the catalog.
-- Every row carries its tenant, and every query filters on it.

-- +goose Up
-- How long a tenant's artifacts are kept; the sweeper of `buildit server`
-- deletes them (row and blob) once expires_at has passed.
ALTER TABLE tenants ADD COLUMN artifact_retention_days integer NOT NULL DEFAULT 30,
    ADD CONSTRAINT tenants_artifact_retention_days_check CHECK (artifact_retention_days BETWEEN 1 AND 400);

CREATE TABLE artifacts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL,
    run_id     uuid NOT NULL,
    stage_id   text NOT NULL,
    name       text NOT NULL,
    blob_key   text NOT NULL,
    size       bigint NOT NULL,
    digest     text NOT NULL,
    files      integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT artifacts_run_id_stage_id_name_key UNIQUE (run_id, stage_id, name),
    CONSTRAINT artifacts_run_fkey FOREIGN KEY (tenant_id, run_id)
        REFERENCES pipeline_runs (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT artifacts_size_check CHECK (size >= 0),
    CONSTRAINT artifacts_files_check CHECK (files >= 0)
);
-- The sweeper's scan, and a tenant's total for its quota.
CREATE INDEX artifacts_tenant_id_expires_at_idx ON artifacts (tenant_id, expires_at);
CREATE INDEX artifacts_expires_at_idx ON artifacts (expires_at);

-- The catalog finds a run by its workflow's run ID (what the engine knows).
CREATE INDEX pipeline_runs_workflow_id_idx ON pipeline_runs (tenant_id, workflow_id);

CREATE TABLE caches (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    pipeline     text NOT NULL,
    branch       text NOT NULL,
    key          text NOT NULL,
    blob_key     text NOT NULL,
    size         bigint NOT NULL,
    digest       text NOT NULL,
    files        integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT caches_tenant_id_pipeline_branch_key_key UNIQUE (tenant_id, pipeline, branch, key),
    CONSTRAINT caches_size_check CHECK (size >= 0),
    CONSTRAINT caches_files_check CHECK (files >= 0)
);
CREATE INDEX caches_tenant_id_last_used_at_idx ON caches (tenant_id, last_used_at DESC);
CREATE INDEX artifacts_tenant_id_blob_key_idx ON artifacts (tenant_id, blob_key);

-- Blobs whose row is gone, to delete from the blob store. A row's delete
-- (by the sweeper, the API, or a cascade from its run, pipeline or tenant)
-- and an upsert that points a row at another blob queue the old blob in
-- the same transaction, so no blob is forgotten; the sweeper deletes the
-- blob, then the queue entry, and retries a failed delete on its next
-- sweep. No foreign key: the tenant may be gone already.
CREATE TABLE blob_deletions (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    blob_key   text NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT ''
);

-- +goose StatementBegin
CREATE FUNCTION buildit_queue_blob_deletion() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.blob_key <> NEW.blob_key THEN
        INSERT INTO blob_deletions (tenant_id, blob_key) VALUES (OLD.tenant_id, OLD.blob_key);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER artifacts_queue_blob_deletion AFTER DELETE OR UPDATE OF blob_key ON artifacts
    FOR EACH ROW EXECUTE FUNCTION buildit_queue_blob_deletion();
CREATE TRIGGER caches_queue_blob_deletion AFTER DELETE OR UPDATE OF blob_key ON caches
    FOR EACH ROW EXECUTE FUNCTION buildit_queue_blob_deletion();

-- +goose Down
DROP TABLE blob_deletions;
DROP TABLE caches;
DROP INDEX pipeline_runs_workflow_id_idx;
DROP TABLE artifacts;
DROP FUNCTION buildit_queue_blob_deletion();
ALTER TABLE tenants DROP CONSTRAINT tenants_artifact_retention_days_check,
    DROP COLUMN artifact_retention_days;
