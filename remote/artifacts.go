package remote

import (
	"context"
	"io"
	"net/url"

	"github.com/buildit-ci/buildit/apiview"
)

// Artifacts lists a run's artifacts.
func (c *Client) Artifacts(ctx context.Context, s Scope, pipeline string, number int64) ([]apiview.Artifact, error) {
	var page apiview.List[apiview.Artifact]
	return page.Items, c.Do(ctx, "GET", runPath(s, pipeline, number)+"/artifacts", nil, &page)
}

// Download is an artifact's archive (tar+zstd) as the API streams it.
type Download struct {
	Body io.ReadCloser
	// Size is the Content-Length; Digest the X-Checksum-Sha256 header
	// ("sha256:<hex>").
	Size   int64
	Digest string
}

// DownloadArtifact opens a run's artifact name; the caller closes Body.
func (c *Client) DownloadArtifact(ctx context.Context, s Scope, pipeline string, number int64, name string) (Download, error) {
	req, err := c.request(ctx, "GET", runPath(s, pipeline, number)+"/artifacts/"+url.PathEscape(name), nil)
	if err != nil {
		return Download{}, err
	}
	res, err := c.http().Do(req)
	if err != nil {
		return Download{}, err
	}
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return Download{}, decodeError(res.StatusCode, b)
	}
	d := Download{Body: res.Body, Size: res.ContentLength}
	if h := res.Header.Get("X-Checksum-Sha256"); h != "" {
		d.Digest = "sha256:" + h
	}
	return d, nil
}

// Caches lists a pipeline's cache entries, most recently used first.
func (c *Client) Caches(ctx context.Context, s Scope, pipeline string) ([]apiview.Cache, error) {
	var page apiview.List[apiview.Cache]
	return page.Items, c.Do(ctx, "GET", pipelinePath(s, pipeline)+"/caches", nil, &page)
}

// DeleteCaches deletes a pipeline's cache entries under key (every
// branch's), or all of them when key is "", and answers with them.
func (c *Client) DeleteCaches(ctx context.Context, s Scope, pipeline, key string) ([]apiview.Cache, error) {
	path := pipelinePath(s, pipeline) + "/caches"
	if key != "" {
		path += "?key=" + url.QueryEscape(key)
	}
	var page apiview.List[apiview.Cache]
	return page.Items, c.Do(ctx, "DELETE", path, nil, &page)
}
