package db_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	audit := s.Audit()
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	ann, bob := mkUser(t, s), mkUser(t, s)
	keyID := uuid.New()

	e := must[db.AuditEntry](t)(audit.Insert(ctx, db.AuditEntry{
		OrgID: o.ID, TenantID: &tn.ID, ActorUserID: &ann.ID, Action: "tenant.create",
		TargetType: "tenant", TargetID: tn.ID.String(),
		Metadata: map[string]any{"slug": tn.Slug}, IP: netip.MustParseAddr("192.0.2.7"),
	}))
	if e.ID == 0 || e.CreatedAt.IsZero() || e.IP.String() != "192.0.2.7" || e.Metadata["slug"] != tn.Slug {
		t.Errorf("Insert = %+v", e)
	}
	must[db.AuditEntry](t)(audit.Insert(ctx, db.AuditEntry{OrgID: o.ID, ActorUserID: &bob.ID, Action: "member.add"}))
	must[db.AuditEntry](t)(audit.Insert(ctx, db.AuditEntry{OrgID: o.ID, ActorAPIKeyID: &keyID, Action: "pipeline.put"}))
	must[db.AuditEntry](t)(audit.Insert(ctx, db.AuditEntry{OrgID: mkOrg(t, s).ID, ActorUserID: &ann.ID, Action: "tenant.create"}))

	all := must[db.Page[db.AuditEntry]](t)(audit.List(ctx, o.ID, db.AuditFilter{}, "", 0))
	if len(all.Items) != 3 {
		t.Fatalf("List = %d entries, want 3 (other orgs' excluded)", len(all.Items))
	}
	if all.Items[0].Action != "pipeline.put" || all.Items[2].Action != "tenant.create" {
		t.Errorf("List not newest first: %s … %s", all.Items[0].Action, all.Items[2].Action)
	}
	if all.Items[1].IP.IsValid() || all.Items[1].Metadata != nil {
		t.Errorf("entry without IP or metadata = %+v", all.Items[1])
	}

	for _, tc := range []struct {
		name   string
		filter db.AuditFilter
		want   []string
	}{
		{"by user", db.AuditFilter{ActorUserID: &ann.ID}, []string{"tenant.create"}},
		{"by key", db.AuditFilter{ActorAPIKeyID: &keyID}, []string{"pipeline.put"}},
		{"by action", db.AuditFilter{Action: "member.add"}, []string{"member.add"}},
		{"by tenant", db.AuditFilter{TenantID: &tn.ID}, []string{"tenant.create"}},
		{"since future", db.AuditFilter{Since: time.Now().Add(time.Hour)}, nil},
		{"until past", db.AuditFilter{Until: time.Now().Add(-time.Hour)}, nil},
		{"window", db.AuditFilter{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour), Action: "member.add"}, []string{"member.add"}},
	} {
		p := must[db.Page[db.AuditEntry]](t)(audit.List(ctx, o.ID, tc.filter, "", 0))
		var got []string
		for _, e := range p.Items {
			got = append(got, e.Action)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Entries inserted in one transaction share a timestamp: pages still hold
// each entry once, newest (highest id) first.
func TestAuditPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	err := s.InTx(ctx, func(tx *db.Tx) error {
		for range 25 {
			if _, err := tx.Audit().Insert(ctx, db.AuditEntry{OrgID: o.ID, Action: "x"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	after := ""
	for {
		p := must[db.Page[db.AuditEntry]](t)(s.Audit().List(ctx, o.ID, db.AuditFilter{}, after, 10))
		for _, e := range p.Items {
			ids = append(ids, e.ID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
		// An entry added between pages is newer: it does not shift them.
		must[db.AuditEntry](t)(s.Audit().Insert(ctx, db.AuditEntry{OrgID: o.ID, Action: "later"}))
	}
	if len(ids) != 25 {
		t.Fatalf("listed %d entries, want 25", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Fatalf("ids not strictly decreasing at %d: %v", i, ids)
		}
	}
}
