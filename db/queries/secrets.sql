-- name: PutSecret :one
INSERT INTO secrets (tenant_id, name, ciphertext, nonce, key_id)
VALUES (@tenant_id, @name, @ciphertext, @nonce, @key_id)
ON CONFLICT (tenant_id, name) DO UPDATE
SET ciphertext = excluded.ciphertext,
    nonce = excluded.nonce,
    key_id = excluded.key_id,
    updated_at = now()
RETURNING tenant_id, name, key_id, created_at, updated_at;

-- name: GetSecretMeta :one
SELECT tenant_id, name, key_id, created_at, updated_at
FROM secrets WHERE tenant_id = @tenant_id AND name = @name;

-- name: ListSecrets :many
SELECT tenant_id, name, key_id, created_at, updated_at
FROM secrets
WHERE tenant_id = @tenant_id AND name > @after
ORDER BY name
LIMIT @lim;

-- name: DeleteSecret :execrows
DELETE FROM secrets WHERE tenant_id = @tenant_id AND name = @name;

-- name: GetSealedSecrets :many
SELECT name, ciphertext, nonce, key_id
FROM secrets
WHERE tenant_id = @tenant_id AND name = ANY(@names::text[]);
