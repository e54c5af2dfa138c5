package workerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/deploy"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// Deploys keeps deployments in Postgres; it is the activities'
// DeployRecorder.
type Deploys struct{ Store *db.Store }

// Target returns the tenant's target named name, with its credentials
// secret as the setting the backend reads (token-secret for Fly,
// kubeconfig-secret for Kubernetes).
func (d Deploys) Target(ctx context.Context, ref buildit.RunRef, name string) (pipeline.Target, error) {
	tenant, err := uuid.Parse(ref.TenantID)
	if err != nil {
		return pipeline.Target{}, err
	}
	t, err := d.Store.Deployments().GetTarget(ctx, tenant, name)
	if errors.Is(err, db.ErrNotFound) {
		return pipeline.Target{}, deploy.Configf("no target %q: define it in the pipeline or create it with POST …/targets", name)
	}
	if err != nil {
		return pipeline.Target{}, err
	}
	out := pipeline.Target{Name: t.Name, Kind: t.Kind, Settings: map[string]string{}}
	_ = json.Unmarshal(t.Settings, &out.Settings)
	if t.CredentialsSecret != "" {
		switch t.Kind {
		case pipeline.TargetFly:
			out.Settings["token-secret"] = t.CredentialsSecret
		case pipeline.TargetKubernetes:
			out.Settings["kubeconfig-secret"] = t.CredentialsSecret
		}
	}
	return out, nil
}

// BeginDeploy records the deployment of a deploy stage, once per run and
// stage (a retried call returns the same row), in the environment and for
// the service it names (made on first use), after checking the
// environment's protection rules. A deploy with no run (a rollback from
// the API) is recorded with the run left out.
func (d Deploys) BeginDeploy(ctx context.Context, in workflows.DeployInput) (workflows.DeployBeginResult, error) {
	tenant, err := uuid.Parse(in.Record.TenantID)
	if err != nil {
		return workflows.DeployBeginResult{}, deploy.Configf("deploy: tenant %q: %v", in.Record.TenantID, err)
	}
	repo := d.Store.Deployments()
	envName := in.Spec.Environment
	if envName == "" {
		envName = "default"
	}
	env, err := repo.GetEnvironment(ctx, tenant, envName)
	if errors.Is(err, db.ErrNotFound) {
		env, err = repo.PutEnvironment(ctx, tenant, envName, db.Protection{})
	}
	if err != nil {
		return workflows.DeployBeginResult{}, err
	}
	// A rollback from the API (no run) is someone's decision to go back to
	// a revision that passed these rules; a run's deploy must pass them.
	if p := env.Protection; in.Record.RunID != "" && len(p.AllowedBranches) > 0 && !pipeline.MatchAny(p.AllowedBranches, in.Branch) {
		return workflows.DeployBeginResult{}, deploy.Configf("environment %s takes deploys from branches %v only, not %q", env.Name, p.AllowedBranches, in.Branch)
	}
	if env.Protection.RequireApproval && in.ApprovedBy == "" && in.Record.RunID != "" {
		return workflows.DeployBeginResult{}, deploy.Configf("environment %s requires an approval: put an approval stage before the deploy stage %s", env.Name, in.StageID)
	}
	svc, err := repo.GetService(ctx, tenant, in.Spec.Service)
	if errors.Is(err, db.ErrNotFound) {
		svc, err = repo.PutService(ctx, tenant, in.Spec.Service, nil)
	}
	if err != nil {
		return workflows.DeployBeginResult{}, err
	}
	spec, err := json.Marshal(in.Spec)
	if err != nil {
		return workflows.DeployBeginResult{}, err
	}
	nd := db.NewDeployment{ServiceID: svc.ID, EnvironmentID: env.ID, Image: in.Spec.Image, Target: in.Target.Name, Spec: spec, StageID: in.StageID}
	if in.Record.RunID != "" {
		runID, err := uuid.Parse(in.Record.RunID)
		if err != nil {
			return workflows.DeployBeginResult{}, deploy.Configf("deploy: run %q: %v", in.Record.RunID, err)
		}
		run, err := d.Store.Runs().GetRun(ctx, tenant, runID)
		if err != nil {
			return workflows.DeployBeginResult{}, err
		}
		nd.RunID, nd.Actor = &runID, run.Actor
	} else {
		nd.Actor = in.ApprovedBy
	}
	dep, err := repo.Create(ctx, tenant, nd)
	if err != nil {
		return workflows.DeployBeginResult{}, err
	}
	if dep.Status == buildit.DeployPending {
		if dep, err = repo.SetStatus(ctx, tenant, dep.ID, buildit.DeployRunning); err != nil {
			return workflows.DeployBeginResult{}, err
		}
	}
	res := workflows.DeployBeginResult{Revision: dep.Revision, DeploymentID: dep.ID.String()}
	if dep.PreviousRevision != nil {
		prev, err := repo.GetRevision(ctx, tenant, svc.ID, env.ID, *dep.PreviousRevision)
		if err != nil {
			return workflows.DeployBeginResult{}, fmt.Errorf("the previous revision: %w", err)
		}
		res.Previous = &buildit.DeploySpec{Service: in.Spec.Service, Revision: prev.Revision, Image: prev.Image}
	}
	return res, nil
}

// FinishDeploy records how a deployment ended.
func (d Deploys) FinishDeploy(ctx context.Context, out workflows.DeployOutcome) error {
	tenant, err := uuid.Parse(out.Record.TenantID)
	if err != nil {
		return deploy.Configf("deploy: tenant %q: %v", out.Record.TenantID, err)
	}
	id, err := uuid.Parse(out.DeploymentID)
	if err != nil {
		return deploy.Configf("deploy: deployment %q: %v", out.DeploymentID, err)
	}
	var rolledBackTo *int
	if out.RolledBackTo > 0 {
		rolledBackTo = &out.RolledBackTo
	}
	_, err = d.Store.Deployments().Finish(ctx, tenant, id, out.Status, out.Message, rolledBackTo)
	return err
}
