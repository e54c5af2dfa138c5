-- name: LookupTenant :one
-- The tenant with id, whatever its organization: for the server's own
-- workflows (a schedule's run), which hold only the tenant's ID, which
-- BuildIt itself put there.
SELECT * FROM tenants WHERE id = @id;

-- name: ListScheduledPipelines :many
-- The tenant's pipelines whose plan has schedules, with only the plan's
-- `on` (a plan can be as large as a request body).
SELECT id, tenant_id, name, version, created_at, updated_at,
       jsonb_build_object('on', plan->'on')::jsonb AS plan
FROM pipelines
WHERE tenant_id = @tenant_id AND jsonb_array_length(coalesce(plan->'on'->'schedules', '[]'::jsonb)) > 0
ORDER BY name
LIMIT @lim;
