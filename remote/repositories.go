package remote

import (
	"context"
	"net/url"

	"github.com/buildit-ci/buildit/apiview"
)

// ConnectRepository is the body of connecting a repository.
type ConnectRepository struct {
	Forge         string `json:"forge"`
	URL           string `json:"url"`
	TokenSecret   string `json:"token_secret"`
	PipelinesPath string `json:"pipelines_path,omitempty"`
	ForkSecrets   bool   `json:"fork_secrets,omitempty"`
	APIURL        string `json:"api_url,omitempty"`
}

// ConnectRepository connects a repository to the tenant; the answer holds
// the webhook secret, which is never shown again.
func (c *Client) ConnectRepository(ctx context.Context, s Scope, req ConnectRepository) (apiview.Repository, error) {
	var r apiview.Repository
	return r, c.Do(ctx, "POST", s.path()+"/repositories", req, &r)
}

// Repositories lists the tenant's connected repositories, every page.
func (c *Client) Repositories(ctx context.Context, s Scope) ([]apiview.Repository, error) {
	var all []apiview.Repository
	after := ""
	for {
		var page apiview.List[apiview.Repository]
		q := "?limit=200"
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		if err := c.Do(ctx, "GET", s.path()+"/repositories"+q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}

// Repository returns a connected repository.
func (c *Client) Repository(ctx context.Context, s Scope, id string) (apiview.Repository, error) {
	var r apiview.Repository
	return r, c.Do(ctx, "GET", s.path()+"/repositories/"+url.PathEscape(id), nil, &r)
}

// DisconnectRepository disconnects a repository; its pipelines stay.
func (c *Client) DisconnectRepository(ctx context.Context, s Scope, id string) error {
	return c.Do(ctx, "DELETE", s.path()+"/repositories/"+url.PathEscape(id), nil, nil)
}
