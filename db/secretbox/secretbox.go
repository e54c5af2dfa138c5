// Package secretbox seals small values (tenant secrets) with AES-256-GCM
// under a key from configuration. Each seal records the id of its key, so a
// new key can take over while values sealed under the old one still open.
// Neither errors nor the Box's String form ever contain a key or a value.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// ErrOpen is returned when a sealed value does not open, because it was
// altered, sealed with other additional data, or under a key the Box does
// not have.
var ErrOpen = errors.New("secretbox: cannot open sealed value")

// Box seals with its current key and opens with it or any previous one.
// It is safe for concurrent use.
type Box struct {
	current string
	aeads   map[string]cipher.AEAD
}

// Sealed is a sealed value as it is stored: the ciphertext (with its
// authentication tag), the nonce it was sealed with, and the id of the key.
type Sealed struct {
	Ciphertext []byte
	Nonce      []byte
	KeyID      string
}

// New returns a Box that seals under key and opens values sealed under key or
// any of previous. Every key must be KeySize bytes.
func New(key []byte, previous ...[]byte) (*Box, error) {
	b := &Box{aeads: make(map[string]cipher.AEAD, 1+len(previous))}
	for i, k := range append([][]byte{key}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		id := KeyID(k)
		if i == 0 {
			b.current = id
		}
		b.aeads[id] = aead
	}
	return b, nil
}

// KeyID returns the id under which values sealed with key are recorded: the
// first 8 bytes, in hex, of a SHA-256 of the key in a domain of its own.
// It names the key without revealing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("buildit secretbox key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// ParseKey decodes a key from configuration: 32 bytes written as 64 hex
// digits or in standard or URL-safe base64.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("secretbox: a key is %d bytes, written as 64 hex digits or in base64", KeySize)
}

// KeyID returns the id of the key the Box seals with.
func (b *Box) KeyID() string { return b.current }

// String names the Box by its key id only.
func (b *Box) String() string { return "secretbox(" + b.current + ")" }

// Seal seals plaintext under the current key with a fresh random nonce.
// additionalData is authenticated but not stored: Open needs the same.
func (b *Box) Seal(plaintext, additionalData []byte) (Sealed, error) {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return Sealed{
		Ciphertext: aead.Seal(nil, nonce, plaintext, additionalData),
		Nonce:      nonce,
		KeyID:      b.current,
	}, nil
}

// Open returns the plaintext of s, or an error wrapping ErrOpen.
func (b *Box) Open(s Sealed, additionalData []byte) ([]byte, error) {
	aead, ok := b.aeads[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrOpen, s.KeyID)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: bad nonce", ErrOpen)
	}
	out, err := aead.Open(nil, s.Nonce, s.Ciphertext, additionalData)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrOpen)
	}
	return out, nil
}
