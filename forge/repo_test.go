package forge_test

import (
	"testing"

	"github.com/buildit-ci/buildit/forge"
)

func TestParseRepo(t *testing.T) {
	cases := []struct {
		kind     forge.Kind
		url, api string
		want     forge.Repo
	}{
		{forge.GitHub, "https://github.com/octo-org/hello.git", "", forge.Repo{Kind: forge.GitHub, APIURL: "https://api.github.com", Owner: "octo-org", Name: "hello"}},
		{forge.GitHub, "https://github.com/octo-org/hello/", "", forge.Repo{Kind: forge.GitHub, APIURL: "https://api.github.com", Owner: "octo-org", Name: "hello"}},
		{forge.GitHub, "git@github.com:octo-org/hello.git", "", forge.Repo{Kind: forge.GitHub, APIURL: "https://api.github.com", Owner: "octo-org", Name: "hello"}},
		{forge.GitHub, "https://ghe.example.com/team/app", "", forge.Repo{Kind: forge.GitHub, APIURL: "https://ghe.example.com/api/v3", Owner: "team", Name: "app"}},
		{forge.GitHub, "https://user:pw@ghe.example.com:8443/team/app.git", "", forge.Repo{Kind: forge.GitHub, APIURL: "https://ghe.example.com:8443/api/v3", Owner: "team", Name: "app"}},
		{forge.GitLab, "https://gitlab.com/group/sub/project.git", "", forge.Repo{Kind: forge.GitLab, APIURL: "https://gitlab.com/api/v4", Owner: "group/sub", Name: "project"}},
		{forge.GitLab, "https://gitlab.com/group/project/-/tree/main", "", forge.Repo{Kind: forge.GitLab, APIURL: "https://gitlab.com/api/v4", Owner: "group", Name: "project"}},
		{forge.GitLab, "ssh://git@gitlab.example.com:2222/a/b/c.git", "", forge.Repo{Kind: forge.GitLab, APIURL: "https://gitlab.example.com/api/v4", Owner: "a/b", Name: "c"}},
		{forge.Gitea, "http://127.0.0.1:3000/buildit/demo.git", "", forge.Repo{Kind: forge.Gitea, APIURL: "http://127.0.0.1:3000/api/v1", Owner: "buildit", Name: "demo"}},
		{forge.Gitea, "https://example.com/git/buildit/demo.git", "https://example.com/git/api/v1/", forge.Repo{Kind: forge.Gitea, APIURL: "https://example.com/git/api/v1", Owner: "buildit", Name: "demo"}},
		{forge.Gitea, "https://codeberg.org/forgejo/forgejo", "", forge.Repo{Kind: forge.Gitea, APIURL: "https://codeberg.org/api/v1", Owner: "forgejo", Name: "forgejo"}},
	}
	for _, c := range cases {
		got, err := forge.ParseRepo(c.kind, c.url, c.api)
		if err != nil || got != c.want {
			t.Errorf("ParseRepo(%s, %q, %q) = %+v, %v; want %+v", c.kind, c.url, c.api, got, err, c.want)
		}
	}
	bad := []struct {
		kind     forge.Kind
		url, api string
	}{
		{forge.GitHub, "https://github.com/only-owner", ""},
		{forge.GitHub, "https://github.com/a/b/c", ""},
		{forge.Gitea, "https://example.com/", ""},
		{forge.GitLab, "https://gitlab.com/project", ""},
		{forge.GitHub, "ftp://github.com/a/b", ""},
		{forge.GitHub, "not a url", ""},
		{forge.GitHub, "https:///a/b", ""},
		{forge.GitHub, "https://github.com/a/../b", ""},
		{forge.Gitea, "https://example.com/a/b", "not a url"},
		{"bitbucket", "https://bitbucket.org/a/b", ""},
	}
	for _, c := range bad {
		if got, err := forge.ParseRepo(c.kind, c.url, c.api); err == nil {
			t.Errorf("ParseRepo(%s, %q, %q) = %+v, want an error", c.kind, c.url, c.api, got)
		}
	}
}
