package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/buildit-ci/buildit/db"
)

// seedPipelines inserts rows of (tenant_id, name, source) with one COPY.
func seedPipelines(t testing.TB, s *db.Store, rows [][]any) {
	t.Helper()
	_, err := s.Pool().CopyFrom(context.Background(), pgx.Identifier{"pipelines"},
		[]string{"tenant_id", "name", "source"}, pgx.CopyFromRows(rows))
	if err != nil {
		t.Fatal(err)
	}
}

// benchData is a tenant with many pipelines, a neighbour tenant, and an
// organization with a long audit log.
type benchData struct {
	s      *db.Store
	org    db.Organization
	tenant db.Tenant
	names  []string
	actors []uuid.UUID
}

const (
	benchPipelines = 10_000
	benchAudit     = 100_000
)

func seedBench(b *testing.B) benchData {
	b.Helper()
	ctx := context.Background()
	s := setup(b)
	d := benchData{s: s, org: mkOrg(b, s)}
	d.tenant = mkTenant(b, s, d.org.ID)
	neighbour := mkTenant(b, s, d.org.ID)

	source := `pipeline "p"` + "\n" + `stage "build" { image "golang:1.26"; run "go build ./..." }` + "\n"
	var rows [][]any
	for i := range benchPipelines {
		name := fmt.Sprintf("pipeline-%05d", i)
		d.names = append(d.names, name)
		rows = append(rows, []any{d.tenant.ID, name, source}, []any{neighbour.ID, name, source})
	}
	seedPipelines(b, s, rows)

	for range 20 {
		d.actors = append(d.actors, uuid.New())
	}
	actions := []string{"pipeline.put", "run.create", "tenant.update", "member.add", "secret.put"}
	start := time.Now().Add(-30 * 24 * time.Hour)
	rows = rows[:0]
	for i := range benchAudit {
		rows = append(rows, []any{
			d.org.ID, d.tenant.ID, d.actors[i%len(d.actors)], actions[i%len(actions)], "pipeline",
			d.names[i%len(d.names)], start.Add(time.Duration(i) * 25 * time.Second),
		})
	}
	_, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"audit_logs"},
		[]string{"org_id", "tenant_id", "actor_user_id", "action", "target_type", "target_id", "created_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return d
}

// latencies collects per-call durations and reports their percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	slices.Sort(l)
	at := func(p float64) float64 {
		return float64(l[int(p*float64(len(l)-1))].Microseconds())
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkPipelinesList lists a page of 50 at a random place in a
// tenant's 10,000 pipelines.
func BenchmarkPipelinesList(b *testing.B) {
	d := seedBench(b)
	ctx := context.Background()
	// The cursors of every page, to start from anywhere.
	cursors := []string{""}
	for after := ""; ; {
		p, err := d.s.Pipelines().List(ctx, d.tenant.ID, after, 50)
		if err != nil {
			b.Fatal(err)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
		cursors = append(cursors, after)
	}
	var lat latencies
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		p, err := d.s.Pipelines().List(ctx, d.tenant.ID, cursors[rand.IntN(len(cursors))], 50)
		lat = append(lat, time.Since(t0))
		if err != nil || len(p.Items) == 0 {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

// BenchmarkPipelinesGet gets a random one of a tenant's 10,000 pipelines.
func BenchmarkPipelinesGet(b *testing.B) {
	d := seedBench(b)
	ctx := context.Background()
	var lat latencies
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		_, err := d.s.Pipelines().Get(ctx, d.tenant.ID, d.names[rand.IntN(len(d.names))])
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

// BenchmarkAuditList lists the newest 50 of an organization's 100,000
// audit entries, unfiltered, by actor, and by action over a week.
func BenchmarkAuditList(b *testing.B) {
	d := seedBench(b)
	ctx := context.Background()
	weekAgo := time.Now().Add(-7 * 24 * time.Hour)
	filters := map[string]func() db.AuditFilter{
		"all":    func() db.AuditFilter { return db.AuditFilter{} },
		"actor":  func() db.AuditFilter { return db.AuditFilter{ActorUserID: &d.actors[rand.IntN(len(d.actors))]} },
		"action": func() db.AuditFilter { return db.AuditFilter{Action: "secret.put", Since: weekAgo} },
	}
	for _, name := range []string{"all", "actor", "action"} {
		b.Run(name, func(b *testing.B) {
			var lat latencies
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				p, err := d.s.Audit().List(ctx, d.org.ID, filters[name](), "", 50)
				lat = append(lat, time.Since(t0))
				if err != nil || len(p.Items) != 50 {
					b.Fatal(len(p.Items), err)
				}
			}
			lat.report(b)
		})
	}
}
