package db

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Page sizes: a limit of zero or less means DefaultPageSize, and a limit
// above MaxPageSize is lowered to it.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Page is one page of a list. Lists are in a fixed order and paginated by
// key, not by offset, so a page boundary is stable while rows are added or
// removed elsewhere in the list.
type Page[T any] struct {
	Items []T
	// Next is the cursor of the following page, to pass back as the list's
	// after argument; empty on the last page. It is opaque and URL-safe.
	Next string
}

func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageSize
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}

// pageOf makes a page from rows fetched with a limit of size+1: the extra row
// only says that there is a next page.
func pageOf[R, T any](rows []R, size int, conv func(R) T, cursor func(R) string) Page[T] {
	p := Page[T]{Items: make([]T, 0, min(len(rows), size))}
	if len(rows) > size {
		rows = rows[:size]
		p.Next = cursor(rows[size-1])
	}
	for _, r := range rows {
		p.Items = append(p.Items, conv(r))
	}
	return p
}

// Cursors are base64url text, so that callers treat them as opaque and they
// travel in URLs as they are.

func encodeCursor(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

func decodeCursor(after string, n int) ([]string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(after)
	if err != nil {
		return nil, invalid("bad page cursor")
	}
	// A cursor goes back to Postgres as text: bytes that are not UTF-8
	// would be a database error, not a bad request.
	if !utf8.Valid(raw) {
		return nil, invalid("bad page cursor")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != n {
		return nil, invalid("bad page cursor")
	}
	return parts, nil
}

// nameCursor pages lists ordered by a unique name (or slug, or email).
func nameCursor(name string) string { return encodeCursor(name) }

func decodeNameCursor(after string) (string, error) {
	if after == "" {
		return "", nil
	}
	parts, err := decodeCursor(after, 1)
	if err != nil {
		return "", err
	}
	return parts[0], nil
}

// timeIDCursor pages lists ordered by (created_at, id).
func timeIDCursor(t time.Time, id uuid.UUID) string {
	return encodeCursor(strconv.FormatInt(t.UnixMicro(), 10), id.String())
}

// decodeTimeIDCursor returns the position in the cursor, or the given
// defaults when after is empty.
func decodeTimeIDCursor(after string, defTime time.Time, defID uuid.UUID) (time.Time, uuid.UUID, error) {
	if after == "" {
		return defTime, defID, nil
	}
	parts, err := decodeCursor(after, 2)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	us, err1 := strconv.ParseInt(parts[0], 10, 64)
	id, err2 := uuid.Parse(parts[1])
	if err1 != nil || err2 != nil {
		return time.Time{}, uuid.Nil, invalid("bad page cursor")
	}
	return time.UnixMicro(us), id, nil
}

// timeNumberCursor pages lists ordered by (created_at, a bigint id).
func timeNumberCursor(t time.Time, n int64) string {
	return encodeCursor(strconv.FormatInt(t.UnixMicro(), 10), strconv.FormatInt(n, 10))
}

// decodeTimeNumberCursor returns the position in the cursor, or the given
// defaults when after is empty.
func decodeTimeNumberCursor(after string, defTime time.Time, defN int64) (time.Time, int64, error) {
	if after == "" {
		return defTime, defN, nil
	}
	parts, err := decodeCursor(after, 2)
	if err != nil {
		return time.Time{}, 0, err
	}
	us, err1 := strconv.ParseInt(parts[0], 10, 64)
	n, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, invalid("bad page cursor")
	}
	return time.UnixMicro(us), n, nil
}

// numberCursor pages lists ordered by a number (run numbers, revisions).
func numberCursor(n int64) string { return encodeCursor(strconv.FormatInt(n, 10)) }

func decodeNumberCursor(after string, def int64) (int64, error) {
	if after == "" {
		return def, nil
	}
	parts, err := decodeCursor(after, 1)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return 0, invalid("bad page cursor")
	}
	return n, nil
}

// Bounds for "no cursor yet" in lists ordered by time; Postgres keeps
// timestamps from 4713 BC to 294276 AD, Go's zero time is year 1.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)
