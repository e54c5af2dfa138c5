package cli

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/api"
	"github.com/buildit-ci/buildit/forge"
)

// oauthFlags are the --oauth-<forge>-* flags of buildit server and buildit
// dev: the OAuth2 applications users sign in with. A client secret is
// never a flag's value (command lines are visible to every user of the
// machine): it comes from BUILDIT_OAUTH_<FORGE>_CLIENT_SECRET or a file.
type oauthFlags struct {
	id, url, secretFile map[forge.Kind]*string
}

func addOAuthFlags(cmd *cobra.Command) *oauthFlags {
	o := &oauthFlags{id: map[forge.Kind]*string{}, url: map[forge.Kind]*string{}, secretFile: map[forge.Kind]*string{}}
	fl := cmd.Flags()
	for _, k := range forge.Kinds {
		up := strings.ToUpper(string(k))
		urlHelp := "the forge's web root for a self-hosted " + string(k)
		switch k {
		case forge.GitHub:
			urlHelp = "GitHub Enterprise's web root; empty for github.com"
		case forge.GitLab:
			urlHelp = "a self-hosted GitLab's web root; empty for gitlab.com"
		case forge.Gitea:
			urlHelp = "the Gitea (or Forgejo) web root, required with its client ID"
		}
		o.id[k] = fl.String("oauth-"+string(k)+"-client-id", env("BUILDIT_OAUTH_"+up+"_CLIENT_ID", ""),
			"sign in with "+string(k)+": the OAuth2 application's client ID (env BUILDIT_OAUTH_"+up+"_CLIENT_ID; the secret from env BUILDIT_OAUTH_"+up+"_CLIENT_SECRET or --oauth-"+string(k)+"-client-secret-file)")
		o.secretFile[k] = fl.String("oauth-"+string(k)+"-client-secret-file", env("BUILDIT_OAUTH_"+up+"_CLIENT_SECRET_FILE", ""),
			"a file holding the "+string(k)+" OAuth2 application's client secret (env BUILDIT_OAUTH_"+up+"_CLIENT_SECRET_FILE)")
		o.url[k] = fl.String("oauth-"+string(k)+"-url", env("BUILDIT_OAUTH_"+up+"_URL", ""), urlHelp+" (env BUILDIT_OAUTH_"+up+"_URL)")
	}
	return o
}

// providers are the configured forges; a client ID without its secret,
// or Gitea without its URL, is a usage error.
func (o *oauthFlags) providers() (map[forge.Kind]api.OAuthProvider, error) {
	out := map[forge.Kind]api.OAuthProvider{}
	for _, k := range forge.Kinds {
		id := strings.TrimSpace(*o.id[k])
		if id == "" {
			continue
		}
		up := strings.ToUpper(string(k))
		secret := os.Getenv("BUILDIT_OAUTH_" + up + "_CLIENT_SECRET")
		if f := *o.secretFile[k]; f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, usageError(fmt.Errorf("--oauth-%s-client-secret-file: %w", k, err))
			}
			secret = strings.TrimSpace(string(b))
		}
		if secret == "" {
			return nil, usageError(fmt.Errorf("--oauth-%s-client-id needs the client secret: set BUILDIT_OAUTH_%s_CLIENT_SECRET or --oauth-%s-client-secret-file", k, up, k))
		}
		base := strings.TrimRight(*o.url[k], "/")
		if k == forge.Gitea && base == "" {
			return nil, usageError(fmt.Errorf("--oauth-gitea-client-id needs --oauth-gitea-url, the Gitea's web root"))
		}
		if base != "" && !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
			return nil, usageError(fmt.Errorf("--oauth-%s-url: want an http(s) URL", k))
		}
		out[k] = api.OAuthProvider{ClientID: id, ClientSecret: secret, BaseURL: base}
	}
	return out, nil
}

// oauthStateKey is the key that signs sign-in cookies: derived from the
// secret key when there is one, so that servers sharing it accept each
// other's; else nil (a random key of the process).
func oauthStateKey(flagKey string) []byte {
	key := flagKey
	if key == "" {
		key = os.Getenv("BUILDIT_SECRET_KEY")
	}
	if key == "" {
		return nil
	}
	sum := sha256.Sum256([]byte("buildit oauth state\x00" + key))
	return sum[:]
}
