package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
)

// Storing log lines or changing a stage attempt wakes the followers of
// that run, and only them.
func TestLogNotifier(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := setup(t)
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	p := mkPipeline(t, s, tn.ID, "app")
	runRepo, logRepo := s.Runs(), s.Logs()
	run := must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, p.ID, db.NewRun{}))
	other := must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, p.ID, db.NewRun{}))

	n := db.NewLogNotifier(s.Pool(), nil)
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); !n.Listening(); {
		if time.Now().After(deadline) {
			t.Fatal("the notifier never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	wake, stop := n.Subscribe(run.ID.String())
	defer stop()
	expect := func(what string, want bool) {
		t.Helper()
		select {
		case <-wake:
			if !want {
				t.Errorf("%s woke the follower of another run", what)
			}
		case <-time.After(500 * time.Millisecond):
			if want {
				t.Errorf("%s did not wake the run's follower", what)
			}
		}
	}
	must[db.StageRun](t)(runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: run.ID, StageID: "build", Attempt: 1, Status: buildit.StageRunning}))
	expect("a new stage attempt", true)
	if err := logRepo.AppendLogs(ctx, tn.ID, run.ID, "build", 1, []db.LogLine{{Seq: 1, Stream: db.LogStdout, Line: "hi", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	expect("stored log lines", true)
	must[db.StageRun](t)(runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: run.ID, StageID: "build", Attempt: 1, Status: buildit.StageSucceeded}))
	expect("a stage attempt's end", true)
	if err := logRepo.AppendLogs(ctx, tn.ID, other.ID, "build", 1, []db.LogLine{{Seq: 1, Stream: db.LogStdout, Line: "hi", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	expect("another run's lines", false)
}
