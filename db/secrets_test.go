package db_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/secretbox"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	tenants := s.Tenants()
	o := mkOrg(t, s)
	a, b := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	const value = "hunter2-very-secret-value"

	meta := must[db.SecretMeta](t)(tenants.PutSecret(ctx, a.ID, "DB_PASSWORD", value))
	if meta.Name != "DB_PASSWORD" || meta.TenantID != a.ID || meta.KeyID != secretbox.KeyID(testKey) {
		t.Errorf("PutSecret = %+v", meta)
	}
	must[db.SecretMeta](t)(tenants.PutSecret(ctx, b.ID, "DB_PASSWORD", "b's value"))
	must[db.SecretMeta](t)(tenants.PutSecret(ctx, a.ID, "TOKEN", "t0ken"))

	got := must[map[string]string](t)(tenants.SecretValues(ctx, a.ID, []string{"DB_PASSWORD", "TOKEN"}))
	if got["DB_PASSWORD"] != value || got["TOKEN"] != "t0ken" || len(got) != 2 {
		t.Errorf("SecretValues = %v", got)
	}
	if got := must[map[string]string](t)(tenants.SecretValues(ctx, b.ID, []string{"DB_PASSWORD"})); got["DB_PASSWORD"] != "b's value" {
		t.Errorf("SecretValues of tenant b = %v", got)
	}
	_, err := tenants.SecretValues(ctx, b.ID, []string{"DB_PASSWORD", "TOKEN", "NOPE"})
	if !errors.Is(err, db.ErrNotFound) || !strings.Contains(err.Error(), "TOKEN, NOPE") {
		t.Errorf("SecretValues with missing names: %v", err)
	}
	if got := must[map[string]string](t)(tenants.FindSecretValues(ctx, b.ID, []string{"DB_PASSWORD", "TOKEN", "NOPE"})); len(got) != 1 || got["DB_PASSWORD"] != "b's value" {
		t.Errorf("FindSecretValues with missing names = %v, want b's one secret", got)
	}

	// The database holds no plaintext.
	var ciphertext, nonce []byte
	if err := s.Pool().QueryRow(ctx, "SELECT ciphertext, nonce FROM secrets WHERE tenant_id = $1 AND name = 'DB_PASSWORD'", a.ID).Scan(&ciphertext, &nonce); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ciphertext, []byte(value)) || bytes.Contains(ciphertext, []byte("hunter2")) || len(nonce) != 12 {
		t.Errorf("stored ciphertext holds the plaintext, or bad nonce (%d bytes)", len(nonce))
	}

	// A ciphertext moved to another row does not open there.
	if _, err := s.Pool().Exec(ctx, `UPDATE secrets SET ciphertext = $1, nonce = $2 WHERE tenant_id = $3 AND name = 'DB_PASSWORD'`, ciphertext, nonce, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = tenants.SecretValues(ctx, b.ID, []string{"DB_PASSWORD"})
	if !errors.Is(err, secretbox.ErrOpen) || strings.Contains(err.Error(), value) {
		t.Errorf("moved ciphertext: %v, want ErrOpen", err)
	}

	// Put replaces the value; metadata never holds it.
	up := must[db.SecretMeta](t)(tenants.PutSecret(ctx, a.ID, "TOKEN", "new"))
	if !up.UpdatedAt.After(up.CreatedAt) && !up.UpdatedAt.Equal(up.CreatedAt) {
		t.Errorf("PutSecret again = %+v", up)
	}
	if got := must[map[string]string](t)(tenants.SecretValues(ctx, a.ID, []string{"TOKEN"})); got["TOKEN"] != "new" {
		t.Errorf("value after replace = %q", got["TOKEN"])
	}
	if m := must[db.SecretMeta](t)(tenants.GetSecret(ctx, a.ID, "TOKEN")); m.Name != "TOKEN" {
		t.Errorf("GetSecret = %+v", m)
	}
	if _, err := tenants.GetSecret(ctx, uuid.New(), "TOKEN"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetSecret in another tenant: %v", err)
	}
	list := must[db.Page[db.SecretMeta]](t)(tenants.ListSecrets(ctx, a.ID, "", 1))
	list2 := must[db.Page[db.SecretMeta]](t)(tenants.ListSecrets(ctx, a.ID, list.Next, 1))
	if len(list.Items) != 1 || list.Items[0].Name != "DB_PASSWORD" || len(list2.Items) != 1 || list2.Items[0].Name != "TOKEN" || list2.Next != "" {
		t.Errorf("ListSecrets pages = %+v, %+v", list, list2)
	}

	if _, err := tenants.PutSecret(ctx, a.ID, "not a name", "x"); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("PutSecret with a bad name: %v", err)
	}
	if err := tenants.DeleteSecret(ctx, b.ID, "TOKEN"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("DeleteSecret of another tenant's name: %v", err)
	}
	if err := tenants.DeleteSecret(ctx, a.ID, "TOKEN"); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.SecretValues(ctx, a.ID, []string{"TOKEN"}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("SecretValues after DeleteSecret: %v", err)
	}
}

func TestSecretsKeyRotationAndNoKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	must[db.SecretMeta](t)(s.Tenants().PutSecret(ctx, tn.ID, "OLD", "sealed under the old key"))

	newKey := bytes.Repeat([]byte{7}, 32)
	box := must[*secretbox.Box](t)(secretbox.New(newKey, testKey))
	rotated := db.NewStore(s.Pool(), box)
	meta := must[db.SecretMeta](t)(rotated.Tenants().PutSecret(ctx, tn.ID, "NEW", "sealed under the new key"))
	if meta.KeyID != secretbox.KeyID(newKey) {
		t.Errorf("new secret's key id = %s", meta.KeyID)
	}
	got := must[map[string]string](t)(rotated.Tenants().SecretValues(ctx, tn.ID, []string{"OLD", "NEW"}))
	if got["OLD"] != "sealed under the old key" || got["NEW"] != "sealed under the new key" {
		t.Errorf("after rotation: %v", got)
	}
	// The old box cannot open what the new key sealed.
	if _, err := s.Tenants().SecretValues(ctx, tn.ID, []string{"NEW"}); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("old box on a new secret: %v", err)
	}

	keyless := db.NewStore(s.Pool(), nil)
	if _, err := keyless.Tenants().PutSecret(ctx, tn.ID, "X", "y"); !errors.Is(err, db.ErrNoSecretKey) {
		t.Errorf("PutSecret without a key: %v", err)
	}
	if _, err := keyless.Tenants().SecretValues(ctx, tn.ID, []string{"OLD"}); !errors.Is(err, db.ErrNoSecretKey) {
		t.Errorf("SecretValues without a key: %v", err)
	}
	// Metadata needs no key.
	if _, err := keyless.Tenants().GetSecret(ctx, tn.ID, "OLD"); err != nil {
		t.Errorf("GetSecret without a key: %v", err)
	}
}
