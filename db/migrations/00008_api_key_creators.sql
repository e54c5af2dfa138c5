-- API keys act for the user who made them: a key works only while its
-- creator is an owner or admin of its organization (see LookupAPIKey).
-- Keys made by another key used to be stored without a creator; they
-- belong to the user behind the key that made them, found through the
-- audit log (api_key.create entries name the making key and the new one),
-- across any chain of keys made by keys. A key whose chain does not reach a
-- user (its creator's account was deleted, or the audit entry is gone)
-- keeps no creator and stops working: its organization makes a new one.

-- +goose Up
WITH RECURSIVE owned (id, created_by) AS (
    SELECT k.id, k.created_by FROM api_keys k WHERE k.created_by IS NOT NULL
    UNION
    SELECT child.id, owned.created_by
    FROM owned
    JOIN audit_logs a ON a.actor_api_key_id = owned.id AND a.action = 'api_key.create' AND a.target_type = 'api_key'
    JOIN api_keys child ON child.id::text = a.target_id AND child.org_id = a.org_id
    WHERE child.created_by IS NULL
)
UPDATE api_keys k SET created_by = owned.created_by
FROM owned
WHERE k.id = owned.id AND k.created_by IS NULL;

-- +goose Down
-- Nothing to undo: the creators found stay recorded.
SELECT 1;
