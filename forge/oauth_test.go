package forge_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/buildit-ci/buildit/forge"
)

func TestOAuthEndpoint(t *testing.T) {
	cases := []struct {
		kind forge.Kind
		base string
		want oauth2.Endpoint
	}{
		{forge.GitHub, "", oauth2.Endpoint{AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token"}},
		{forge.GitHub, "https://ghe.example.com/", oauth2.Endpoint{AuthURL: "https://ghe.example.com/login/oauth/authorize", TokenURL: "https://ghe.example.com/login/oauth/access_token"}},
		{forge.GitLab, "", oauth2.Endpoint{AuthURL: "https://gitlab.com/oauth/authorize", TokenURL: "https://gitlab.com/oauth/token"}},
		{forge.GitLab, "https://gitlab.example.com", oauth2.Endpoint{AuthURL: "https://gitlab.example.com/oauth/authorize", TokenURL: "https://gitlab.example.com/oauth/token"}},
		{forge.Gitea, "http://127.0.0.1:3000", oauth2.Endpoint{AuthURL: "http://127.0.0.1:3000/login/oauth/authorize", TokenURL: "http://127.0.0.1:3000/login/oauth/access_token"}},
	}
	for _, c := range cases {
		if got := forge.OAuthEndpoint(c.kind, c.base); got != c.want {
			t.Errorf("OAuthEndpoint(%s, %q) = %+v, want %+v", c.kind, c.base, got, c.want)
		}
	}
	for kind, want := range map[forge.Kind][]string{
		forge.GitHub: {"read:user", "user:email"}, forge.GitLab: {"read_user"}, forge.Gitea: {"read:user"},
	} {
		if got := forge.OAuthScopes(kind); !reflect.DeepEqual(got, want) {
			t.Errorf("OAuthScopes(%s) = %q, want %q", kind, got, want)
		}
	}
}

// userStandIn answers GET paths with JSON documents, checking the bearer
// token the oauth2 client sends.
func userStandIn(t *testing.T, answers map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer oauth-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a, ok := answers[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func oauthClient(ctx context.Context) *http.Client {
	return oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "oauth-token"}))
}

// TestFetchUserGitHub runs against a stand-in following GitHub's
// documented GET /user and GET /user/emails answers.
func TestFetchUserGitHub(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		emails string
		want   forge.User
	}{
		"primary verified": {`[{"email":"other@example.com","primary":false,"verified":true},{"email":"octocat@github.com","primary":true,"verified":true,"visibility":"public"}]`,
			forge.User{Subject: "1", Login: "octocat", Name: "monalisa octocat", Email: "octocat@github.com", EmailVerified: true}},
		"primary unverified": {`[{"email":"octocat@github.com","primary":true,"verified":false}]`,
			forge.User{Subject: "1", Login: "octocat", Name: "monalisa octocat", Email: "octocat@github.com"}},
		"no primary": {`[{"email":"x@example.com","primary":false,"verified":true}]`,
			forge.User{Subject: "1", Login: "octocat", Name: "monalisa octocat"}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := userStandIn(t, map[string]string{
				"/user":        `{"login":"octocat","id":1,"name":"monalisa octocat","email":"public@example.com"}`,
				"/user/emails": c.emails,
			})
			got, err := forge.FetchUser(ctx, forge.GitHub, srv.URL, oauthClient(ctx))
			if err != nil || got != c.want {
				t.Errorf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// TestFetchUserGitLab runs against a stand-in following GitLab's
// documented GET /user answer.
func TestFetchUserGitLab(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		user string
		want forge.User
	}{
		"confirmed": {`{"id":7,"username":"john_smith","name":"John Smith","email":"john@example.com","confirmed_at":"2012-05-23T09:05:22Z"}`,
			forge.User{Subject: "7", Login: "john_smith", Name: "John Smith", Email: "john@example.com", EmailVerified: true}},
		"unconfirmed": {`{"id":7,"username":"john_smith","name":"John Smith","email":"john@example.com","confirmed_at":null}`,
			forge.User{Subject: "7", Login: "john_smith", Name: "John Smith", Email: "john@example.com"}},
	} {
		t.Run(name, func(t *testing.T) {
			srv := userStandIn(t, map[string]string{"/api/v4/user": c.user})
			got, err := forge.FetchUser(ctx, forge.GitLab, srv.URL+"/api/v4", oauthClient(ctx))
			if err != nil || got != c.want {
				t.Errorf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestFetchUserErrors(t *testing.T) {
	ctx := context.Background()
	srv := userStandIn(t, map[string]string{"/user": `{"id":0}`, "/api/v1/user": `not json`})
	if _, err := forge.FetchUser(ctx, forge.Gitea, srv.URL, oauthClient(ctx)); err == nil {
		t.Error("a user without an id: no error")
	}
	if _, err := forge.FetchUser(ctx, forge.Gitea, srv.URL+"/api/v1", oauthClient(ctx)); err == nil {
		t.Error("not JSON: no error")
	}
	bad := oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "wrong"}))
	_, err := forge.FetchUser(ctx, forge.GitLab, srv.URL, bad)
	var se *forge.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a refused token: %v", err)
	}
}
