package runlog_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/runlog"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var seq atomic.Int64

// unique returns a name no other call in this binary returns.
func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

// env is a database with a run whose stage logs the tests write.
type env struct {
	store *db.Store
	repo  db.LogRepo
	key   runlog.Key
}

// setup returns a fresh database with a tenant, a pipeline and a run in it,
// and the key of attempt 1 of stage "build" of that run.
func setup(t testing.TB) env {
	t.Helper()
	ctx := context.Background()
	s := db.NewStore(dbtest.Pool(t), nil)
	org, err := s.Organizations().Create(ctx, db.NewOrganization{Slug: unique("org"), Name: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := s.Tenants().Create(ctx, org.ID, db.NewTenant{Slug: unique("tenant"), Name: "Tenant"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Pipelines().Create(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: `pipeline "app"`})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Event: "manual", Trigger: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return env{
		store: s,
		repo:  s.Logs(),
		key:   runlog.Key{TenantID: tn.ID, RunID: r.ID, StageID: "build", Attempt: 1},
	}
}

// readAll returns every stored line of key's log, in order.
func (e env) readAll(t testing.TB, key runlog.Key) []db.LogLine {
	t.Helper()
	var all []db.LogLine
	after := int64(0)
	for {
		got, err := e.repo.ReadLogs(context.Background(), key.TenantID, key.RunID, key.StageID, key.Attempt, after, db.MaxLogLines)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
		if len(got) < db.MaxLogLines {
			return all
		}
		after = got[len(got)-1].Seq
	}
}

// checkSeqs fails t unless lines are numbered first, first+1, … and there
// are n of them.
func checkSeqs(t testing.TB, lines []db.LogLine, first int64, n int) {
	t.Helper()
	if len(lines) != n {
		t.Fatalf("%d lines stored, want %d", len(lines), n)
	}
	for i, l := range lines {
		if l.Seq != first+int64(i) {
			t.Fatalf("line %d has seq %d, want %d", i, l.Seq, first+int64(i))
		}
	}
}
