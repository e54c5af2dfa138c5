-- Deployment targets, environments, services and the deployments of a
-- service to an environment, numbered by revision.

-- +goose Up
CREATE TABLE targets (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name               text NOT NULL,
    kind               text NOT NULL,
    settings           jsonb NOT NULL DEFAULT '{}',
    -- The name of the tenant secret holding the target's credentials.
    credentials_secret text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT targets_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT targets_kind_check CHECK (kind IN ('kubernetes', 'fly')),
    CONSTRAINT targets_name_check CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE TABLE environments (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    -- {"require_approval": bool, "allowed_branches": [glob, …]}
    protection jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT environments_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT environments_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT environments_name_check CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE TABLE services (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    settings   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT services_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT services_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT services_name_check CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE TABLE deployments (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL,
    service_id        uuid NOT NULL,
    environment_id    uuid NOT NULL,
    revision          integer NOT NULL,
    image             text NOT NULL,
    status            text NOT NULL DEFAULT 'pending',
    actor             text NOT NULL DEFAULT '',
    -- The run that deployed, while it exists (the insert checks its tenant).
    run_id            uuid REFERENCES pipeline_runs (id) ON DELETE SET NULL,
    -- The revision that was live (the last succeeded one) when this began.
    previous_revision integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CONSTRAINT deployments_revision_key UNIQUE (service_id, environment_id, revision),
    CONSTRAINT deployments_service_fkey FOREIGN KEY (tenant_id, service_id)
        REFERENCES services (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deployments_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deployments_status_check
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'rolled_back')),
    CONSTRAINT deployments_image_check CHECK (length(image) BETWEEN 1 AND 1000)
);
CREATE INDEX deployments_tenant_time_idx ON deployments (tenant_id, created_at DESC, id DESC);
CREATE INDEX deployments_environment_id_idx ON deployments (environment_id);
CREATE INDEX deployments_run_id_idx ON deployments (run_id) WHERE run_id IS NOT NULL;

-- +goose Down
DROP TABLE deployments;
DROP TABLE services;
DROP TABLE environments;
DROP TABLE targets;
