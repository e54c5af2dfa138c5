package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/forge"
)

func TestOAuthFlags(t *testing.T) {
	parse := func(args ...string) (*oauthFlags, error) {
		cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		o := addOAuthFlags(cmd)
		return o, cmd.ParseFlags(args)
	}
	o, _ := parse()
	if p, err := o.providers(); err != nil || len(p) != 0 {
		t.Fatalf("no flags: %v, %v", p, err)
	}

	o, _ = parse("--oauth-github-client-id", "gh-id")
	t.Setenv("BUILDIT_OAUTH_GITHUB_CLIENT_SECRET", "")
	if _, err := o.providers(); err == nil || !strings.Contains(err.Error(), "BUILDIT_OAUTH_GITHUB_CLIENT_SECRET") {
		t.Errorf("a client ID without its secret: %v", err)
	}
	t.Setenv("BUILDIT_OAUTH_GITHUB_CLIENT_SECRET", "gh-secret")
	p, err := o.providers()
	if err != nil || p[forge.GitHub].ClientSecret != "gh-secret" || p[forge.GitHub].BaseURL != "" {
		t.Errorf("github: %+v, %v", p, err)
	}

	o, _ = parse("--oauth-gitea-client-id", "gt-id")
	t.Setenv("BUILDIT_OAUTH_GITEA_CLIENT_SECRET", "gt-secret")
	if _, err := o.providers(); err == nil || !strings.Contains(err.Error(), "--oauth-gitea-url") {
		t.Errorf("gitea without its URL: %v", err)
	}
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, _ = parse("--oauth-gitea-client-id", "gt-id", "--oauth-gitea-url", "https://git.example.com/", "--oauth-gitea-client-secret-file", file)
	p, err = o.providers()
	if err != nil || p[forge.Gitea].ClientSecret != "from-file" || p[forge.Gitea].BaseURL != "https://git.example.com" {
		t.Errorf("gitea: %+v, %v", p, err)
	}
	if oauthStateKey("k1") == nil || string(oauthStateKey("k1")) == string(oauthStateKey("k2")) {
		t.Error("state keys")
	}
}
