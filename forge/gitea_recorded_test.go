package forge_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/buildit-ci/buildit/forge"
)

// TestParseGiteaRecorded parses deliveries recorded from the real Gitea
// 1.27.3 (BUILDIT_RECORD_GITEA=1 go test -run TestGitea ./forge/), with
// the headers Gitea sent; their signatures are checked with the secret
// the recording used.
func TestParseGiteaRecorded(t *testing.T) {
	type want struct {
		kind, branch, tag, action string
		changed                   []string
		pr                        int
		fork                      bool
	}
	cases := map[string]want{
		"push":                      {kind: forge.EventPush, branch: "main", changed: []string{".buildit/ci.kdl", "README.md"}},
		"push-six-commits":          {kind: forge.EventPush, branch: "main"},
		"push-new-branch":           {kind: forge.EventPush, branch: "feature"},
		"push-tag":                  {kind: forge.EventTag, tag: "v1.0.0"},
		"push-annotated-tag":        {kind: forge.EventTag, tag: "v1.1.0"},
		"create":                    {},
		"pull_request-opened":       {kind: forge.EventPullRequest, branch: "feature", action: "opened", pr: 1},
		"pull_request-synchronized": {kind: forge.EventPullRequest, branch: "feature", action: "synchronized", pr: 1},
		"pull_request-closed":       {},
		"pull_request-reopened":     {kind: forge.EventPullRequest, branch: "feature", action: "reopened", pr: 1},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			body := load(t, "gitea/"+name+".json")
			var hs map[string]string
			if err := json.Unmarshal(load(t, "gitea/"+name+".headers.json"), &hs); err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range hs {
				h.Set(k, v)
			}
			if err := forge.Verify(forge.Gitea, []byte("hook-s3cret"), h, body); err != nil {
				t.Fatalf("verify: %v", err)
			}
			ev, err := forge.Parse(forge.Gitea, h, body)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Delivery == "" || ev.Delivery != hs["X-Gitea-Delivery"] {
				t.Errorf("delivery %q", ev.Delivery)
			}
			var p struct {
				After       string
				PullRequest struct {
					Head struct{ SHA string }
				} `json:"pull_request"`
				HeadCommit struct{ ID string } `json:"head_commit"`
			}
			_ = json.Unmarshal(body, &p)
			commit := p.After
			if w.kind == forge.EventPullRequest {
				commit = p.PullRequest.Head.SHA
			} else if p.HeadCommit.ID != "" {
				commit = p.HeadCommit.ID
			}
			if w.kind == "" {
				if ev.Kind != "" || ev.Ignored == "" {
					t.Errorf("got %+v, want ignored", ev)
				}
				return
			}
			got := want{kind: ev.Kind, branch: ev.Branch, tag: ev.Tag, action: ev.Action, changed: ev.Changed, pr: ev.PR, fork: ev.Fork}
			if !reflect.DeepEqual(got, w) || ev.Commit != commit || len(commit) != 40 {
				t.Errorf("got %+v (commit %s), want %+v (commit %s)", got, ev.Commit, w, commit)
			}
			if ev.Repository == "" || ev.DefaultBranch != "main" {
				t.Errorf("repository %q, default branch %q", ev.Repository, ev.DefaultBranch)
			}
		})
	}
}
