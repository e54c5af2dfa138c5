package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The outcomes callers branch on, tested with errors.Is. Errors returned by
// the repositories wrap one of them when it applies, with the operation and
// (for conflicts and invalid rows) the constraint in the message, never the
// value of a secret.
var (
	// ErrNotFound: no row matched, or it belongs to another tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint refused the row (the name, slug or
	// email is taken), or the change conflicts with the current state.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a value is out of range or refers to a row that does not
	// exist (check, not-null and foreign key constraints, bad cursors), or
	// Postgres cannot store or index it (a NUL byte or invalid UTF-8 in
	// text, \u0000 in jsonb, a key too large for an index): any data
	// exception (SQLSTATE class 22) or program limit (class 54). Whatever a
	// client sends, it is never an internal error.
	ErrInvalid = errors.New("invalid")

	// ErrLastOwner: the change would leave an organization without an
	// owner. It is also an ErrConflict.
	ErrLastOwner = fmt.Errorf("%w: an organization must keep at least one owner", ErrConflict)
	// ErrVersionMismatch: an update named a version that is no longer
	// current. It is also an ErrConflict.
	ErrVersionMismatch = fmt.Errorf("%w: the version changed", ErrConflict)
	// ErrNoSecretKey: the Store has no secret box, so secrets can be
	// neither written nor read.
	ErrNoSecretKey = errors.New("no secret encryption key is configured")
)

// constraintError is a constraint violation translated to one of the
// outcomes above; it keeps the driver's error for logs.
type constraintError struct {
	kind       error
	constraint string
	err        error
}

func (e *constraintError) Error() string {
	if e.constraint == "" {
		return e.kind.Error()
	}
	return fmt.Sprintf("%v (constraint %s)", e.kind, e.constraint)
}

func (e *constraintError) Unwrap() []error { return []error{e.kind, e.err} }

// Constraint returns the name of the database constraint behind an
// ErrConflict or ErrInvalid, such as "organizations_slug_key" or
// "users_email_key", or "" when err is not a constraint violation.
func Constraint(err error) string {
	var ce *constraintError
	if errors.As(err, &ce) {
		return ce.constraint
	}
	return ""
}

// translate maps driver errors to the outcomes above; others pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	var kind error
	switch code := pgErr.Code; {
	case code == "23505", code == "23P01": // unique_violation, exclusion_violation
		kind = ErrConflict
	case code == "23503", code == "23514", code == "23502": // foreign_key, check, not_null
		kind = ErrInvalid
	case strings.HasPrefix(code, "22"), strings.HasPrefix(code, "54"):
		// data_exception: a value Postgres cannot take (NUL or invalid
		// UTF-8 in text, \u0000 in jsonb, out of range, badly formed);
		// program_limit_exceeded: a value too large to index, a statement
		// too complex. Both are the client's values at fault.
		kind = ErrInvalid
	default:
		return err
	}
	return &constraintError{kind: kind, constraint: pgErr.ConstraintName, err: err}
}

// wrap translates err and prefixes it with the operation; nil stays nil.
func wrap(err error, op string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(op, args...), translate(err))
}

// invalid returns an ErrInvalid with a message, for values refused before
// they reach the database.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// affected turns a zero row count of a delete or an update into ErrNotFound.
func affected(n int64, err error) error {
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// IsUnavailable reports whether err means Postgres could not be reached or
// went away (a refused or broken connection, a server shutting down or
// starting up, a pool that could not connect in time): the operation may
// well work again shortly, and the caller should say "unavailable" rather
// than "failed".
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &pgErr):
		// connection_exception, admin_shutdown, crash_shutdown,
		// cannot_connect_now
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) && !errors.Is(err, context.Canceled)
}
