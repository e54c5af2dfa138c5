-- name: CreateUser :one
INSERT INTO users (email, email_canonical, name, password_hash)
VALUES (@email, buildit_email_canonical(@email), @name, sqlc.narg('password_hash'))
RETURNING *;

-- CreateUserForSignup is CreateUser with the id given, except that a taken
-- email returns the account that has it (locked, unchanged) instead of
-- failing: the caller tells the two apart by the id.
-- name: CreateUserForSignup :one
INSERT INTO users (id, email, email_canonical, name, password_hash)
VALUES (@id, @email, buildit_email_canonical(@email), @name, sqlc.narg('password_hash'))
ON CONFLICT (email_canonical) DO UPDATE SET email_canonical = users.email_canonical
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE id = @id;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email_canonical = buildit_email_canonical(@email);

-- name: UpdateUser :one
UPDATE users
SET name = coalesce(sqlc.narg('name'), name),
    password_hash = coalesce(sqlc.narg('password_hash'), password_hash),
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteUser :execrows
DELETE FROM users WHERE id = @id;

-- name: LinkOAuthIdentity :exec
INSERT INTO oauth_identities (provider, subject, user_id)
VALUES (@provider, @subject, @user_id);

-- name: GetUserByOAuthIdentity :one
SELECT u.*
FROM oauth_identities i JOIN users u ON u.id = i.user_id
WHERE i.provider = @provider AND i.subject = @subject;
