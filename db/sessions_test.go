package db_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/db"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	sessions := s.Sessions()
	u := mkUser(t, s)
	token := sha256.Sum256([]byte("token"))

	sess := must[db.Session](t)(sessions.Create(ctx, u.ID, token[:], time.Now().Add(time.Hour)))
	got, user, err := sessions.Lookup(ctx, token[:])
	if err != nil || got.ID != sess.ID || user.ID != u.ID || user.Email != u.Email {
		t.Fatalf("Lookup = %+v, %+v, %v", got, user, err)
	}
	other := sha256.Sum256([]byte("other"))
	if _, _, err := sessions.Lookup(ctx, other[:]); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup of an unknown token: %v", err)
	}
	if _, err := sessions.Create(ctx, u.ID, token[:], time.Now().Add(time.Hour)); !errors.Is(err, db.ErrConflict) {
		t.Errorf("Create with a taken token hash: %v", err)
	}

	// Touch writes at most once a minute: right after Create it does not.
	later := time.Now().Add(2 * time.Hour)
	if err := sessions.Touch(ctx, sess.ID, &later); err != nil {
		t.Fatal(err)
	}
	got, _, _ = sessions.Lookup(ctx, token[:])
	if !got.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("Touch within a minute moved the expiry")
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE sessions SET last_seen_at = now() - interval '5 minutes'"); err != nil {
		t.Fatal(err)
	}
	if err := sessions.Touch(ctx, sess.ID, &later); err != nil {
		t.Fatal(err)
	}
	got, _, _ = sessions.Lookup(ctx, token[:])
	if got.ExpiresAt.Sub(later).Abs() > time.Millisecond || time.Since(got.LastSeenAt) > time.Minute {
		t.Errorf("Touch: expires %v (want %v), last seen %v", got.ExpiresAt, later, got.LastSeenAt)
	}

	// Expired sessions are not found, and DeleteExpired removes them.
	old := sha256.Sum256([]byte("old"))
	must[db.Session](t)(sessions.Create(ctx, u.ID, old[:], time.Now().Add(-time.Second)))
	if _, _, err := sessions.Lookup(ctx, old[:]); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup of an expired session: %v", err)
	}
	if n := must[int](t)(sessions.DeleteExpired(ctx)); n != 1 {
		t.Errorf("DeleteExpired = %d, want 1", n)
	}

	// Logout, and logout everywhere.
	if err := sessions.Delete(ctx, token[:]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sessions.Lookup(ctx, token[:]); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup after Delete: %v", err)
	}
	if err := sessions.Delete(ctx, token[:]); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	for _, tok := range []string{"a", "b"} {
		h := sha256.Sum256([]byte(tok))
		must[db.Session](t)(sessions.Create(ctx, u.ID, h[:], time.Now().Add(time.Hour)))
	}
	if n := must[int](t)(sessions.DeleteForUser(ctx, u.ID)); n != 2 {
		t.Errorf("DeleteForUser = %d, want 2", n)
	}
}
