package db

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// APIKey is a key for programmatic access, org-wide or scoped to one tenant.
// Only the public prefix is kept in the clear; the secret part exists only
// as a hash, which Lookup alone returns.
type APIKey struct {
	ID    uuid.UUID
	OrgID uuid.UUID
	// TenantID is nil for an org-wide key.
	TenantID *uuid.UUID
	Name     string
	Prefix   string
	Scopes   []string
	// CreatedBy is the user the key acts for: who made it, or the user
	// behind the key that made it. Nil when that user's account was
	// deleted; such a key works for no one.
	CreatedBy  *uuid.UUID
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	CreatedAt  time.Time
	RevokedAt  *time.Time
	// CreatorRole is CreatedBy's current role in the organization, the
	// most the key may do; only Lookup sets it.
	CreatorRole OrgRole
}

// Active reports whether the key is neither revoked nor expired at now.
func (k APIKey) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// NewAPIKey is what Create needs.
type NewAPIKey struct {
	OrgID      uuid.UUID
	TenantID   *uuid.UUID
	Name       string
	Prefix     string
	SecretHash []byte
	Scopes     []string
	CreatedBy  *uuid.UUID
	ExpiresAt  *time.Time
}

// APIKeyFilter narrows List. The zero value lists the organization's keys
// that are not revoked.
type APIKeyFilter struct {
	// TenantID, when not nil, keeps the keys scoped to that tenant.
	TenantID       *uuid.UUID
	IncludeRevoked bool
}

// APIKeyRepo holds API keys.
type APIKeyRepo struct{ h handle }

// Create stores a key. A taken prefix is an ErrConflict; a tenant outside
// the organization is an ErrInvalid.
func (r APIKeyRepo) Create(ctx context.Context, k NewAPIKey) (APIKey, error) {
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	row, err := r.h.q.CreateAPIKey(ctx, sqlcdb.CreateAPIKeyParams{
		OrgID:      k.OrgID,
		TenantID:   k.TenantID,
		Name:       k.Name,
		Prefix:     k.Prefix,
		SecretHash: k.SecretHash,
		Scopes:     k.Scopes,
		CreatedBy:  k.CreatedBy,
		ExpiresAt:  k.ExpiresAt,
	})
	return toAPIKey(row), wrap(err, "create API key %q", k.Prefix)
}

// Lookup returns the working key with prefix, with its creator's current
// role, and the hash of its secret, for authentication. A key works when it
// is neither revoked nor expired and its creator is still an owner or admin
// of its organization (the membership that let them make it); any other key
// is ErrNotFound, exactly as an unknown one.
func (r APIKeyRepo) Lookup(ctx context.Context, prefix string) (APIKey, []byte, error) {
	row, err := r.h.q.LookupAPIKey(ctx, prefix)
	if err != nil {
		return APIKey{}, nil, wrap(err, "look up API key %q", prefix)
	}
	k := toAPIKey(row.ApiKey)
	k.CreatorRole = OrgRole(row.CreatorRole)
	return k, row.ApiKey.SecretHash, nil
}

// Get returns the organization's key with id, revoked or not.
func (r APIKeyRepo) Get(ctx context.Context, orgID, id uuid.UUID) (APIKey, error) {
	row, err := r.h.q.GetAPIKey(ctx, sqlcdb.GetAPIKeyParams{OrgID: orgID, ID: id})
	return toAPIKey(row), wrap(err, "get API key %s", id)
}

// List lists an organization's keys, oldest first.
func (r APIKeyRepo) List(ctx context.Context, orgID uuid.UUID, f APIKeyFilter, after string, limit int) (Page[APIKey], error) {
	t, id, err := decodeTimeIDCursor(after, minTime, uuid.Nil)
	if err != nil {
		return Page[APIKey]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListAPIKeys(ctx, sqlcdb.ListAPIKeysParams{
		OrgID:          orgID,
		TenantID:       f.TenantID,
		IncludeRevoked: f.IncludeRevoked,
		AfterTime:      t,
		AfterID:        id,
		Lim:            int32(size + 1),
	})
	if err != nil {
		return Page[APIKey]{}, wrap(err, "list API keys of organization %s", orgID)
	}
	return pageOf(rows, size, toAPIKey,
		func(row sqlcdb.ApiKey) string { return timeIDCursor(row.CreatedAt, row.ID) }), nil
}

// Revoke revokes a key; ErrNotFound when the organization has no such key
// or it is already revoked.
func (r APIKeyRepo) Revoke(ctx context.Context, orgID, id uuid.UUID) (APIKey, error) {
	row, err := r.h.q.RevokeAPIKey(ctx, sqlcdb.RevokeAPIKeyParams{OrgID: orgID, ID: id})
	return toAPIKey(row), wrap(err, "revoke API key %s", id)
}

// TouchLastUsed records that the key was used now. It writes at most once a
// minute per key, so it is cheap to call on every request.
func (r APIKeyRepo) TouchLastUsed(ctx context.Context, orgID, id uuid.UUID) error {
	_, err := r.h.q.TouchAPIKey(ctx, sqlcdb.TouchAPIKeyParams{OrgID: orgID, ID: id})
	return wrap(err, "touch API key %s", id)
}

func toAPIKey(row sqlcdb.ApiKey) APIKey {
	return APIKey{
		ID:         row.ID,
		OrgID:      row.OrgID,
		TenantID:   row.TenantID,
		Name:       row.Name,
		Prefix:     row.Prefix,
		Scopes:     row.Scopes,
		CreatedBy:  row.CreatedBy,
		ExpiresAt:  row.ExpiresAt,
		LastUsedAt: row.LastUsedAt,
		CreatedAt:  row.CreatedAt,
		RevokedAt:  row.RevokedAt,
	}
}
