package forge

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The pull request actions of Event.Action; the same words as
// pipeline.ActionOpened, ActionSynchronized and ActionReopened (a test
// keeps them so: this package imports nothing of BuildIt's).
const (
	actionOpened       = "opened"
	actionSynchronized = "synchronized"
	actionReopened     = "reopened"
)

// githubMaxCommits is the most commits GitHub lists in a push webhook
// (its documentation: "The array includes a maximum of 2048 commits");
// a push listing that many may have left some out.
const githubMaxCommits = 2048

// commitJSON is a commit in a push's payload (GitHub, Gitea, GitLab).
type commitJSON struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Author  struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"author"`
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

// repoJSON is a repository in a GitHub or Gitea payload.
type repoJSON struct {
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url"`
	DefaultBranch string `json:"default_branch"`
}

// pushJSON is GitHub's and Gitea's push payload.
type pushJSON struct {
	Ref          string       `json:"ref"`
	Before       string       `json:"before"`
	After        string       `json:"after"`
	Deleted      bool         `json:"deleted"`
	HeadCommit   *commitJSON  `json:"head_commit"`
	Commits      []commitJSON `json:"commits"`
	TotalCommits *int         `json:"total_commits"` // Gitea
	Repository   repoJSON     `json:"repository"`
	Pusher       struct {
		Login    string `json:"login"`    // Gitea
		Username string `json:"username"` // Gitea
		Name     string `json:"name"`     // GitHub: the login
	} `json:"pusher"`
}

// pullJSON is GitHub's and Gitea's pull_request payload.
type pullJSON struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		User   struct {
			Login string `json:"login"`
		} `json:"user"`
		Head struct {
			Ref  string    `json:"ref"`
			SHA  string    `json:"sha"`
			Repo *repoJSON `json:"repo"`
		} `json:"head"`
		Base struct {
			Ref  string    `json:"ref"`
			Repo *repoJSON `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository repoJSON `json:"repository"`
}

func decode(event string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("read the %s event: %w", event, err)
	}
	return nil
}

func ignored(format string, args ...any) Event {
	return Event{Ignored: fmt.Sprintf(format, args...)}
}

// zeroSHA reports the all-zero object name forges put in before or
// after for a created or deleted ref.
func zeroSHA(s string) bool {
	return s != "" && strings.Trim(s, "0") == ""
}

func parseGitHub(event string, body []byte) (Event, error) {
	switch event {
	case "ping":
		var p struct {
			Repository *repoJSON `json:"repository"`
		}
		if err := decode(event, body, &p); err != nil {
			return Event{}, err
		}
		ev := Event{Kind: EventPing}
		if p.Repository != nil {
			ev.Repository, ev.DefaultBranch = p.Repository.CloneURL, p.Repository.DefaultBranch
		}
		return ev, nil
	case "push":
		var p pushJSON
		if err := decode(event, body, &p); err != nil {
			return Event{}, err
		}
		return p.event(event, func(listed int) bool { return listed >= githubMaxCommits })
	case "pull_request":
		var p pullJSON
		if err := decode(event, body, &p); err != nil {
			return Event{}, err
		}
		action := p.Action
		if action == "synchronize" {
			action = actionSynchronized
		}
		return p.event(event, action)
	case "":
		return ignored("no X-GitHub-Event header"), nil
	}
	return ignored("GitHub event %q", event), nil
}

func parseGitea(event string, body []byte) (Event, error) {
	switch event {
	case "push":
		var p pushJSON
		if err := decode(event, body, &p); err != nil {
			return Event{}, err
		}
		return p.event(event, func(listed int) bool {
			return p.TotalCommits != nil && *p.TotalCommits > listed
		})
	case "pull_request":
		var p pullJSON
		if err := decode(event, body, &p); err != nil {
			return Event{}, err
		}
		return p.event(event, p.Action)
	case "create", "delete":
		// A pushed branch or tag comes as a push too.
		return ignored("Gitea event %q (the push event acts)", event), nil
	case "":
		return ignored("no X-Gitea-Event header"), nil
	}
	return ignored("Gitea event %q", event), nil
}

// event is a GitHub or Gitea push; truncated says whether a push listing
// that many commits may have left some out.
func (p *pushJSON) event(event string, truncated func(listed int) bool) (Event, error) {
	if p.Ref == "" || (p.After == "" && !p.Deleted) {
		return Event{}, fmt.Errorf("read the %s event: no ref or after", event)
	}
	head := p.HeadCommit
	if head == nil || head.ID == "" {
		head = findCommit(p.Commits, p.After)
	}
	var changed []string
	if len(p.Commits) > 0 && !zeroSHA(p.Before) && !truncated(len(p.Commits)) {
		changed = changedPaths(p.Commits)
	}
	ev, err := refEvent(p.Ref, p.Before, p.After, p.Deleted, head, changed)
	if err != nil || ev.Kind == "" {
		return ev, err
	}
	ev.Repository, ev.DefaultBranch = p.Repository.CloneURL, p.Repository.DefaultBranch
	if ev.Author == "" {
		ev.Author = firstNonEmpty(p.Pusher.Login, p.Pusher.Username, p.Pusher.Name)
	}
	return ev, nil
}

// refEvent is a push of ref, from any forge: a branch's push, a tag's, or
// an ignored deletion or other ref. The commit is the head commit's (a
// tag's after may be an annotated tag's object), else after.
func refEvent(ref, before, after string, deleted bool, head *commitJSON, changed []string) (Event, error) {
	if deleted || zeroSHA(after) {
		return ignored("%s deleted", ref), nil
	}
	ev := Event{Commit: after, Before: before, Changed: changed}
	if head != nil {
		if head.ID != "" {
			ev.Commit = head.ID
		}
		ev.Author = firstNonEmpty(head.Author.Name, head.Author.Username)
		ev.Message = head.Message
	}
	if zeroSHA(before) {
		ev.Before = ""
	}
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok && b != "" {
		ev.Kind, ev.Branch = EventPush, b
	} else if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok && t != "" {
		ev.Kind, ev.Tag = EventTag, t
	} else {
		return ignored("push to %s, neither a branch nor a tag", ref), nil
	}
	return ev, nil
}

// event is a GitHub or Gitea pull request with its action in BuildIt's
// words.
func (p *pullJSON) event(event, action string) (Event, error) {
	pr := p.PullRequest
	if pr == nil || pr.Head.SHA == "" {
		return Event{}, fmt.Errorf("read the %s event: no pull_request or head sha", event)
	}
	switch action {
	case actionOpened, actionSynchronized, actionReopened:
	default:
		return ignored("pull request %s", p.Action), nil
	}
	number := p.Number
	if number == 0 {
		number = pr.Number
	}
	ev := Event{
		Kind:          EventPullRequest,
		Repository:    p.Repository.CloneURL,
		DefaultBranch: p.Repository.DefaultBranch,
		Branch:        pr.Head.Ref,
		Commit:        pr.Head.SHA,
		PR:            number,
		Base:          pr.Base.Ref,
		Action:        action,
		Author:        pr.User.Login,
		Message:       pr.Title,
	}
	base := p.Repository.FullName
	if pr.Base.Repo != nil && pr.Base.Repo.FullName != "" {
		base = pr.Base.Repo.FullName
	}
	if pr.Head.Repo == nil {
		ev.Fork = true // the head repository was deleted: surely not ours
	} else {
		ev.HeadRepository = pr.Head.Repo.CloneURL
		ev.Fork = !strings.EqualFold(pr.Head.Repo.FullName, base)
	}
	if ev.Repository == "" && pr.Base.Repo != nil {
		ev.Repository, ev.DefaultBranch = pr.Base.Repo.CloneURL, pr.Base.Repo.DefaultBranch
	}
	return ev, nil
}

// GitLab's payloads.
type (
	gitlabProject struct {
		ID                int64  `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
		GitHTTPURL        string `json:"git_http_url"`
		DefaultBranch     string `json:"default_branch"`
	}
	gitlabPush struct {
		ObjectKind        string        `json:"object_kind"`
		Ref               string        `json:"ref"`
		Before            string        `json:"before"`
		After             string        `json:"after"`
		CheckoutSHA       *string       `json:"checkout_sha"`
		UserName          string        `json:"user_name"`
		UserUsername      string        `json:"user_username"`
		Project           gitlabProject `json:"project"`
		Commits           []commitJSON  `json:"commits"`
		TotalCommitsCount int           `json:"total_commits_count"`
	}
	gitlabMR struct {
		ObjectKind string `json:"object_kind"`
		User       struct {
			Username string `json:"username"`
		} `json:"user"`
		Project          gitlabProject `json:"project"`
		ObjectAttributes *struct {
			IID             int            `json:"iid"`
			Action          string         `json:"action"`
			OldRev          string         `json:"oldrev"`
			Title           string         `json:"title"`
			SourceBranch    string         `json:"source_branch"`
			TargetBranch    string         `json:"target_branch"`
			SourceProjectID int64          `json:"source_project_id"`
			TargetProjectID int64          `json:"target_project_id"`
			Source          *gitlabProject `json:"source"`
			Target          *gitlabProject `json:"target"`
			LastCommit      *commitJSON    `json:"last_commit"`
		} `json:"object_attributes"`
	}
)

func parseGitLab(event string, body []byte) (Event, error) {
	switch event {
	case "Push Hook", "Tag Push Hook":
		var p gitlabPush
		if err := decode(event, body, &p); err != nil {
			return Event{}, err
		}
		return p.event(event)
	case "Merge Request Hook":
		var p gitlabMR
		if err := decode(event, body, &p); err != nil {
			return Event{}, err
		}
		return p.event(event)
	case "":
		return ignored("no X-Gitlab-Event header"), nil
	}
	return ignored("GitLab event %q", event), nil
}

func (p *gitlabPush) event(event string) (Event, error) {
	if p.Ref == "" || p.After == "" {
		return Event{}, fmt.Errorf("read the %s event: no ref or after", event)
	}
	commit := p.After
	if p.CheckoutSHA != nil && *p.CheckoutSHA != "" {
		commit = *p.CheckoutSHA // a tag's commit, where after is an annotated tag
	}
	var changed []string
	if len(p.Commits) > 0 && !zeroSHA(p.Before) && p.TotalCommitsCount <= len(p.Commits) {
		changed = changedPaths(p.Commits)
	}
	head := findCommit(p.Commits, commit)
	ev, err := refEvent(p.Ref, p.Before, p.After, false, head, changed)
	if err != nil || ev.Kind == "" {
		return ev, err
	}
	if event == "Tag Push Hook" && ev.Kind != EventTag || event == "Push Hook" && ev.Kind != EventPush {
		return ignored("%s of %s", event, p.Ref), nil
	}
	ev.Commit = commit
	if ev.Author == "" {
		ev.Author = firstNonEmpty(p.UserName, p.UserUsername)
	}
	ev.Repository, ev.DefaultBranch = p.Project.GitHTTPURL, p.Project.DefaultBranch
	return ev, nil
}

func (p *gitlabMR) event(event string) (Event, error) {
	a := p.ObjectAttributes
	if a == nil || a.IID == 0 {
		return Event{}, fmt.Errorf("read the %s event: no object_attributes", event)
	}
	var action string
	switch a.Action {
	case "open":
		action = actionOpened
	case "reopen":
		action = actionReopened
	case "update":
		if a.OldRev == "" {
			// A title, description or label edit: no new commits.
			return ignored("merge request update without new commits"), nil
		}
		action = actionSynchronized
	default:
		return ignored("merge request %s", a.Action), nil
	}
	if a.LastCommit == nil || a.LastCommit.ID == "" {
		return Event{}, fmt.Errorf("read the %s event: no last_commit", event)
	}
	ev := Event{
		Kind:          EventPullRequest,
		Repository:    p.Project.GitHTTPURL,
		DefaultBranch: p.Project.DefaultBranch,
		Branch:        a.SourceBranch,
		Commit:        a.LastCommit.ID,
		PR:            a.IID,
		Base:          a.TargetBranch,
		Action:        action,
		Author:        firstNonEmpty(a.LastCommit.Author.Name, p.User.Username),
		Message:       a.LastCommit.Message,
	}
	if a.Target != nil && ev.Repository == "" {
		ev.Repository, ev.DefaultBranch = a.Target.GitHTTPURL, a.Target.DefaultBranch
	}
	if a.Source != nil {
		ev.HeadRepository = a.Source.GitHTTPURL
	}
	switch {
	case a.SourceProjectID != 0 && a.TargetProjectID != 0:
		ev.Fork = a.SourceProjectID != a.TargetProjectID
	case a.Source != nil && a.Target != nil:
		ev.Fork = !strings.EqualFold(a.Source.PathWithNamespace, a.Target.PathWithNamespace)
	default:
		ev.Fork = true // cannot tell: the safe answer
	}
	return ev, nil
}

// findCommit is the commit id among commits, or nil.
func findCommit(commits []commitJSON, id string) *commitJSON {
	for i := range commits {
		if commits[i].ID == id {
			return &commits[i]
		}
	}
	return nil
}

// changedPaths are the paths commits added, modified or removed, sorted,
// each once; never nil.
func changedPaths(commits []commitJSON) []string {
	paths := []string{}
	for _, c := range commits {
		for _, list := range [][]string{c.Added, c.Modified, c.Removed} {
			for _, p := range list {
				if p != "" {
					paths = append(paths, p)
				}
			}
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
