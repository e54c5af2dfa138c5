package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
)

// N concurrent CreateRun calls on one pipeline get the numbers 1..N, each
// once.
func TestRunNumbersConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	p := mkPipeline(t, s, tn.ID, "app")
	other := mkPipeline(t, s, tn.ID, "other")

	const n = 40
	numbers := make([]int64, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			r, err := s.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "main", Trigger: "test"})
			if err != nil {
				errs <- err
				return
			}
			numbers[i] = r.Number
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(numbers)
	for i, got := range numbers {
		if got != int64(i+1) {
			t.Fatalf("numbers = %v, want 1..%d without gaps or duplicates", numbers, n)
		}
	}
	// Numbers are per pipeline.
	if r := must[db.Run](t)(s.Runs().CreateRun(ctx, tn.ID, other.ID, db.NewRun{})); r.Number != 1 {
		t.Errorf("first run of another pipeline is number %d", r.Number)
	}
}

func TestRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	pl, runRepo, logRepo := s.Pipelines(), s.Runs(), s.Logs()
	o := mkOrg(t, s)
	tn, otherTenant := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	p := mkPipeline(t, s, tn.ID, "app")

	r := must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, p.ID, db.NewRun{
		Branch: "main", Commit: "abc123", Event: "push", Trigger: "webhook", Actor: "ann", WorkflowID: "wf-1",
	}))
	if r.Number != 1 || r.Status != buildit.RunQueued || r.Commit != "abc123" || r.StartedAt != nil || r.EndedAt != nil {
		t.Errorf("CreateRun = %+v", r)
	}
	if _, err := runRepo.CreateRun(ctx, otherTenant.ID, p.ID, db.NewRun{}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("CreateRun with another tenant's pipeline: %v", err)
	}
	if got := must[db.Run](t)(runRepo.GetRun(ctx, tn.ID, r.ID)); !reflect.DeepEqual(got, r) {
		t.Errorf("GetRun = %+v, want %+v", got, r)
	}
	if got := must[db.Run](t)(runRepo.GetRunByNumber(ctx, tn.ID, p.ID, 1)); got.ID != r.ID {
		t.Errorf("GetRunByNumber = %+v", got)
	}

	// Status changes set the times once.
	running := must[db.Run](t)(runRepo.SetRunStatus(ctx, tn.ID, r.ID, buildit.RunRunning))
	if running.StartedAt == nil || running.EndedAt != nil {
		t.Errorf("running = %+v", running)
	}
	waiting := must[db.Run](t)(runRepo.SetRunStatus(ctx, tn.ID, r.ID, buildit.RunWaiting))
	if !waiting.StartedAt.Equal(*running.StartedAt) {
		t.Errorf("StartedAt moved: %v -> %v", running.StartedAt, waiting.StartedAt)
	}
	done := must[db.Run](t)(runRepo.SetRunStatus(ctx, tn.ID, r.ID, buildit.RunSucceeded))
	if done.EndedAt == nil || !done.Status.Terminal() {
		t.Errorf("succeeded = %+v", done)
	}
	// An ended run keeps its final status and error: late writes change nothing.
	late := must[db.Run](t)(runRepo.SetRunResult(ctx, tn.ID, r.ID, buildit.RunFailed, "too late"))
	if late.Status != buildit.RunSucceeded || late.Error != "" || !late.EndedAt.Equal(*done.EndedAt) {
		t.Errorf("a write after the end = %+v", late)
	}
	if _, err := runRepo.SetRunStatus(ctx, tn.ID, r.ID, "exploded"); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("SetRunStatus with a bad status: %v", err)
	}
	if _, err := runRepo.SetRunStatus(ctx, otherTenant.ID, r.ID, buildit.RunFailed); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("SetRunStatus through another tenant: %v", err)
	}
	cancelled := must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, p.ID, db.NewRun{}))
	cancelled = must[db.Run](t)(runRepo.SetRunStatus(ctx, tn.ID, cancelled.ID, buildit.RunCancelled))
	if cancelled.StartedAt != nil || cancelled.EndedAt == nil {
		t.Errorf("a queued run cancelled = %+v", cancelled)
	}
	failed := must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, p.ID, db.NewRun{
		Params: json.RawMessage(`{"env": {"A": "1"}}`), RerunOf: &r.Number, ConcurrencyGroup: "deploy-main",
	}))
	if failed.RerunOf == nil || *failed.RerunOf != 1 || failed.ConcurrencyGroup != "deploy-main" || !strings.Contains(string(failed.Params), `"A"`) {
		t.Errorf("CreateRun with params = %+v", failed)
	}
	if n := must[int](t)(runRepo.CountActiveRuns(ctx, o.ID)); n != 1 {
		t.Errorf("CountActiveRuns = %d, want 1 (the queued rerun)", n)
	}
	if group := must[[]db.Run](t)(runRepo.ListActiveRunsInGroup(ctx, tn.ID, "deploy-main")); len(group) != 1 || group[0].ID != failed.ID {
		t.Errorf("ListActiveRunsInGroup = %+v", group)
	}
	failed = must[db.Run](t)(runRepo.SetRunResult(ctx, tn.ID, failed.ID, buildit.RunFailed, "pipeline failed: test"))
	if failed.Error != "pipeline failed: test" || failed.EndedAt == nil {
		t.Errorf("SetRunResult = %+v", failed)
	}
	if n := must[int](t)(runRepo.CountActiveRuns(ctx, o.ID)); n != 0 {
		t.Errorf("CountActiveRuns after the end = %d", n)
	}
	if n := must[int](t)(runRepo.CountActiveRuns(ctx, mkOrg(t, s).ID)); n != 0 {
		t.Errorf("CountActiveRuns of another organization = %d", n)
	}
	if got := must[db.Run](t)(runRepo.SetRunWorkflowID(ctx, tn.ID, r.ID, "wf-2")); got.WorkflowID != "wf-2" {
		t.Errorf("SetRunWorkflowID = %+v", got)
	}

	// Stage attempts: insert, then update without losing what is set.
	started := time.Now().Add(-time.Second).Truncate(time.Microsecond)
	sr := must[db.StageRun](t)(runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.ID, StageID: "build", Attempt: 1, Status: buildit.StageRunning, StartedAt: &started}))
	if sr.Status != buildit.StageRunning || !sr.StartedAt.Equal(started) || sr.TenantID != tn.ID {
		t.Errorf("PutStageRun = %+v", sr)
	}
	ended := time.Now().Truncate(time.Microsecond)
	sr = must[db.StageRun](t)(runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.ID, StageID: "build", Attempt: 1, Status: buildit.StageFailed, ExitCode: new(2), EndedAt: &ended, Error: "exit status 2"}))
	if sr.Status != buildit.StageFailed || *sr.ExitCode != 2 || !sr.StartedAt.Equal(started) || !sr.EndedAt.Equal(ended) {
		t.Errorf("PutStageRun update = %+v", sr)
	}
	must[db.StageRun](t)(runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.ID, StageID: "build", Attempt: 2, Status: buildit.StageSucceeded, StartedAt: &ended, ExitCode: new(0)}))
	must[db.StageRun](t)(runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.ID, StageID: "deploy", Attempt: 1, Status: buildit.StagePending}))
	if _, err := runRepo.PutStageRun(ctx, otherTenant.ID, db.StageRun{RunID: r.ID, StageID: "x", Attempt: 1, Status: buildit.StagePending}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("PutStageRun through another tenant: %v", err)
	}
	if _, err := runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.ID, StageID: "x", Attempt: 0, Status: buildit.StagePending}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("PutStageRun with attempt 0: %v", err)
	}
	stages := must[[]db.StageRun](t)(runRepo.ListStageRuns(ctx, tn.ID, r.ID))
	var order []string
	for _, s := range stages {
		order = append(order, fmt.Sprintf("%s#%d", s.StageID, s.Attempt))
	}
	if fmt.Sprint(order) != "[build#1 build#2 deploy#1]" {
		t.Errorf("ListStageRuns order = %v", order)
	}
	if got := must[[]db.StageRun](t)(runRepo.ListStageRuns(ctx, otherTenant.ID, r.ID)); len(got) != 0 {
		t.Errorf("ListStageRuns through another tenant = %v", got)
	}

	// Logs.
	now := time.Now().Truncate(time.Microsecond)
	var lines []db.LogLine
	for i := 1; i <= 25; i++ {
		stream := db.LogStdout
		if i%5 == 0 {
			stream = db.LogStderr
		}
		lines = append(lines, db.LogLine{Seq: int64(i), Stream: stream, Line: fmt.Sprintf("line %d", i), At: now})
	}
	if err := logRepo.AppendLogs(ctx, tn.ID, r.ID, "build", 1, lines); err != nil {
		t.Fatal(err)
	}
	if err := logRepo.AppendLogs(ctx, tn.ID, r.ID, "build", 1, lines[:1]); !errors.Is(err, db.ErrConflict) {
		t.Errorf("AppendLogs of a stored seq: %v", err)
	}
	if err := logRepo.AppendLogs(ctx, otherTenant.ID, r.ID, "build", 1, []db.LogLine{{Seq: 99, Line: "x", At: now}}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("AppendLogs through another tenant: %v", err)
	}
	first := must[[]db.LogLine](t)(logRepo.ReadLogs(ctx, tn.ID, r.ID, "build", 1, 0, 10))
	rest := must[[]db.LogLine](t)(logRepo.ReadLogs(ctx, tn.ID, r.ID, "build", 1, first[len(first)-1].Seq, 100))
	if len(first) != 10 || len(rest) != 15 || rest[0].Line != "line 11" || rest[4].Stream != db.LogStderr || !rest[0].At.Equal(now) {
		t.Errorf("ReadLogs = %d + %d lines (%+v)", len(first), len(rest), rest[0])
	}
	if got := must[[]db.LogLine](t)(logRepo.ReadLogs(ctx, otherTenant.ID, r.ID, "build", 1, 0, 10)); len(got) != 0 {
		t.Errorf("ReadLogs through another tenant = %d lines", len(got))
	}

	// Deleting the pipeline deletes its runs, stages and logs.
	if err := pl.Delete(ctx, tn.ID, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := runRepo.GetRun(ctx, tn.ID, r.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("run outlived its pipeline: %v", err)
	}
	var left int
	if err := s.Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM stage_runs) + (SELECT count(*) FROM stage_logs)").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d stage rows left, %v", left, err)
	}
}

func TestRunsPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	a, b := mkPipeline(t, s, tn.ID, "a"), mkPipeline(t, s, tn.ID, "b")
	ids := map[uuid.UUID]bool{}
	for i := range 30 {
		p := a
		if i%3 == 0 {
			p = b
		}
		ids[must[db.Run](t)(s.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{})).ID] = true
	}

	seen := map[uuid.UUID]bool{}
	var prev *db.Run
	after := ""
	for {
		page := must[db.Page[db.Run]](t)(s.Runs().ListRuns(ctx, tn.ID, after, 7))
		for _, r := range page.Items {
			if seen[r.ID] {
				t.Fatalf("run %s twice", r.ID)
			}
			seen[r.ID] = true
			if prev != nil && r.CreatedAt.After(prev.CreatedAt) {
				t.Fatalf("ListRuns not newest first")
			}
			prev = &r
		}
		if page.Next == "" {
			break
		}
		after = page.Next
		must[db.Run](t)(s.Runs().CreateRun(ctx, tn.ID, a.ID, db.NewRun{})) // newer: not on later pages
	}
	if len(seen) != len(ids) {
		t.Errorf("ListRuns saw %d runs, want %d", len(seen), len(ids))
	}

	var numbers []int64
	after = ""
	for {
		page := must[db.Page[db.Run]](t)(s.Runs().ListPipelineRuns(ctx, tn.ID, b.ID, db.RunFilter{}, after, 4))
		for _, r := range page.Items {
			numbers = append(numbers, r.Number)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if fmt.Sprint(numbers) != "[10 9 8 7 6 5 4 3 2 1]" {
		t.Errorf("ListPipelineRuns numbers = %v", numbers)
	}

	// Filters: runs 1..10 of b; odd ones on branch "dev", 2 and 4 failed.
	runRepo := s.Runs()
	for _, r := range must[db.Page[db.Run]](t)(runRepo.ListPipelineRuns(ctx, tn.ID, b.ID, db.RunFilter{}, "", 100)).Items {
		switch r.Number {
		case 2, 4:
			must[db.Run](t)(runRepo.SetRunStatus(ctx, tn.ID, r.ID, buildit.RunFailed))
		}
	}
	c := mkPipeline(t, s, tn.ID, "c")
	for i := 1; i <= 6; i++ {
		branch := "main"
		if i%2 == 1 {
			branch = "dev"
		}
		must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, c.ID, db.NewRun{Branch: branch}))
	}
	numbersOf := func(p uuid.UUID, f db.RunFilter, size int) string {
		var got []int64
		after := ""
		for {
			page := must[db.Page[db.Run]](t)(runRepo.ListPipelineRuns(ctx, tn.ID, p, f, after, size))
			for _, r := range page.Items {
				got = append(got, r.Number)
			}
			if page.Next == "" {
				return fmt.Sprint(got)
			}
			after = page.Next
		}
	}
	if got := numbersOf(b.ID, db.RunFilter{Status: buildit.RunFailed}, 1); got != "[4 2]" {
		t.Errorf("failed runs of b = %s", got)
	}
	if got := numbersOf(c.ID, db.RunFilter{Branch: "dev"}, 2); got != "[5 3 1]" {
		t.Errorf("dev runs of c = %s", got)
	}
	if got := numbersOf(c.ID, db.RunFilter{Branch: "dev", Status: buildit.RunQueued}, 10); got != "[5 3 1]" {
		t.Errorf("queued dev runs of c = %s", got)
	}
	if got := numbersOf(c.ID, db.RunFilter{Branch: "nope"}, 10); got != "[]" {
		t.Errorf("runs of an unknown branch = %s", got)
	}
	if _, err := runRepo.ListPipelineRuns(ctx, tn.ID, c.ID, db.RunFilter{Status: "exploded"}, "", 10); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("a bad status filter: %v", err)
	}
}

// ReadLogPage stops at the line limit or at the byte budget, whichever comes
// first, says whether lines remain, and never returns a line that does not
// fit: the caller decides whether a line over its whole budget comes alone.
func TestReadLogPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	runRepo, logRepo := s.Runs(), s.Logs()
	o := mkOrg(t, s)
	tn, otherTenant := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	p := mkPipeline(t, s, tn.ID, "app")
	r := must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, p.ID, db.NewRun{}))
	// Lines 1-9 of 10 bytes, then one of 100, then 10-byte lines again.
	var lines []db.LogLine
	for i := int64(1); i <= 12; i++ {
		n := 10
		if i == 10 {
			n = 100
		}
		lines = append(lines, db.LogLine{Seq: i, Stream: db.LogStdout, Line: strings.Repeat(strconv.Itoa(int(i%10)), n), At: time.Now()})
	}
	if err := logRepo.AppendLogs(ctx, tn.ID, r.ID, "build", 1, lines); err != nil {
		t.Fatal(err)
	}
	seqs := func(ls []db.LogLine) []int64 {
		var out []int64
		for _, l := range ls {
			out = append(out, l.Seq)
		}
		return out
	}
	for _, c := range []struct {
		name            string
		after           int64
		limit, maxBytes int
		want            []int64
		more            bool
	}{
		{"by lines", 0, 3, 1000, []int64{1, 2, 3}, true},
		{"by bytes", 0, 100, 35, []int64{1, 2, 3}, true},
		{"bytes exactly", 0, 100, 40, []int64{1, 2, 3, 4}, true},
		{"up to a long line", 5, 100, 100, []int64{6, 7, 8, 9}, true},
		{"a long line over the budget", 9, 100, 99, nil, true},
		{"a long line that fits", 9, 100, 115, []int64{10, 11}, true},
		{"the end by lines", 9, 3, 1000, []int64{10, 11, 12}, false},
		{"the end by bytes", 10, 100, 20, []int64{11, 12}, false},
		{"after the end", 12, 100, 1000, nil, false},
	} {
		got, more, err := logRepo.ReadLogPage(ctx, tn.ID, r.ID, "build", 1, c.after, c.limit, c.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(got), c.want) || more != c.more {
			t.Errorf("%s: lines %v more %v, want %v %v", c.name, seqs(got), more, c.want, c.more)
		}
		for _, l := range got {
			if l.Line != lines[l.Seq-1].Line || l.Stream != db.LogStdout {
				t.Errorf("%s: line %d is %q", c.name, l.Seq, l.Line)
			}
		}
	}
	if got, more, err := logRepo.ReadLogPage(ctx, otherTenant.ID, r.ID, "build", 1, 0, 100, 1000); err != nil || len(got) != 0 || more {
		t.Errorf("ReadLogPage through another tenant = %d lines, more %v, %v", len(got), more, err)
	}
}

// LatestRuns finds the newest run of each pipeline asked for, of the
// tenant only, and nothing for a pipeline without runs.
func TestLatestRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	tn, other := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	a, b, idle := mkPipeline(t, s, tn.ID, "a"), mkPipeline(t, s, tn.ID, "b"), mkPipeline(t, s, tn.ID, "idle")
	theirs := mkPipeline(t, s, other.ID, "a")
	for range 3 {
		must[db.Run](t)(s.Runs().CreateRun(ctx, tn.ID, a.ID, db.NewRun{Branch: "main"}))
	}
	must[db.Run](t)(s.Runs().CreateRun(ctx, tn.ID, b.ID, db.NewRun{Branch: "dev"}))
	must[db.Run](t)(s.Runs().CreateRun(ctx, other.ID, theirs.ID, db.NewRun{}))

	got := must[map[uuid.UUID]db.Run](t)(s.Runs().LatestRuns(ctx, tn.ID, []uuid.UUID{a.ID, b.ID, idle.ID, theirs.ID}))
	if len(got) != 2 || got[a.ID].Number != 3 || got[b.ID].Number != 1 || got[b.ID].Branch != "dev" {
		t.Errorf("LatestRuns = %+v, want run 3 of a and run 1 of b only", got)
	}
	if none := must[map[uuid.UUID]db.Run](t)(s.Runs().LatestRuns(ctx, tn.ID, nil)); len(none) != 0 {
		t.Errorf("LatestRuns of no pipeline = %v", none)
	}
}
