-- Connected repositories (a tenant's repositories on a forge, whose webhooks
-- start runs of the pipelines in them), the deliveries of their webhooks
-- already taken (the durable idempotency key: Temporal forgets workflow IDs
-- after its retention), and what links a pipeline to the file of a
-- repository it comes from. Every row carries its tenant, and the composite
-- foreign keys keep a pipeline's repository in the pipeline's tenant.

-- +goose Up
CREATE TABLE repositories (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    forge             text NOT NULL,
    -- The normalised clone URL.
    url               text NOT NULL,
    -- The forge's API base; '' derives it from url.
    api_url           text NOT NULL DEFAULT '',
    -- The name of the tenant secret holding the forge token.
    token_secret      text NOT NULL,
    -- The webhook secret, sealed as tenant secrets are (an HMAC needs the
    -- plain key, so it cannot be hashed).
    webhook_ciphertext bytea NOT NULL,
    webhook_nonce      bytea NOT NULL,
    webhook_key_id     text NOT NULL,
    pipelines_path    text NOT NULL DEFAULT '.buildit',
    -- Pull requests from forks get the tenant's secrets only when set.
    fork_secrets      boolean NOT NULL DEFAULT false,
    -- '' until a webhook tells.
    default_branch    text NOT NULL DEFAULT '',
    created_by        text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT repositories_tenant_id_url_key UNIQUE (tenant_id, url),
    CONSTRAINT repositories_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT repositories_forge_check CHECK (forge IN ('github', 'gitlab', 'gitea')),
    CONSTRAINT repositories_url_check CHECK (length(url) BETWEEN 1 AND 2048),
    CONSTRAINT repositories_pipelines_path_check CHECK (length(pipelines_path) BETWEEN 1 AND 512)
);

CREATE TABLE webhook_deliveries (
    repository_id uuid NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    delivery_id   text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (repository_id, delivery_id),
    CONSTRAINT webhook_deliveries_delivery_id_check CHECK (length(delivery_id) BETWEEN 1 AND 200)
);

ALTER TABLE pipelines ADD COLUMN repository_id uuid,
    ADD COLUMN repository_path text NOT NULL DEFAULT '',
    -- ON DELETE SET NULL (repository_id) keeps tenant_id, which is NOT NULL.
    ADD CONSTRAINT pipelines_repository_fkey FOREIGN KEY (tenant_id, repository_id)
        REFERENCES repositories (tenant_id, id) ON DELETE SET NULL (repository_id);
CREATE INDEX pipelines_repository_id_idx ON pipelines (tenant_id, repository_id) WHERE repository_id IS NOT NULL;

-- A run started with a key (a webhook's delivery and file, a schedule's
-- action) exists once per pipeline.
ALTER TABLE pipeline_runs ADD COLUMN trigger_key text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX pipeline_runs_trigger_key_idx ON pipeline_runs (pipeline_id, trigger_key) WHERE trigger_key <> '';

-- +goose Down
DROP INDEX pipeline_runs_trigger_key_idx;
ALTER TABLE pipeline_runs DROP COLUMN trigger_key;
DROP INDEX pipelines_repository_id_idx;
ALTER TABLE pipelines DROP CONSTRAINT pipelines_repository_fkey,
    DROP COLUMN repository_path,
    DROP COLUMN repository_id;
DROP TABLE webhook_deliveries;
DROP TABLE repositories;
