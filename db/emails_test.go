package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/rangetable"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
)

// Emails are one account whatever their Unicode form and letter case:
// full-width letters (NFKC) and case folding beyond ASCII (ß is ss).
func TestSecurityEmailCanonicalForm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	users := s.Users()
	ann, err := users.Create(ctx, db.NewUser{Email: "Ann@acme.test", Name: "Ann", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := users.Create(ctx, db.NewUser{Email: "straße@acme.test", Name: "Ss", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]db.User{"ＡＮＮ@ａｃｍｅ.test": ann, "ａｎｎ＠acme．test": ann, "STRASSE@acme.test": ss, "strasse@ACME.TEST": ss} {
		// (A full-width ＠ fails users_email_check first: the API stores
		// emails in NFKC, where it is a plain @.)
		if _, err := users.Create(ctx, db.NewUser{Email: email, Name: "Twin"}); !errors.Is(err, db.ErrConflict) && !strings.Contains(email, "＠") {
			t.Errorf("Create %s: %v, want ErrConflict on users_email_key", email, err)
		}
		if got, err := users.GetByEmail(ctx, email); err != nil || got.ID != want.ID {
			t.Errorf("GetByEmail %s = %v, %v; want %s", email, got.Email, err, want.Email)
		}
		if got, _, err := users.Credentials(ctx, email); err != nil || got.ID != want.ID {
			t.Errorf("Credentials %s = %v, %v; want %s", email, got.Email, err, want.Email)
		}
		if db.CanonicalEmail(email) != db.CanonicalEmail(want.Email) {
			t.Errorf("CanonicalEmail(%q) = %q, CanonicalEmail(%q) = %q", email, db.CanonicalEmail(email), want.Email, db.CanonicalEmail(want.Email))
		}
	}
}

// The migration that makes emails canonical succeeds on a database that
// already holds accounts which are one under the new rule: the oldest keeps
// the address; the others are kept (with their organizations) but are set
// aside, found by no email, for an operator to merge or remove.
func TestSecurityEmailMigrationWithDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.EmptyPool(t)
	if err := db.MigrateTo(ctx, pool, 7); err != nil {
		t.Fatal(err)
	}
	var ids []string
	// (users_email_check wants an ASCII @: a full-width ＠ never got in.)
	for i, email := range []string{"ann@acme.test", "ＡＮＮ@acme.test", "ａｎｎ@ａｃｍｅ．ｔｅｓｔ", "straße@acme.test", "STRASSE@acme.test", "bob@acme.test"} {
		var id string
		err := pool.QueryRow(ctx, `INSERT INTO users (email, name, created_at) VALUES ($1, 'u', now() + $2 * interval '1 second') RETURNING id`, email, i).Scan(&id)
		if err != nil {
			t.Fatalf("insert %s before the migration: %v", email, err)
		}
		ids = append(ids, id)
	}
	if err := db.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate a database with duplicate emails: %v", err)
	}
	s := db.NewStore(pool, nil)
	for email, want := range map[string]string{"ANN@ACME.TEST": ids[0], "ａｎｎ@acme.test": ids[0], "strasse@acme.test": ids[3], "bob@acme.test": ids[5]} {
		if u, err := s.Users().GetByEmail(ctx, email); err != nil || u.ID.String() != want {
			t.Errorf("GetByEmail %s = %v, %v; want user %s", email, u.ID, err, want)
		}
	}
	// The set-aside accounts are still there, found by id.
	var aside []string
	rows, err := pool.Query(ctx, `SELECT id::text FROM users WHERE email_canonical LIKE '!duplicate:%' ORDER BY created_at`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		aside = append(aside, id)
	}
	if rows.Err() != nil || strings.Join(aside, ",") != strings.Join([]string{ids[1], ids[2], ids[4]}, ",") {
		t.Errorf("set aside %v (%v), want %v", aside, rows.Err(), []string{ids[1], ids[2], ids[4]})
	}
}

// The database's canonical form of an email (buildit_email_canonical, which
// the unique index and every lookup use) is the same as db.CanonicalEmail
// in Go: for every character that Go's canonical form changes, and for a
// sample of the others, among the characters assigned in the Unicode
// version of the database's tables (Postgres 15 has Unicode 14's, 16 has
// 15's as golang.org/x/text does: on 15 the 62 compatibility characters
// that Unicode 15 added are normalised by Go only).
func TestEmailCanonicalSQLMatchesGo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	// unicode_version() is new in Postgres 16; 15 has Unicode 14's tables
	// and 13 and 14 have 13's: assume the older.
	pgVersion := "13.0"
	var v string
	if err := pool.QueryRow(ctx, "SELECT unicode_version()").Scan(&v); err == nil {
		pgVersion = v
	}
	assigned := assignedIn(pgVersion)
	if assigned == nil {
		t.Fatalf("no table of the characters assigned in Unicode %s or before", pgVersion)
	}
	var in []string
	for r := rune(1); r <= unicode.MaxRune; r++ {
		if !unicode.Is(assigned, r) || unicode.Is(unicode.Cs, r) {
			continue
		}
		if s := string(r); db.CanonicalEmail(s) != s || r%16 == 0 {
			in = append(in, s)
		}
	}
	// Sequences where composition after folding matters.
	in = append(in, "A\u030A", "ǅ\u0301", "ﬃ\u0301", "ß\u0301", "K\u0301", "Ω\u0345", "\u1E9E", "ＡＮＮ@ａｃｍｅ．ｔｅｓｔ")
	rows, err := pool.Query(ctx, `SELECT s, buildit_email_canonical(s) FROM unnest($1::text[]) s`, in)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	bad := 0
	for rows.Next() {
		var s, got string
		if err := rows.Scan(&s, &got); err != nil {
			t.Fatal(err)
		}
		if want := db.CanonicalEmail(s); got != want {
			if bad++; bad <= 20 {
				t.Errorf("%+q: SQL %+q, Go %+q", s, got, want)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if bad > 20 {
		t.Errorf("... %d differences in all", bad)
	}
	t.Logf("%d strings compared (Unicode %s)", len(in), pgVersion)
}

// assignedIn returns the characters assigned in Unicode version v, or in
// the latest version before it that golang.org/x/text has a table of.
func assignedIn(v string) *unicode.RangeTable {
	var major, minor int
	if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err != nil {
		return nil
	}
	for ; major >= 10; major, minor = major-1, 0 {
		for m := minor; m >= 0; m-- {
			if t := rangetable.Assigned(fmt.Sprintf("%d.%d.0", major, m)); t != nil {
				return t
			}
		}
	}
	return nil
}
