-- Organizations, users and everything that decides who may do what: org and
-- tenant memberships, OAuth identities, web sessions, API keys, audit logs.
-- Tenants live here too, since API keys and tenant memberships point at them.

-- +goose Up
CREATE TABLE organizations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug       text NOT NULL,
    name       text NOT NULL,
    plan       text NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_slug_key UNIQUE (slug),
    CONSTRAINT organizations_slug_check CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT organizations_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT organizations_plan_check CHECK (plan IN ('free', 'pro', 'enterprise'))
);

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    name          text NOT NULL DEFAULT '',
    -- NULL for a user who signs in only through OAuth.
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_check CHECK (length(email) BETWEEN 3 AND 320 AND email LIKE '%_@_%'),
    CONSTRAINT users_name_check CHECK (length(name) <= 200)
);
-- Emails are unique whatever their case; lookups use lower(email) too.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE oauth_identities (
    provider   text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_identities_pkey PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_user_id_idx ON oauth_identities (user_id);

CREATE TABLE org_memberships (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT org_memberships_pkey PRIMARY KEY (org_id, user_id),
    CONSTRAINT org_memberships_role_check CHECK (role IN ('owner', 'admin', 'member'))
);
CREATE INDEX org_memberships_user_id_idx ON org_memberships (user_id);

CREATE TABLE sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A hash of the token the browser holds; the token itself is never stored.
    token_hash   bytea NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE tenants (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    slug       text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_org_id_slug_key UNIQUE (org_id, slug),
    -- The target of composite foreign keys that keep a row's org and tenant
    -- consistent.
    CONSTRAINT tenants_org_id_id_key UNIQUE (org_id, id),
    CONSTRAINT tenants_slug_check CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT tenants_name_check CHECK (length(name) BETWEEN 1 AND 200)
);

-- A tenant member must be a member of the tenant's organization: removing
-- someone from the organization removes them from its tenants.
CREATE TABLE tenant_memberships (
    org_id     uuid NOT NULL,
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    role       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_memberships_pkey PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT tenant_memberships_tenant_fkey FOREIGN KEY (org_id, tenant_id)
        REFERENCES tenants (org_id, id) ON DELETE CASCADE,
    CONSTRAINT tenant_memberships_org_membership_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES org_memberships (org_id, user_id) ON DELETE CASCADE,
    CONSTRAINT tenant_memberships_role_check CHECK (role IN ('admin', 'member', 'viewer'))
);
CREATE INDEX tenant_memberships_org_id_user_id_idx ON tenant_memberships (org_id, user_id);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- NULL for an org-wide key.
    tenant_id    uuid,
    name         text NOT NULL,
    -- The public part of the key, shown in lists and used to find the row.
    prefix       text NOT NULL,
    -- A hash of the secret part; the secret itself is never stored.
    secret_hash  bytea NOT NULL,
    scopes       text[] NOT NULL DEFAULT '{}',
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
    CONSTRAINT api_keys_tenant_fkey FOREIGN KEY (org_id, tenant_id)
        REFERENCES tenants (org_id, id) ON DELETE CASCADE,
    CONSTRAINT api_keys_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT api_keys_prefix_check CHECK (length(prefix) BETWEEN 4 AND 64)
);
CREATE INDEX api_keys_org_id_created_at_idx ON api_keys (org_id, created_at, id);
CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id) WHERE tenant_id IS NOT NULL;
CREATE INDEX api_keys_created_by_idx ON api_keys (created_by) WHERE created_by IS NOT NULL;

-- Audit entries outlive the tenants, users and keys they name, so those
-- columns have no foreign key; they go only with their organization.
CREATE TABLE audit_logs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    tenant_id        uuid,
    actor_user_id    uuid,
    actor_api_key_id uuid,
    action           text NOT NULL,
    target_type      text NOT NULL DEFAULT '',
    target_id        text NOT NULL DEFAULT '',
    metadata         jsonb NOT NULL DEFAULT '{}',
    ip               inet,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_logs_action_check CHECK (length(action) BETWEEN 1 AND 100)
);
CREATE INDEX audit_logs_org_time_idx ON audit_logs (org_id, created_at DESC, id DESC);
CREATE INDEX audit_logs_org_actor_user_idx ON audit_logs (org_id, actor_user_id, created_at DESC, id DESC)
    WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_logs_org_actor_api_key_idx ON audit_logs (org_id, actor_api_key_id, created_at DESC, id DESC)
    WHERE actor_api_key_id IS NOT NULL;
CREATE INDEX audit_logs_org_action_idx ON audit_logs (org_id, action, created_at DESC, id DESC);

-- +goose Down
DROP TABLE audit_logs;
DROP TABLE api_keys;
DROP TABLE tenant_memberships;
DROP TABLE tenants;
DROP TABLE sessions;
DROP TABLE org_memberships;
DROP TABLE oauth_identities;
DROP TABLE users;
DROP TABLE organizations;
