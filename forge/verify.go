package forge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// verifyHMAC checks sig (prefix, then the hex HMAC-SHA256 of body with
// secret) in constant time.
func verifyHMAC(secret []byte, sig, prefix string, body []byte) error {
	hexSig, ok := strings.CutPrefix(sig, prefix)
	if !ok || hexSig == "" {
		return ErrSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return ErrSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrSignature
	}
	return nil
}

// verifyToken checks GitLab's token, the secret itself, in constant time:
// both sides are hashed first so that not even the secret's length leaks.
func verifyToken(secret []byte, token string) error {
	if token == "" {
		return ErrSignature
	}
	want := sha256.Sum256(secret)
	got := sha256.Sum256([]byte(token))
	if !hmac.Equal(got[:], want[:]) {
		return ErrSignature
	}
	return nil
}

// firstHeader is the first of names h holds, or "".
func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}
