package activities

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/internal/giteatest"
	"github.com/buildit-ci/buildit/workflows"
)

// Against a real Gitea (skipped when it is not built, failed then with
// BUILDIT_REQUIRE_GITEA=1): a private repository is cloned with the
// token of the tenant's secret, and refused without it; and a status
// ReportStatus posts is the one Gitea's API then lists.
func TestGiteaPrivateCloneAndStatus(t *testing.T) {
	g := giteatest.Start(t)
	repo := g.CreateRepo(t, "private-app", giteatest.Private())
	sha := g.Push(t, repo, "main", map[string]string{"README.md": "private\n"}, "first")
	secrets := MapSecrets{"GITEA_TOKEN": g.Token}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("clone", func(t *testing.T) {
		a := &ServerMode{WorkRoot: t.TempDir(), Clone: CloneOptions{Repositories: httpAllowed}, Secrets: secrets}
		in := workflows.PrepareInput{RunID: "t/p/1", Repository: repo.CloneURL, Commit: sha}
		if _, err := a.PrepareWorkspace(ctx, in); err == nil {
			t.Fatal("a private repository was cloned without a token: the test proves nothing")
		}
		in.Auth = &workflows.CloneAuth{TenantID: uuid.NewString(), Forge: "gitea", Secret: "GITEA_TOKEN"}
		res, err := a.PrepareWorkspace(ctx, in)
		if err != nil {
			t.Fatalf("authenticated clone: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(res.Workspace, "README.md")); err != nil || string(b) != "private\n" {
			t.Errorf("checkout: %q, %v", b, err)
		}
	})

	t.Run("status", func(t *testing.T) {
		repoID := uuid.New()
		f := New(Shared{Secrets: secrets}).Forges
		f.Repositories = repoTable{repoID: {forge: "gitea", url: repo.CloneURL, secret: "GITEA_TOKEN"}}
		in := workflows.ReportStatusInput{
			StatusReport: workflows.StatusReport{TenantID: uuid.NewString(), RepositoryID: repoID.String(), Commit: sha, Context: "buildit/ci", TargetURL: "http://127.0.0.1:8080/runs/1"},
			State:        "pending", Description: "running 2 stages",
		}
		if err := f.ReportStatus(ctx, in); err != nil {
			t.Fatal(err)
		}
		in.State, in.Description = "success", "2 stages passed in 3s"
		if err := f.ReportStatus(ctx, in); err != nil {
			t.Fatal(err)
		}
		st := g.Statuses(t, repo, sha)
		if len(st) != 2 {
			t.Fatalf("statuses %+v, want pending and success", st)
		}
		// Both came within a second: Gitea's order between them is not
		// to be relied on.
		byState := map[string]giteatest.Status{}
		for _, x := range st {
			byState[x.State] = x
		}
		if got := byState["success"]; got.Context != "buildit/ci" || got.Description != "2 stages passed in 3s" || got.TargetURL != in.TargetURL {
			t.Errorf("success status %+v (all: %+v)", got, st)
		}
		if got := byState["pending"]; got.Context != "buildit/ci" || got.Description != "running 2 stages" {
			t.Errorf("pending status %+v (all: %+v)", got, st)
		}
	})
}
