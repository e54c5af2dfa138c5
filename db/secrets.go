package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
	"github.com/buildit-ci/buildit/db/secretbox"
)

// SecretMeta describes a tenant secret without its value, which only
// SecretValues returns.
type SecretMeta struct {
	TenantID uuid.UUID
	Name     string
	// KeyID names the key the value is sealed under.
	KeyID     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// secretAAD binds a sealed value to its row: a ciphertext copied to another
// tenant or name does not open.
func secretAAD(tenantID uuid.UUID, name string) []byte {
	aad := make([]byte, 0, 32+len(name))
	aad = append(aad, "buildit secret v1\x00"...)
	aad = append(aad, tenantID[:]...)
	return append(aad, name...)
}

// PutSecret seals value and stores it as tenantID's secret name, replacing
// any value it had. Names are environment variable names
// ([A-Za-z_][A-Za-z0-9_]*, up to 128 characters).
func (r TenantRepo) PutSecret(ctx context.Context, tenantID uuid.UUID, name, value string) (SecretMeta, error) {
	if r.h.box == nil {
		return SecretMeta{}, fmt.Errorf("put secret %q: %w", name, ErrNoSecretKey)
	}
	sealed, err := r.h.box.Seal([]byte(value), secretAAD(tenantID, name))
	if err != nil {
		return SecretMeta{}, fmt.Errorf("put secret %q: %w", name, err)
	}
	row, err := r.h.q.PutSecret(ctx, sqlcdb.PutSecretParams{
		TenantID:   tenantID,
		Name:       name,
		Ciphertext: sealed.Ciphertext,
		Nonce:      sealed.Nonce,
		KeyID:      sealed.KeyID,
	})
	return SecretMeta(row), wrap(err, "put secret %q", name)
}

// GetSecret returns the metadata of tenantID's secret name.
func (r TenantRepo) GetSecret(ctx context.Context, tenantID uuid.UUID, name string) (SecretMeta, error) {
	row, err := r.h.q.GetSecretMeta(ctx, sqlcdb.GetSecretMetaParams{TenantID: tenantID, Name: name})
	return SecretMeta(row), wrap(err, "get secret %q", name)
}

// ListSecrets lists the metadata of a tenant's secrets by name.
func (r TenantRepo) ListSecrets(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[SecretMeta], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[SecretMeta]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListSecrets(ctx, sqlcdb.ListSecretsParams{TenantID: tenantID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[SecretMeta]{}, wrap(err, "list secrets of tenant %s", tenantID)
	}
	return pageOf(rows, size,
		func(row sqlcdb.ListSecretsRow) SecretMeta { return SecretMeta(row) },
		func(row sqlcdb.ListSecretsRow) string { return nameCursor(row.Name) }), nil
}

// DeleteSecret deletes tenantID's secret name.
func (r TenantRepo) DeleteSecret(ctx context.Context, tenantID uuid.UUID, name string) error {
	n, err := r.h.q.DeleteSecret(ctx, sqlcdb.DeleteSecretParams{TenantID: tenantID, Name: name})
	return wrap(affected(n, err), "delete secret %q", name)
}

// SecretValues opens tenantID's secrets with the given names, for the
// engine to inject into a stage. A name the tenant has no secret for is an
// ErrNotFound naming every missing name.
func (r TenantRepo) SecretValues(ctx context.Context, tenantID uuid.UUID, names []string) (map[string]string, error) {
	values, err := r.FindSecretValues(ctx, tenantID, names)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range names {
		if _, ok := values[name]; !ok && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("read secrets: %w: %s", ErrNotFound, strings.Join(missing, ", "))
	}
	return values, nil
}

// FindSecretValues opens those of tenantID's secrets with the given names
// that exist; names it has no secret for are left out of the map.
func (r TenantRepo) FindSecretValues(ctx context.Context, tenantID uuid.UUID, names []string) (map[string]string, error) {
	if len(names) == 0 {
		return map[string]string{}, nil
	}
	if r.h.box == nil {
		return nil, fmt.Errorf("read secrets: %w", ErrNoSecretKey)
	}
	rows, err := r.h.q.GetSealedSecrets(ctx, sqlcdb.GetSealedSecretsParams{TenantID: tenantID, Names: names})
	if err != nil {
		return nil, wrap(err, "read secrets of tenant %s", tenantID)
	}
	values := make(map[string]string, len(rows))
	for _, row := range rows {
		plain, err := r.h.box.Open(secretbox.Sealed{Ciphertext: row.Ciphertext, Nonce: row.Nonce, KeyID: row.KeyID},
			secretAAD(tenantID, row.Name))
		if err != nil {
			return nil, fmt.Errorf("read secret %q: %w", row.Name, err)
		}
		values[row.Name] = string(plain)
	}
	return values, nil
}
