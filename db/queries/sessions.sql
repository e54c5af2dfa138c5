-- name: CreateSession :one
INSERT INTO sessions (user_id, token_hash, expires_at)
VALUES (@user_id, @token_hash, @expires_at)
RETURNING *;

-- name: LookupSession :one
SELECT sqlc.embed(s), sqlc.embed(u)
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash AND s.expires_at > now();

-- name: TouchSession :execrows
-- Writes at most once a minute per session: the lookup is on every request.
UPDATE sessions
SET last_seen_at = now(),
    expires_at = coalesce(sqlc.narg('expires_at'), expires_at)
WHERE id = @id AND last_seen_at < now() - interval '1 minute';

-- name: DeleteSession :execrows
DELETE FROM sessions WHERE token_hash = @token_hash;

-- name: DeleteUserSessions :execrows
DELETE FROM sessions WHERE user_id = @user_id;

-- name: DeleteExpiredSessions :execrows
DELETE FROM sessions WHERE expires_at <= now();
