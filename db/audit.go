package db

import (
	"context"
	"encoding/json"
	"math"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// AuditEntry records one change: who (a user, an API key, or both when a
// key acts for its creator), what (Action, such as "tenant.create"), to what
// (TargetType and TargetID), where (TenantID, IP) and when.
type AuditEntry struct {
	ID            int64
	OrgID         uuid.UUID
	TenantID      *uuid.UUID
	ActorUserID   *uuid.UUID
	ActorAPIKeyID *uuid.UUID
	Action        string
	TargetType    string
	TargetID      string
	// Metadata holds details of the change (an old and a new role…); never
	// put a secret's value in it.
	Metadata map[string]any
	// IP is the client's address; the zero Addr when unknown.
	IP        netip.Addr
	CreatedAt time.Time
}

// AuditFilter narrows Audit().List; zero fields match every entry.
type AuditFilter struct {
	TenantID      *uuid.UUID
	ActorUserID   *uuid.UUID
	ActorAPIKeyID *uuid.UUID
	Action        string
	// Since and Until bound CreatedAt: Since <= CreatedAt < Until.
	Since time.Time
	Until time.Time
}

// AuditRepo holds the audit log.
type AuditRepo struct{ h handle }

// Insert appends e to the log; ID and CreatedAt are set by the database and
// returned.
func (r AuditRepo) Insert(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	meta := []byte("{}")
	if len(e.Metadata) > 0 {
		var err error
		if meta, err = json.Marshal(e.Metadata); err != nil {
			return AuditEntry{}, invalid("audit metadata: %v", err)
		}
	}
	var ip *netip.Addr
	if e.IP.IsValid() {
		ip = &e.IP
	}
	row, err := r.h.q.InsertAuditEntry(ctx, sqlcdb.InsertAuditEntryParams{
		OrgID:         e.OrgID,
		TenantID:      e.TenantID,
		ActorUserID:   e.ActorUserID,
		ActorApiKeyID: e.ActorAPIKeyID,
		Action:        e.Action,
		TargetType:    e.TargetType,
		TargetID:      e.TargetID,
		Metadata:      meta,
		Ip:            ip,
	})
	if err != nil {
		return AuditEntry{}, wrap(err, "insert audit entry %q", e.Action)
	}
	return toAuditEntry(row), nil
}

// List lists an organization's audit entries, newest first.
func (r AuditRepo) List(ctx context.Context, orgID uuid.UUID, f AuditFilter, after string, limit int) (Page[AuditEntry], error) {
	beforeTime, beforeID, err := decodeTimeNumberCursor(after, maxTime, math.MaxInt64)
	if err != nil {
		return Page[AuditEntry]{}, err
	}
	since, until := f.Since, f.Until
	if since.IsZero() {
		since = minTime
	}
	if until.IsZero() {
		until = maxTime
	}
	var action *string
	if f.Action != "" {
		action = &f.Action
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListAuditEntries(ctx, sqlcdb.ListAuditEntriesParams{
		OrgID:         orgID,
		TenantID:      f.TenantID,
		ActorUserID:   f.ActorUserID,
		ActorApiKeyID: f.ActorAPIKeyID,
		Action:        action,
		Since:         since,
		Until:         until,
		BeforeTime:    beforeTime,
		BeforeID:      beforeID,
		Lim:           int32(size + 1),
	})
	if err != nil {
		return Page[AuditEntry]{}, wrap(err, "list audit entries of organization %s", orgID)
	}
	return pageOf(rows, size, toAuditEntry,
		func(row sqlcdb.AuditLog) string { return timeNumberCursor(row.CreatedAt, row.ID) }), nil
}

func toAuditEntry(row sqlcdb.AuditLog) AuditEntry {
	e := AuditEntry{
		ID:            row.ID,
		OrgID:         row.OrgID,
		TenantID:      row.TenantID,
		ActorUserID:   row.ActorUserID,
		ActorAPIKeyID: row.ActorApiKeyID,
		Action:        row.Action,
		TargetType:    row.TargetType,
		TargetID:      row.TargetID,
		CreatedAt:     row.CreatedAt,
	}
	if row.Ip != nil {
		e.IP = *row.Ip
	}
	if len(row.Metadata) > 0 && string(row.Metadata) != "{}" {
		// The column only ever holds what Insert marshalled from a map.
		_ = json.Unmarshal(row.Metadata, &e.Metadata)
	}
	return e
}
