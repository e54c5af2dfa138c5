// Package workerstore holds the worker side's Postgres adapters: run
// records, stage logs, tenant secrets and deployments, which the activities
// of a server-mode worker reach through their interfaces. It is apart from
// runs (the API's side) so that the API server links no executor or deploy
// backend.
package workerstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/runlog"
	"github.com/buildit-ci/buildit/workflows"
)

// Recorder writes run records to Postgres; it is the activities'
// RunRecorder.
type Recorder struct{ Store *db.Store }

// RecordRun writes the run's status and the stage attempts of rec in one
// transaction. Every write is an upsert keyed by run, stage and attempt,
// and a run that has ended keeps its final status, so a retried or late
// record does no harm.
func (r Recorder) RecordRun(ctx context.Context, rec workflows.RunRecord) error {
	ref, err := parseRef(rec.Ref)
	if err != nil {
		return activities.Permanent(err)
	}
	err = r.Store.InTx(ctx, func(tx *db.Tx) error {
		runs := tx.Runs()
		for _, s := range rec.Stages {
			if _, err := runs.PutStageRun(ctx, ref.tenant, stageRun(ref.run, s)); err != nil {
				return err
			}
		}
		_, err := runs.SetRunResult(ctx, ref.tenant, ref.run, rec.Status, rec.Error)
		return err
	})
	if errors.Is(err, db.ErrNotFound) || errors.Is(err, db.ErrInvalid) {
		// The run's row is gone (its pipeline was deleted): nothing to do.
		return activities.Permanent(err)
	}
	return err
}

// TurnCame reports whether no run of the group created before ref's run is
// still in progress.
func (r Recorder) TurnCame(ctx context.Context, ref buildit.RunRef, group string) (bool, error) {
	p, err := parseRef(ref)
	if err != nil {
		return false, activities.Permanent(err)
	}
	runs := r.Store.Runs()
	me, err := runs.GetRun(ctx, p.tenant, p.run)
	if errors.Is(err, db.ErrNotFound) {
		return false, activities.Permanent(err)
	} else if err != nil {
		return false, err
	}
	active, err := runs.ListActiveRunsInGroup(ctx, p.tenant, group)
	if err != nil {
		return false, err
	}
	for _, other := range active {
		if other.ID == me.ID {
			continue
		}
		if other.CreatedAt.Before(me.CreatedAt) || other.CreatedAt.Equal(me.CreatedAt) && other.ID.String() < me.ID.String() {
			return false, nil
		}
	}
	return true, nil
}

func stageRun(run uuid.UUID, s workflows.StageState) db.StageRun {
	sr := db.StageRun{
		RunID:    run,
		StageID:  s.ID,
		Attempt:  max(s.Attempt, 1),
		Status:   s.Status,
		ExitCode: s.ExitCode,
		Error:    s.Error,
	}
	if !s.StartedAt.IsZero() && s.Status != buildit.StagePending {
		sr.StartedAt = new(s.StartedAt)
	}
	if !s.FinishedAt.IsZero() {
		sr.EndedAt = new(s.FinishedAt)
	}
	return sr
}

// Logs stores stage logs in Postgres with runlog Writers; it is the
// activities' LogStore.
type Logs struct {
	Store  *db.Store
	Logger *slog.Logger
}

// OpenLog returns a Writer for the attempt's log that goes on after the
// lines already stored (an attempt resumed on another worker appends).
func (l Logs) OpenLog(ctx context.Context, ref buildit.RunRef, stageID string, attempt int) (activities.StageLog, error) {
	r, err := parseRef(ref)
	if err != nil {
		return nil, activities.Permanent(err)
	}
	key := runlog.Key{TenantID: r.tenant, RunID: r.run, StageID: stageID, Attempt: attempt}
	store := l.Store.Logs() // the Appender and the Reader
	next, err := waitForDB(ctx, func() (int64, error) { return runlog.NextSeq(ctx, store, key) })
	if err != nil {
		return nil, err
	}
	return runlog.New(store, key, runlog.Options{FirstSeq: next, Logger: l.Logger}), nil
}

// Secrets reads a run's tenant's secrets from Postgres; it is the
// activities' SecretSource. A run without a RunRef (a local run) has none.
type Secrets struct{ Store *db.Store }

// Secrets implements activities.SecretSource.
func (s Secrets) Secrets(ctx context.Context, ref *buildit.RunRef, names []string) (map[string]string, error) {
	if ref == nil {
		return map[string]string{}, nil
	}
	// Only the tenant matters: a rollback from the API has no run.
	tenant, err := uuid.Parse(ref.TenantID)
	if err != nil {
		return nil, activities.Permanent(fmt.Errorf("run ref: tenant %q: %w", ref.TenantID, err))
	}
	// Names the tenant has no secret for are left out: the activity says
	// which are missing.
	values, err := waitForDB(ctx, func() (map[string]string, error) {
		return s.Store.Tenants().FindSecretValues(ctx, tenant, names)
	})
	if errors.Is(err, db.ErrNoSecretKey) {
		return nil, activities.Permanent(errors.New("this worker has no BUILDIT_SECRET_KEY to open the tenant's secrets"))
	}
	return values, err
}

// DBWait bounds how long a stage activity waits for Postgres to come back
// before it starts; an error then counts as a failed activity attempt.
const DBWait = 2 * time.Minute

// waitForDB calls op until it succeeds, fails for another reason than
// Postgres being away (db.IsUnavailable), DBWait passes or ctx ends. A
// stage activity heartbeats meanwhile, so that a restart of Postgres does
// not use up the stage's few activity attempts.
func waitForDB[T any](ctx context.Context, op func() (T, error)) (T, error) {
	deadline := time.Now().Add(DBWait)
	delay := 100 * time.Millisecond
	for {
		v, err := op()
		if err == nil || !db.IsUnavailable(err) || time.Now().Add(delay).After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

type parsedRef struct{ tenant, run uuid.UUID }

func parseRef(ref buildit.RunRef) (parsedRef, error) {
	t, err := uuid.Parse(ref.TenantID)
	if err != nil {
		return parsedRef{}, fmt.Errorf("run ref: tenant %q: %w", ref.TenantID, err)
	}
	r, err := uuid.Parse(ref.RunID)
	if err != nil {
		return parsedRef{}, fmt.Errorf("run ref: run %q: %w", ref.RunID, err)
	}
	return parsedRef{tenant: t, run: r}, nil
}

// WorkerActivities adds the Postgres-backed parts to acts: run records,
// stage logs, tenant secrets, deployments and the repositories commit
// statuses go to.
func WorkerActivities(acts *activities.Activities, store *db.Store, log *slog.Logger) {
	acts.Server.Recorder = Recorder{Store: store}
	acts.Logs = Logs{Store: store, Logger: log}
	acts.Secrets = Secrets{Store: store}
	acts.Deploys.Recorder = Deploys{Store: store}
	if acts.Forges != nil {
		acts.Forges.Repositories = Repositories{Store: store}
	}
}
