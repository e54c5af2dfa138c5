package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/remote"
)

// The remote commands talk to a BuildIt server's API with an API key:
// BUILDIT_URL and BUILDIT_TOKEN, or what buildit login saved.

// remoteFlags are the flags every remote command shares.
type remoteFlags struct {
	url, org, tenant string
	json             bool
}

func (f *remoteFlags) add(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", "", "the server's base URL (env BUILDIT_URL, else what buildit login saved)")
	pf.StringVar(&f.org, "org", "", "organization slug (env BUILDIT_ORG, else the login's or the key's)")
	pf.StringVar(&f.tenant, "tenant", "", "tenant slug (env BUILDIT_TENANT, else the login's or the key's)")
	pf.BoolVar(&f.json, "json", false, "print JSON for scripts instead of tables")
}

// session is a remote command's client and the tenant it is about.
type session struct {
	c     *remote.Client
	scope remote.Scope
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// connect resolves the server, the key and the tenant from flags, the
// environment and the saved login, asking the server for what the key
// implies (its organization, its tenant) when they are not given.
func (f *remoteFlags) connect(ctx context.Context, needTenant bool) (*session, error) {
	saved := loadCredentials()
	c := &remote.Client{
		BaseURL: firstOf(f.url, os.Getenv("BUILDIT_URL"), saved.URL),
		Token:   firstOf(os.Getenv("BUILDIT_TOKEN"), saved.Token),
	}
	if c.BaseURL == "" || c.Token == "" {
		return nil, usageError(errors.New("not logged in: run buildit login, or set BUILDIT_URL and BUILDIT_TOKEN (an API key)"))
	}
	s := &session{c: c, scope: remote.Scope{
		Org:    firstOf(f.org, os.Getenv("BUILDIT_ORG"), saved.Org),
		Tenant: firstOf(f.tenant, os.Getenv("BUILDIT_TENANT"), saved.Tenant),
	}}
	if needTenant && (s.scope.Org == "" || s.scope.Tenant == "") {
		me, err := c.Me(ctx)
		if err != nil {
			return nil, apiError(err)
		}
		if s.scope.Org == "" && len(me.Organizations) == 1 {
			s.scope.Org = me.Organizations[0].Slug
		}
		if s.scope.Tenant == "" && me.APIKey != nil {
			s.scope.Tenant = me.APIKey.Tenant
		}
		if s.scope.Org == "" || s.scope.Tenant == "" {
			return nil, usageError(errors.New("which tenant? pass --org and --tenant (or set BUILDIT_ORG and BUILDIT_TENANT, or log in with them)"))
		}
	}
	return s, nil
}

// apiError makes an API failure exit 1 (2 for the caller's mistakes the
// API reports as 4xx other than conflicts and limits), with the problems of
// an invalid pipeline listed.
func apiError(err error) error {
	var e *remote.Error
	if !errors.As(err, &e) {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	msg := e.Message
	for _, p := range e.Problems() {
		msg += fmt.Sprintf("\n  %d:%d: %s: %s", p.Line, p.Column, p.Severity, p.Message)
	}
	code := ExitFailed
	if e.Status == 400 || e.Status == 404 || e.Status == 422 {
		code = ExitUsage
	}
	return &ExitError{Code: code, Err: errors.New(msg)}
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func apiErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return apiError(err)
}
