package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/executortest"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/workflows"
)

// streamLines records stage output with its stream, as "stream|line".
type streamLines struct {
	mu     sync.Mutex
	all    []string
	closed bool
}

func (s *streamLines) WriteLine(_ string, stream executor.Stream, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, stream.String()+"|"+line)
}

// Close makes streamLines a StageLog.
func (s *streamLines) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *streamLines) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

// RunStage through the SDK's test activity environment, on the host: how
// an attempt ends is its result (an exit code, a timeout), not an error;
// what the stage prints reaches the sink on its stream; a stage that names
// a secret nobody provides fails for good before it runs.
func TestRunStageOnTheHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		commands []string
		secrets  []string
		timeout  time.Duration
		want     workflows.StageResult
		wantErr  string // a non-retryable configuration error's text
		wantLog  []string
	}{
		{
			name:     "succeeds",
			commands: []string{"echo out", "echo err >&2", `test "$BUILDIT_STAGE" = build && test "$BUILDIT_ATTEMPT" = 1 && test "$CI" = true`},
			wantLog:  []string{"stdout|out", "stderr|err"},
		},
		{
			name:     "fails with its exit code",
			commands: []string{"echo before", "exit 7", "echo after"},
			want:     workflows.StageResult{ExitCode: 7},
			wantLog:  []string{"stdout|before"},
		},
		{
			name:     "times out",
			commands: []string{"echo started", "sleep 30"},
			timeout:  300 * time.Millisecond,
			want:     workflows.StageResult{ExitCode: -1, TimedOut: true},
			wantLog:  []string{"stdout|started", "stderr|buildit: stage timed out after 300ms"},
		},
		{
			name:     "needs a secret nobody provides",
			commands: []string{"touch ran"},
			secrets:  []string{"TOKEN", "MISSING"},
			wantErr:  "secrets not provided: MISSING",
			wantLog:  []string{"stderr|buildit: secrets not provided: MISSING"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := &streamLines{}
			acts := New(Shared{Sink: sink, Secrets: MapSecrets{"TOKEN": "t0ken-value"}})
			acts.Stages.Host = host.New(host.Options{})
			a := acts.Stages
			step := hostStep("build", tc.commands...)
			step.Secrets = tc.secrets
			if tc.timeout > 0 {
				step.Timeout = tc.timeout
			}
			ws := t.TempDir()
			res, err := runStage(t, a, workflows.StageInput{RunID: "run-1", Pipeline: "p", Step: step, Attempt: 1, Workspace: ws})
			if tc.wantErr != "" {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != workflows.ErrTypeConfig || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a non-retryable configuration error saying %q", err, tc.wantErr)
				}
				if _, err := os.Stat(filepath.Join(ws, "ran")); !os.IsNotExist(err) {
					t.Error("the stage ran")
				}
			} else if err != nil || !reflect.DeepEqual(res, tc.want) {
				t.Fatalf("RunStage = %+v, %v; want %+v", res, err, tc.want)
			}
			// stdout and stderr are read apart: their lines' order
			// between the two is not kept.
			got, want := sink.lines(), slices.Clone(tc.wantLog)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("log %q, want %q", got, want)
			}
		})
	}
}

// memLogs is a LogStore that keeps the log it opens and the RunRef it was
// opened for; memSecrets is a SecretSource that keeps the RunRef it was
// asked for.
type (
	memLogs struct {
		mu     sync.Mutex
		ref    buildit.RunRef
		stage  string
		try    int
		stored *streamLines
	}
	memSecrets struct {
		mu     sync.Mutex
		values map[string]string
		ref    *buildit.RunRef
	}
)

func (m *memLogs) OpenLog(_ context.Context, ref buildit.RunRef, stageID string, attempt int) (StageLog, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ref, m.stage, m.try, m.stored = ref, stageID, attempt, &streamLines{}
	return m.stored, nil
}

func (m *memSecrets) Secrets(ctx context.Context, ref *buildit.RunRef, names []string) (map[string]string, error) {
	m.mu.Lock()
	m.ref = ref
	m.mu.Unlock()
	return MapSecrets(m.values).Secrets(ctx, ref, names)
}

// A server-mode attempt: its secrets come from the run's tenant (the
// source is asked with the run's RunRef), reach the stage's environment,
// and are masked — as they are and base64-encoded — in the stored log of
// that attempt, which the activity closes (stores) before it returns; the
// worker's own sink sees none of it.
func TestRunStageMasksSecretsInTheStoredLog(t *testing.T) {
	const secret = "s3cr3t-deploy-key-4711"
	logs := &memLogs{}
	source := &memSecrets{values: map[string]string{"DEPLOY_KEY": secret}}
	workerSink := &streamLines{}
	acts := New(Shared{Sink: workerSink, Secrets: source, Logs: logs})
	acts.Stages.Host, acts.Stages.AllowHostStages = host.New(host.Options{}), true
	acts.Server.WorkRoot = filepath.Join(executortest.ReachableDir(t), "work")
	a := acts.Stages
	ws, err := acts.Server.PrepareWorkspace(context.Background(), workflows.PrepareInput{RunID: "run/t/p/1"})
	if err != nil {
		t.Fatal(err)
	}
	ref := buildit.RunRef{TenantID: "tenant-1", RunID: "run-1"}
	step := hostStep("deploy",
		`test "$DEPLOY_KEY" = `+secret,
		`echo "key=$DEPLOY_KEY"`,
		`printf '%s' "$DEPLOY_KEY" | base64 >&2`,
		"echo done")
	step.Secrets = []string{"DEPLOY_KEY"}
	res, err := runStage(t, a, workflows.StageInput{RunID: "run/t/p/1", Pipeline: "p", Step: step, Attempt: 2, Workspace: ws.Workspace, Record: &ref})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("RunStage = %+v, %v (log %q)", res, err, logs.stored.lines())
	}
	if source.ref == nil || *source.ref != ref {
		t.Errorf("secrets asked for run %+v, want %+v", source.ref, ref)
	}
	if logs.ref != ref || logs.stage != "deploy" || logs.try != 2 {
		t.Errorf("log opened for %+v stage %q attempt %d", logs.ref, logs.stage, logs.try)
	}
	want := []string{"stderr|***", "stdout|done", "stdout|key=***"}
	got := logs.stored.lines()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("stored log %q, want %q", got, want)
	}
	if !logs.stored.closed {
		t.Error("the stored log was not closed")
	}
	all := strings.Join(logs.stored.lines(), "\n")
	if strings.Contains(all, secret) || strings.Contains(all, strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(secret)), "=")) {
		t.Errorf("the secret reached the stored log: %q", all)
	}
	if got := workerSink.lines(); len(got) != 0 {
		t.Errorf("the worker's sink got %q; a recorded run's log goes to its store", got)
	}
}
