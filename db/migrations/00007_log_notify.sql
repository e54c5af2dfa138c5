-- Wake-ups for followed logs: every statement that stores log lines or
-- changes stage attempts notifies the channel buildit_stage_logs with the
-- IDs of the runs it touched, so that servers following a log read again
-- at once instead of on their next poll.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION buildit_notify_stage_logs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('buildit_stage_logs', r.run_id::text) FROM (SELECT DISTINCT run_id FROM new_rows) r;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER stage_logs_notify AFTER INSERT ON stage_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION buildit_notify_stage_logs();
CREATE TRIGGER stage_runs_insert_notify AFTER INSERT ON stage_runs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION buildit_notify_stage_logs();
CREATE TRIGGER stage_runs_update_notify AFTER UPDATE ON stage_runs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION buildit_notify_stage_logs();

-- +goose Down
DROP TRIGGER stage_runs_update_notify ON stage_runs;
DROP TRIGGER stage_runs_insert_notify ON stage_runs;
DROP TRIGGER stage_logs_notify ON stage_logs;
DROP FUNCTION buildit_notify_stage_logs();
