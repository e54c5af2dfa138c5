-- Webhook deliveries are started out of the webhook route's way: the route
-- records the delivery with the event's workflow input and answers 202; a
-- starter in the server (or, when the server restarted or Temporal was
-- unavailable, its sweeper) starts the RepositoryEvent workflow and marks
-- the delivery started. Deliveries taken before this migration were
-- started by the route itself.

-- +goose Up
ALTER TABLE webhook_deliveries
    -- The RepositoryEvent workflow's input (triggers.EventInput), until it
    -- has started; then NULL.
    ADD COLUMN input      jsonb,
    ADD COLUMN started_at timestamptz,
    -- Failed starts, and when the sweeper tries again (a backoff).
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz;
UPDATE webhook_deliveries SET started_at = received_at;
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (received_at) WHERE started_at IS NULL;

-- +goose Down
DROP INDEX webhook_deliveries_pending_idx;
ALTER TABLE webhook_deliveries
    DROP COLUMN next_attempt_at,
    DROP COLUMN attempts,
    DROP COLUMN started_at,
    DROP COLUMN input;
