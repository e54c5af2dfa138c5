package forge_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/pipeline"
)

// The payloads under testdata/github are GitHub's documented examples as
// octokit/webhooks publishes them (payload-examples/api.github.com, commit
// 3a58428a); those under testdata/gitlab are GitLab's documented examples
// as the go-gitlab client keeps them (xanzy/go-gitlab testdata/webhooks,
// commit 68add032), copied verbatim. Cases the examples do not cover (a
// tag pushed rather than deleted, a pull request from a fork, other
// merge request actions) change one field of an example, in the case
// itself. testdata/gitea holds deliveries recorded from the real Gitea
// (TestGiteaRecord).

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit changes a JSON document: set[path] = value, path dot-separated.
func edit(t testing.TB, body []byte, set map[string]any) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for path, v := range set {
		m := doc
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		m[keys[len(keys)-1]] = v
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

type parseCase struct {
	name   string
	header http.Header
	body   []byte
	want   forge.Event
}

func runParse(t *testing.T, kind forge.Kind, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := forge.Parse(kind, c.header, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if c.want.Kind == "" {
				if got.Kind != "" || got.Ignored == "" {
					t.Fatalf("got %+v, want ignored with a reason", got)
				}
				if c.want.Ignored != "" && !strings.Contains(got.Ignored, c.want.Ignored) {
					t.Errorf("ignored %q, want it to say %q", got.Ignored, c.want.Ignored)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestActionsArePipelines(t *testing.T) {
	for _, a := range []string{pipeline.ActionOpened, pipeline.ActionSynchronized, pipeline.ActionReopened} {
		ev, err := forge.Parse(forge.Gitea, header("X-Gitea-Event", "pull_request"),
			[]byte(`{"action":"`+a+`","number":1,"pull_request":{"head":{"sha":"abc","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}`))
		if err != nil || ev.Action != a {
			t.Errorf("action %q: %+v %v", a, ev, err)
		}
	}
}

const helloWorld = "https://github.com/Codertocat/Hello-World.git"

func TestParseGitHub(t *testing.T) {
	newBranch := load(t, "github/push-new-branch.json")
	opened := load(t, "github/pull_request-opened.json")
	prWant := func(action string) forge.Event {
		return forge.Event{
			Kind: forge.EventPullRequest, Delivery: "d-1", Repository: helloWorld, DefaultBranch: "master",
			Branch: "changes", Commit: "ec26c3e57ca3a959ca5aad62de7213c562f8c821", PR: 2, Base: "master",
			Action: action, HeadRepository: helloWorld, Author: "Codertocat",
			Message: "Update the README with new information.",
		}
	}
	forked := prWant(pipeline.ActionOpened)
	forked.Fork, forked.HeadRepository = true, "https://github.com/someone/Hello-World.git"
	h := func(event string) http.Header { return header("X-GitHub-Event", event, "X-GitHub-Delivery", "d-1") }

	runParse(t, forge.GitHub, []parseCase{
		{"ping", h("ping"), load(t, "github/ping.json"), forge.Event{
			Kind: forge.EventPing, Delivery: "d-1", Repository: "https://github.com/Octocoders/Hello-World.git", DefaultBranch: "master"}},
		{"push of a new branch: changes unknown", h("push"), newBranch, forge.Event{
			Kind: forge.EventPush, Delivery: "d-1", Repository: helloWorld, DefaultBranch: "master", Branch: "master",
			Commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Author: "Codertocat", Message: "Initial commit"}},
		{"push to an existing branch lists its changes", h("push"), edit(t, newBranch, map[string]any{
			"before": "95790bf891e76fee5e1747ab589903a6a1f80f22", "created": false}), forge.Event{
			Kind: forge.EventPush, Delivery: "d-1", Repository: helloWorld, DefaultBranch: "master", Branch: "master",
			Commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Before: "95790bf891e76fee5e1747ab589903a6a1f80f22",
			Author: "Codertocat", Message: "Initial commit", Changed: []string{"README.md"}}},
		{"push of a tag", h("push"), edit(t, newBranch, map[string]any{"ref": "refs/tags/v1.2.0"}), forge.Event{
			Kind: forge.EventTag, Delivery: "d-1", Repository: helloWorld, DefaultBranch: "master", Tag: "v1.2.0",
			Commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Author: "Codertocat", Message: "Initial commit"}},
		{"annotated tag: the head commit, not the tag object", h("push"), edit(t, newBranch, map[string]any{
			"ref": "refs/tags/v1.2.0", "after": "1111111111111111111111111111111111111111"}), forge.Event{
			Kind: forge.EventTag, Delivery: "d-1", Repository: helloWorld, DefaultBranch: "master", Tag: "v1.2.0",
			Commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Author: "Codertocat", Message: "Initial commit"}},
		{"deleted tag", h("push"), load(t, "github/push-tag-deleted.json"), forge.Event{Ignored: "deleted"}},
		{"deleted branch", h("push"), edit(t, newBranch, map[string]any{
			"deleted": true, "after": "0000000000000000000000000000000000000000", "head_commit": nil}), forge.Event{Ignored: "deleted"}},
		{"push to another ref", h("push"), edit(t, newBranch, map[string]any{"ref": "refs/notes/commits"}), forge.Event{Ignored: "refs/notes/commits"}},
		{"pull request opened", h("pull_request"), opened, prWant(pipeline.ActionOpened)},
		{"pull request synchronize", h("pull_request"), load(t, "github/pull_request-synchronize.json"), prWant(pipeline.ActionSynchronized)},
		{"pull request reopened", h("pull_request"), load(t, "github/pull_request-reopened.json"), prWant(pipeline.ActionReopened)},
		{"pull request from a fork", h("pull_request"), edit(t, opened, map[string]any{
			"pull_request.head.repo.full_name": "someone/Hello-World",
			"pull_request.head.repo.clone_url": "https://github.com/someone/Hello-World.git"}), forked},
		{"pull request closed", h("pull_request"), load(t, "github/pull_request-closed.json"), forge.Event{Ignored: "closed"}},
		{"pull request labeled", h("pull_request"), load(t, "github/pull_request-labeled.json"), forge.Event{Ignored: "labeled"}},
		{"issues", h("issues"), load(t, "github/issues-opened.json"), forge.Event{Ignored: "issues"}},
		{"create", h("create"), load(t, "github/create.json"), forge.Event{Ignored: "create"}},
		{"no event header", header(), opened, forge.Event{Ignored: "X-GitHub-Event"}},
	})

	// Changes: every commit's added, modified and removed, once each; a
	// list as long as GitHub's cap may be cut, so unknown.
	var doc map[string]any
	if err := json.Unmarshal(edit(t, newBranch, map[string]any{"before": "95790bf891e76fee5e1747ab589903a6a1f80f22"}), &doc); err != nil {
		t.Fatal(err)
	}
	doc["commits"] = []any{
		map[string]any{"id": "a", "added": []any{"b.txt", "a.txt"}, "modified": []any{"c.txt"}, "removed": []any{}},
		map[string]any{"id": "b", "added": []any{}, "modified": []any{"a.txt"}, "removed": []any{"d.txt"}},
	}
	body, _ := json.Marshal(doc)
	ev, err := forge.Parse(forge.GitHub, h("push"), body)
	if err != nil || !reflect.DeepEqual(ev.Changed, []string{"a.txt", "b.txt", "c.txt", "d.txt"}) {
		t.Errorf("changed = %q, %v", ev.Changed, err)
	}
	many := make([]any, 2048)
	for i := range many {
		many[i] = map[string]any{"id": "x", "added": []any{"a.txt"}}
	}
	doc["commits"] = many
	body, _ = json.Marshal(doc)
	if ev, err := forge.Parse(forge.GitHub, h("push"), body); err != nil || ev.Changed != nil {
		t.Errorf("2048 commits: changed = %q, %v; want nil (unknown)", ev.Changed, err)
	}
	doc["commits"] = many[:2047]
	body, _ = json.Marshal(doc)
	if ev, err := forge.Parse(forge.GitHub, h("push"), body); err != nil || !reflect.DeepEqual(ev.Changed, []string{"a.txt"}) {
		t.Errorf("2047 commits: changed = %q, %v", ev.Changed, err)
	}
}

func TestParseGitLab(t *testing.T) {
	mr := load(t, "gitlab/merge_request.json")
	update := load(t, "gitlab/service_merge_request.json")
	h := func(event string) http.Header { return header("X-Gitlab-Event", event, "X-Gitlab-Event-UUID", "u-1") }
	mrWant := func(action string) forge.Event {
		return forge.Event{
			Kind: forge.EventPullRequest, Delivery: "u-1", Repository: "http://example.com/gitlabhq/gitlab-test.git",
			DefaultBranch: "master", Branch: "ms-viewport", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
			PR: 1, Base: "master", Action: action, HeadRepository: "http://example.com/awesome_space/awesome_project.git",
			Author: "GitLab dev user", Message: "fixed readme",
		}
	}
	forked := mrWant(pipeline.ActionOpened)
	forked.Fork = true
	reopened := mrWant(pipeline.ActionReopened)

	runParse(t, forge.GitLab, []parseCase{
		{"push: more commits than listed, changes unknown", h("Push Hook"), load(t, "gitlab/push.json"), forge.Event{
			Kind: forge.EventPush, Delivery: "u-1", Repository: "http://example.com/mike/diaspora.git", DefaultBranch: "master",
			Branch: "master", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Before: "95790bf891e76fee5e1747ab589903a6a1f80f22",
			Author: "GitLab dev user", Message: "fixed readme\n"}},
		{"push listing all its commits", h("Push Hook"), edit(t, load(t, "gitlab/push.json"), map[string]any{"total_commits_count": 2}), forge.Event{
			Kind: forge.EventPush, Delivery: "u-1", Repository: "http://example.com/mike/diaspora.git", DefaultBranch: "master",
			Branch: "master", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Before: "95790bf891e76fee5e1747ab589903a6a1f80f22",
			Author: "GitLab dev user", Message: "fixed readme\n", Changed: []string{"CHANGELOG", "app/controller/application.rb"}}},
		{"deleted branch", h("Push Hook"), edit(t, load(t, "gitlab/push.json"), map[string]any{
			"after": "0000000000000000000000000000000000000000", "checkout_sha": nil}), forge.Event{Ignored: "deleted"}},
		{"tag push", h("Tag Push Hook"), load(t, "gitlab/tag_push.json"), forge.Event{
			Kind: forge.EventTag, Delivery: "u-1", Repository: "http://example.com/jsmith/example.git", DefaultBranch: "master",
			Tag: "v1.0.0", Commit: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
			Author: "John Smith", Message: "Merge branch 'some-feature' into 'master'\n\nRelease v1.0.0\n\nSee merge request jsmith/example!1"}},
		{"annotated tag: checkout_sha", h("Tag Push Hook"), edit(t, load(t, "gitlab/tag_push.json"), map[string]any{
			"after": "2222222222222222222222222222222222222222"}), forge.Event{
			Kind: forge.EventTag, Delivery: "u-1", Repository: "http://example.com/jsmith/example.git", DefaultBranch: "master",
			Tag: "v1.0.0", Commit: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
			Author: "John Smith", Message: "Merge branch 'some-feature' into 'master'\n\nRelease v1.0.0\n\nSee merge request jsmith/example!1"}},
		{"deleted tag", h("Tag Push Hook"), edit(t, load(t, "gitlab/tag_push.json"), map[string]any{
			"after": "0000000000000000000000000000000000000000", "checkout_sha": nil}), forge.Event{Ignored: "deleted"}},
		{"merge request opened", h("Merge Request Hook"), mr, mrWant(pipeline.ActionOpened)},
		{"merge request from a fork", h("Merge Request Hook"), edit(t, mr, map[string]any{"object_attributes.source_project_id": 99}), forked},
		{"merge request reopened", h("Merge Request Hook"), edit(t, mr, map[string]any{"object_attributes.action": "reopen"}), reopened},
		{"merge request update with new commits", h("Merge Request Hook"), update, forge.Event{
			Kind: forge.EventPullRequest, Delivery: "u-1", Repository: "http://10.40.8.5:3200/test/woodpecker.git",
			DefaultBranch: "master", Branch: "next-feature", Commit: "0ab96a10266b95b4b533dcfd98738015fbe70889",
			PR: 2, Base: "master", Action: pipeline.ActionSynchronized, HeadRepository: "http://10.40.8.5:3200/test/woodpecker.git",
			Author: "the test", Message: "Update state.go"}},
		{"merge request update without oldrev: an edit", h("Merge Request Hook"), edit(t, update, map[string]any{
			"object_attributes.oldrev": nil}), forge.Event{Ignored: "without new commits"}},
		{"merge request closed", h("Merge Request Hook"), edit(t, mr, map[string]any{"object_attributes.action": "close"}), forge.Event{Ignored: "close"}},
		{"merge request merged", h("Merge Request Hook"), edit(t, mr, map[string]any{"object_attributes.action": "merge"}), forge.Event{Ignored: "merge"}},
		{"pipeline", h("Pipeline Hook"), load(t, "gitlab/pipeline.json"), forge.Event{Ignored: "Pipeline Hook"}},
		{"note", h("Note Hook"), load(t, "gitlab/note_commit.json"), forge.Event{Ignored: "Note Hook"}},
		{"system hook", h("System Hook"), load(t, "gitlab/push.json"), forge.Event{Ignored: "System Hook"}},
		{"push hook of a tag ref", h("Push Hook"), load(t, "gitlab/tag_push.json"), forge.Event{Ignored: "Push Hook"}},
	})
}

func TestParseBadBodies(t *testing.T) {
	cases := []struct {
		kind   forge.Kind
		header http.Header
	}{
		{forge.GitHub, header("X-GitHub-Event", "push")},
		{forge.GitHub, header("X-GitHub-Event", "pull_request")},
		{forge.GitHub, header("X-GitHub-Event", "ping")},
		{forge.GitLab, header("X-Gitlab-Event", "Push Hook")},
		{forge.GitLab, header("X-Gitlab-Event", "Tag Push Hook")},
		{forge.GitLab, header("X-Gitlab-Event", "Merge Request Hook")},
		{forge.Gitea, header("X-Gitea-Event", "push")},
		{forge.Gitea, header("X-Forgejo-Event", "pull_request")},
	}
	bodies := map[string]string{
		"not JSON":      `{"ref": `,
		"an array":      `[1,2]`,
		"a wrong type":  `{"ref": 1, "number": "x", "object_attributes": 3, "pull_request": []}`,
		"empty":         ``,
		"missing parts": `{}`,
	}
	for _, c := range cases {
		for name, body := range bodies {
			if c.header.Get("X-GitHub-Event") == "ping" && (name == "missing parts" || name == "a wrong type") {
				continue // a ping needs nothing
			}
			ev, err := forge.Parse(c.kind, c.header, []byte(body))
			if err == nil {
				t.Errorf("%s %v %s: no error (%+v)", c.kind, c.header, name, ev)
			}
		}
	}
	if _, err := forge.Parse(forge.GitHub, header("X-GitHub-Event", "push"), make([]byte, forge.MaxPayload+1)); err == nil {
		t.Error("a body over MaxPayload: no error")
	}
	if _, err := forge.Parse("bitbucket", header(), []byte(`{}`)); err == nil {
		t.Error("an unknown forge: no error")
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"github", "gitlab", "gitea"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, file := range files {
			if strings.HasSuffix(file, ".headers.json") {
				continue
			}
			b, _ := os.ReadFile(file)
			f.Add(dir, b)
		}
	}
	f.Add("github", []byte(`{"ref":"refs/heads/x","after":"0","commits":[{"added":[""]}]}`))
	events := map[forge.Kind][]string{
		forge.GitHub: {"push", "pull_request", "ping", "issues"},
		forge.GitLab: {"Push Hook", "Tag Push Hook", "Merge Request Hook", "System Hook"},
		forge.Gitea:  {"push", "pull_request", "create"},
	}
	headers := map[forge.Kind]string{forge.GitHub: "X-GitHub-Event", forge.GitLab: "X-Gitlab-Event", forge.Gitea: "X-Gitea-Event"}
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		k := forge.Kind(kind)
		for _, e := range events[k] {
			ev, err := forge.Parse(k, header(headers[k], e), body)
			if err == nil && ev.Kind == "" && ev.Ignored == "" {
				t.Fatalf("%s %s: an ignored event without a reason", k, e)
			}
			if err == nil && (ev.Kind == forge.EventPush || ev.Kind == forge.EventTag || ev.Kind == forge.EventPullRequest) && ev.Commit == "" {
				t.Fatalf("%s %s: %s without a commit", k, e, ev.Kind)
			}
		}
	})
}
