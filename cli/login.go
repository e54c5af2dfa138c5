package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/buildit-ci/buildit/remote"
)

func newLoginCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	var tokenStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Save the server's URL and an API key for the remote commands",
		Long: `Login checks an API key against a BuildIt server and saves both, with the
organization and tenant to use by default, in buildit/credentials.json under
your config folder (readable by you only; BUILDIT_CONFIG names another file).

The key comes from BUILDIT_TOKEN, from standard input with --token-stdin, or
from a prompt. Create one with POST /api/v1/orgs/ORG/api-keys.`,
		Example: `  buildit login --url http://127.0.0.1:8080 --org acme --tenant web
  echo "$KEY" | buildit login --url https://ci.example.com --token-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			saved := loadCredentials()
			creds := credentials{
				URL:    strings.TrimRight(firstOf(f.url, os.Getenv("BUILDIT_URL"), saved.URL), "/"),
				Token:  os.Getenv("BUILDIT_TOKEN"),
				Org:    firstOf(f.org, os.Getenv("BUILDIT_ORG")),
				Tenant: firstOf(f.tenant, os.Getenv("BUILDIT_TENANT")),
			}
			if creds.URL == "" {
				return usageError(errors.New("which server? pass --url (or set BUILDIT_URL)"))
			}
			if tokenStdin || creds.Token == "" {
				tok, err := readToken(cmd.InOrStdin(), a.stderr, !tokenStdin)
				if err != nil {
					return usageError(err)
				}
				creds.Token = tok
			}
			c := &remote.Client{BaseURL: creds.URL, Token: creds.Token}
			me, err := c.Me(cmd.Context())
			if err != nil {
				return &ExitError{Code: ExitFailed, Err: fmt.Errorf("the server refused the key: %w", err)}
			}
			if creds.Org == "" && len(me.Organizations) == 1 {
				creds.Org = me.Organizations[0].Slug
			}
			if creds.Tenant == "" && me.APIKey != nil {
				creds.Tenant = me.APIKey.Tenant
			}
			path, err := saveCredentials(creds)
			if err != nil {
				return fmt.Errorf("save the login: %w", err)
			}
			who := "a user session"
			if me.APIKey != nil {
				who = "API key " + me.APIKey.Name
			}
			fmt.Fprintf(a.stdout, "logged in to %s as %s (org %q, tenant %q); saved in %s\n", creds.URL, who, creds.Org, creds.Tenant, path)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the API key from standard input")
	return cmd
}

// readToken reads a key from in: without echo when it is a terminal.
func readToken(in io.Reader, prompt io.Writer, ask bool) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if ask {
			fmt.Fprint(prompt, "API key: ")
		}
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("no API key given: set BUILDIT_TOKEN or pipe it with --token-stdin")
	}
	return line, nil
}
