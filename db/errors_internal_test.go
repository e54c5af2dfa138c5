package db

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Data exceptions and program limits are the client's values at fault:
// ErrInvalid, whichever of them Postgres raised.
func TestSecurityTranslateDataExceptions(t *testing.T) {
	for _, code := range []string{
		"22021", // character_not_in_repertoire: NUL or bad UTF-8 in text
		"22P05", // untranslatable_character: \u0000 in jsonb
		"22P02", "22001", "22003", "22023", "22007", "22008", "2200H",
		"54000", // program_limit_exceeded: an index row too large
		"54001", // statement_too_complex
		"54023", // too_many_arguments
	} {
		err := translate(&pgconn.PgError{Code: code, Message: "refused"})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("code %s: %v, want ErrInvalid", code, err)
		}
	}
	// Not the client's doing: left as they are.
	for _, code := range []string{"53100", "53200", "XX000", "42P01"} {
		if err := translate(&pgconn.PgError{Code: code}); errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) {
			t.Errorf("code %s: %v, want it left alone", code, err)
		}
	}
}
