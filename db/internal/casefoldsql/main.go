// Command casefoldsql prints the SQL function buildit_casefold(text): full
// Unicode case folding, as golang.org/x/text/cases.Fold does it, for
// Postgres, which has no such function before version 18 (lower() folds
// only ASCII under the C locale and is not case folding anywhere: ß stays
// ß). The migration that made emails canonical
// (db/migrations/00009_email_canonical.sql) holds its output; the test
// TestEmailCanonicalSQLMatchesGo checks that the database and Go agree on
// every character.
//
//	go run ./db/internal/casefoldsql
package main

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
)

func main() {
	fold := cases.Fold()
	var from, to strings.Builder
	type multi struct{ from, to string }
	var multis []multi
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		s := string(r)
		f := fold.String(s)
		switch {
		case f == s:
		case utf8.RuneCountInString(f) == 1:
			from.WriteString(s)
			to.WriteString(f)
		default:
			multis = append(multis, multi{s, f})
		}
	}
	// The characters that fold to several are replaced first (ß by ss),
	// then translate folds the rest one for one; what either writes is
	// folded already, so nothing is folded twice.
	var b strings.Builder
	b.WriteString("CREATE FUNCTION buildit_casefold(s text) RETURNS text\n")
	b.WriteString("    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$\n")
	b.WriteString("DECLARE\n    m text[];\nBEGIN\n    FOREACH m SLICE 1 IN ARRAY ARRAY[\n")
	for i, m := range multis {
		sep := ","
		if i == len(multis)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "        [%s, %s]%s -- %U\n", quote(m.from), quote(m.to), sep, []rune(m.from)[0])
	}
	b.WriteString("    ] LOOP\n        s := replace(s, m[1], m[2]);\n    END LOOP;\n    RETURN translate(s,\n")
	writeChunks(&b, from.String())
	b.WriteString(",\n")
	writeChunks(&b, to.String())
	b.WriteString(");\nEND\n$$;\n")
	os.Stdout.WriteString(b.String())
}

// writeChunks writes s as a concatenation of literals of 32 characters, one
// a line, so that the lines of from and to correspond.
func writeChunks(b *strings.Builder, s string) {
	r := []rune(s)
	for i := 0; i < len(r); i += 32 {
		if i > 0 {
			b.WriteString(" ||\n")
		}
		b.WriteString("        " + quote(string(r[i:min(i+32, len(r))])))
	}
}

// quote returns s as a standard SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
