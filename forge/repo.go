package forge

import (
	"fmt"
	"net/url"
	"strings"
)

func parseRepo(kind Kind, raw, apiURL string) (Repo, error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return Repo{}, err
	}
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		// scp-like: git@host:owner/name.git
		if at, rest, ok := strings.Cut(s, "@"); ok && at != "" {
			s = rest
		}
		host, path, ok := strings.Cut(s, ":")
		if !ok || host == "" {
			return Repo{}, fmt.Errorf("repository URL %q: not a URL", raw)
		}
		s = "https://" + host + "/" + strings.TrimPrefix(path, "/")
	}
	u, err := url.Parse(s)
	if err != nil {
		return Repo{}, fmt.Errorf("repository URL %q: %w", raw, err)
	}
	scheme := "https"
	switch u.Scheme {
	case "http":
		scheme = "http"
	case "https", "ssh", "git":
	default:
		return Repo{}, fmt.Errorf("repository URL %q: scheme %q: http, https or ssh", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return Repo{}, fmt.Errorf("repository URL %q: no host", raw)
	}
	host := u.Host
	if u.Scheme == "ssh" || u.Scheme == "git" {
		host = u.Hostname() // the SSH port is not the web's
	}
	path := strings.Trim(u.Path, "/")
	if i := strings.Index(path, "/-/"); i >= 0 && kind == GitLab {
		path = path[:i]
	}
	path = strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".git")

	r := Repo{Kind: kind}
	if apiURL != "" {
		a, err := url.Parse(strings.TrimRight(apiURL, "/"))
		if err != nil || a.Host == "" || (a.Scheme != "http" && a.Scheme != "https") {
			return Repo{}, fmt.Errorf("API URL %q: not an http(s) URL", apiURL)
		}
		r.APIURL = a.String()
		// A forge served under a path: its repositories' paths start
		// with it too.
		prefix := strings.Trim(a.Path, "/")
		if i := strings.LastIndex(prefix, "api/v"); i >= 0 {
			prefix = strings.Trim(prefix[:i], "/")
		}
		if prefix != "" {
			path = strings.Trim(strings.TrimPrefix(path, prefix), "/")
		}
	}
	segs := strings.Split(path, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return Repo{}, fmt.Errorf("repository URL %q: want …/owner/name", raw)
		}
	}
	switch {
	case len(segs) < 2:
		return Repo{}, fmt.Errorf("repository URL %q: want …/owner/name", raw)
	case kind == GitLab:
		r.Owner, r.Name = strings.Join(segs[:len(segs)-1], "/"), segs[len(segs)-1]
	case len(segs) == 2:
		r.Owner, r.Name = segs[0], segs[1]
	default:
		return Repo{}, fmt.Errorf("repository URL %q: want …/owner/name, not %d path segments", raw, len(segs))
	}
	if r.APIURL == "" {
		base := scheme + "://" + host
		switch kind {
		case GitHub:
			if h := strings.ToLower(u.Hostname()); h == "github.com" || h == "www.github.com" {
				r.APIURL = "https://api.github.com"
			} else {
				r.APIURL = base + "/api/v3"
			}
		case GitLab:
			r.APIURL = base + "/api/v4"
		case Gitea:
			r.APIURL = base + "/api/v1"
		}
	}
	return r, nil
}
