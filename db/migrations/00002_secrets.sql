-- Tenant secrets, sealed with AES-256-GCM by the application (package
-- db/secretbox) under a key from configuration; key_id names that key so it
-- can rotate. The tenant id and the name are the additional data of the seal,
-- so a ciphertext copied to another row does not open.

-- +goose Up
CREATE TABLE secrets (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    ciphertext bytea NOT NULL,
    nonce      bytea NOT NULL,
    key_id     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT secrets_pkey PRIMARY KEY (tenant_id, name),
    -- Secrets become environment variables.
    CONSTRAINT secrets_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$')
);

-- +goose Down
DROP TABLE secrets;
