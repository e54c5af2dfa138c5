package db

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// Session is a web login. Only a hash of its token is stored.
type Session struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	ExpiresAt  time.Time
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// SessionRepo holds web sessions.
type SessionRepo struct{ h handle }

// Create starts a session for userID, found later by tokenHash (a hash of
// the token the browser holds, such as its SHA-256).
func (r SessionRepo) Create(ctx context.Context, userID uuid.UUID, tokenHash []byte, expiresAt time.Time) (Session, error) {
	row, err := r.h.q.CreateSession(ctx, sqlcdb.CreateSessionParams{UserID: userID, TokenHash: tokenHash, ExpiresAt: expiresAt})
	return toSession(row), wrap(err, "create session for user %s", userID)
}

// Lookup returns the unexpired session with tokenHash and its user;
// ErrNotFound when there is none or it has expired.
func (r SessionRepo) Lookup(ctx context.Context, tokenHash []byte) (Session, User, error) {
	row, err := r.h.q.LookupSession(ctx, tokenHash)
	if err != nil {
		return Session{}, User{}, wrap(err, "look up session")
	}
	return toSession(row.Session), toUser(row.User), nil
}

// Touch records that the session was seen now and, when expiresAt is not
// nil, moves its expiry (a sliding session). It writes at most once a minute
// per session, so it is cheap to call on every request.
func (r SessionRepo) Touch(ctx context.Context, id uuid.UUID, expiresAt *time.Time) error {
	_, err := r.h.q.TouchSession(ctx, sqlcdb.TouchSessionParams{ID: id, ExpiresAt: expiresAt})
	return wrap(err, "touch session %s", id)
}

// Delete ends the session with tokenHash (logout); ErrNotFound when there is
// none.
func (r SessionRepo) Delete(ctx context.Context, tokenHash []byte) error {
	return wrap(affected(r.h.q.DeleteSession(ctx, tokenHash)), "delete session")
}

// DeleteForUser ends every session of userID and returns how many there
// were.
func (r SessionRepo) DeleteForUser(ctx context.Context, userID uuid.UUID) (int, error) {
	n, err := r.h.q.DeleteUserSessions(ctx, userID)
	return int(n), wrap(err, "delete sessions of user %s", userID)
}

// DeleteExpired deletes expired sessions and returns how many there were.
func (r SessionRepo) DeleteExpired(ctx context.Context) (int, error) {
	n, err := r.h.q.DeleteExpiredSessions(ctx)
	return int(n), wrap(err, "delete expired sessions")
}

func toSession(row sqlcdb.Session) Session {
	return Session{
		ID:         row.ID,
		UserID:     row.UserID,
		ExpiresAt:  row.ExpiresAt,
		CreatedAt:  row.CreatedAt,
		LastSeenAt: row.LastSeenAt,
	}
}
