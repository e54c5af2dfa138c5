// Package auth holds BuildIt's credentials: password hashes (argon2id),
// session tokens and API keys. Only hashes of tokens and keys are stored;
// the secrets themselves exist once, in the response that hands them out.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's Password Storage Cheat Sheet's minimum for
// argon2id (19 MiB of memory, 2 passes, 1 lane). RFC 9106 (section 4)
// recommends more: 2 GiB and 1 pass, or, where memory is short, 64 MiB, 3
// passes and 4 lanes. We take OWASP's, which it rates as strong as its
// other settings that trade memory for passes (46 MiB and 1 pass, 12 MiB
// and 3), so that a login costs about 20 ms on a small machine and a burst
// of logins does not exhaust its memory. Stored hashes carry their own
// parameters, so raising these later still verifies older hashes.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// MinPasswordLength is the fewest characters a new password may have.
const MinPasswordLength = 12

// MaxPasswordLength bounds the work one login can ask for.
const MaxPasswordLength = 256

// ErrMismatch is returned when a password or secret does not match its hash.
var ErrMismatch = errors.New("auth: mismatch")

var b64 = base64.RawStdEncoding

// HashPassword returns an argon2id hash of password in the PHC string
// format ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash (made by
// HashPassword, with whatever parameters it had then): nil or ErrMismatch.
func CheckPassword(hash, password string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("auth: unknown password hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("auth: unknown argon2 version")
	}
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil {
		return errors.New("auth: bad argon2 parameters")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return errors.New("auth: bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return errors.New("auth: bad hash")
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummyHash is checked against when a login names no known user, so that
// the answer takes as long as for a wrong password.
var dummyHash, _ = HashPassword("buildit-dummy-password")

// BurnPasswordCheck spends the time of one password check.
func BurnPasswordCheck(password string) { _ = CheckPassword(dummyHash, password) }

// randomString returns n random bytes, URL-safe base64 without padding.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the SHA-256 of a high-entropy secret (a session token
// or an API key's secret part). Such secrets need no slow hash: they are 256
// random bits, not something a person chose.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NewSessionToken returns a new session token (256 random bits).
func NewSessionToken() string { return randomString(32) }

// APIKeyPrefix starts every API key, so that a leaked key is recognisable
// (secret scanners) and keys cannot be mistaken for session tokens.
const APIKeyPrefix = "bik_"

// APIKey is a new API key: Key is shown to its creator once; Prefix (public,
// unique) and Hash are stored.
type APIKey struct {
	Key    string
	Prefix string
	Hash   []byte
}

// NewAPIKey returns a new key "bik_<prefix>_<secret>": an 8-character
// public prefix that identifies it and a 256-bit secret.
func NewAPIKey() APIKey {
	prefix := strings.ToLower(strings.NewReplacer("-", "a", "_", "b").Replace(randomString(6)))
	secret := randomString(32)
	return APIKey{Key: APIKeyPrefix + prefix + "_" + secret, Prefix: prefix, Hash: HashToken(secret)}
}

// ParseAPIKey splits a key into its public prefix and its secret part.
func ParseAPIKey(key string) (prefix, secret string, ok bool) {
	rest, found := strings.CutPrefix(key, APIKeyPrefix)
	if !found {
		return "", "", false
	}
	prefix, secret, found = strings.Cut(rest, "_")
	if !found || len(prefix) != 8 || len(secret) < 32 {
		return "", "", false
	}
	return prefix, secret, true
}

// CheckToken reports whether secret hashes to hash, in constant time.
func CheckToken(hash []byte, secret string) bool {
	return subtle.ConstantTimeCompare(HashToken(secret), hash) == 1
}
