package secretbox

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

var (
	key1 = bytes.Repeat([]byte{1}, KeySize)
	key2 = bytes.Repeat([]byte{2}, KeySize)
)

func TestSealOpen(t *testing.T) {
	box, err := New(key1)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "correct horse battery staple"
	aad := []byte("tenant-1/DB_PASSWORD")
	s1, err := box.Seal([]byte(secret), aad)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := box.Seal([]byte(secret), aad)
	if bytes.Equal(s1.Nonce, s2.Nonce) || bytes.Equal(s1.Ciphertext, s2.Ciphertext) {
		t.Error("two seals of one value are equal: nonces are not fresh")
	}
	if bytes.Contains(s1.Ciphertext, []byte(secret)) || s1.KeyID != KeyID(key1) || box.KeyID() != s1.KeyID {
		t.Errorf("sealed = %+v", s1)
	}
	got, err := box.Open(s1, aad)
	if err != nil || string(got) != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}

	tampered := s1
	tampered.Ciphertext = bytes.Clone(s1.Ciphertext)
	tampered.Ciphertext[0] ^= 1
	for name, tc := range map[string]struct {
		s   Sealed
		aad []byte
	}{
		"other additional data": {s1, []byte("tenant-2/DB_PASSWORD")},
		"altered ciphertext":    {tampered, aad},
		"unknown key":           {Sealed{s1.Ciphertext, s1.Nonce, "deadbeef"}, aad},
		"short nonce":           {Sealed{s1.Ciphertext, s1.Nonce[:4], s1.KeyID}, aad},
	} {
		_, err := box.Open(tc.s, tc.aad)
		if !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the value", name)
		}
	}
}

func TestRotation(t *testing.T) {
	old, _ := New(key1)
	sealedOld, _ := old.Seal([]byte("old"), nil)

	box, err := New(key2, key1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := box.Open(sealedOld, nil); err != nil || string(got) != "old" {
		t.Errorf("Open under a previous key = %q, %v", got, err)
	}
	sealedNew, _ := box.Seal([]byte("new"), nil)
	if sealedNew.KeyID != KeyID(key2) {
		t.Errorf("new seals use key id %s, want the current key's", sealedNew.KeyID)
	}
	if _, err := old.Open(sealedNew, nil); !errors.Is(err, ErrOpen) {
		t.Errorf("old box opened a value of the new key: %v", err)
	}
}

func TestNewRefusesBadKeys(t *testing.T) {
	for _, k := range [][]byte{nil, make([]byte, 16), make([]byte, 33)} {
		if _, err := New(k); err == nil {
			t.Errorf("New accepted a %d-byte key", len(k))
		}
	}
	if _, err := New(key1, make([]byte, 8)); err == nil {
		t.Error("New accepted a bad previous key")
	}
	box, _ := New(key1)
	if s := box.String(); strings.Contains(s, string(key1)) || !strings.Contains(s, KeyID(key1)) {
		t.Errorf("String = %q", s)
	}
}

func TestParseKey(t *testing.T) {
	for _, s := range []string{
		hex.EncodeToString(key1),
		base64.StdEncoding.EncodeToString(key1),
		base64.RawURLEncoding.EncodeToString(key1),
		" " + hex.EncodeToString(key1) + "\n",
	} {
		k, err := ParseKey(s)
		if err != nil || !bytes.Equal(k, key1) {
			t.Errorf("ParseKey(%q) = %x, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "short", hex.EncodeToString(key1[:16]), strings.Repeat("z", 64)} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted it", s)
		} else if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("ParseKey's error shows the input")
		}
	}
}
