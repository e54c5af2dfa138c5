// Package forge speaks to the forges BuildIt takes repositories from:
// GitHub, GitLab and Gitea (and Forgejo, which speaks Gitea's dialect).
// It checks and reads their webhooks, posts commit statuses, and knows
// their OAuth2 endpoints and user APIs. It knows nothing of tenants or
// runs: the caller gives it secrets and tokens, and it never logs them.
package forge

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Kind names a forge.
type Kind string

// The forges.
const (
	GitHub Kind = "github"
	GitLab Kind = "gitlab"
	Gitea  Kind = "gitea"
)

// Kinds are the forges, in the order the API lists them.
var Kinds = []Kind{GitHub, GitLab, Gitea}

// ParseKind returns the forge named s, or an error naming the forges.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown forge %q: github, gitlab or gitea", s)
}

// ErrSignature is a webhook whose signature (or GitLab token) is missing
// or wrong.
var ErrSignature = errors.New("the webhook's signature is missing or wrong")

// MaxPayload bounds a webhook's body; GitHub caps its own at 25 MB.
const MaxPayload = 25 << 20

// Verify checks a webhook's authenticity before anything of its body is
// parsed: GitHub's X-Hub-Signature-256 and Gitea's X-Gitea-Signature
// (HMAC-SHA256 of the body with secret), GitLab's X-Gitlab-Token (the
// secret itself). Comparisons take constant time. A missing or wrong
// signature is ErrSignature.
//
// An empty secret verifies nothing: every webhook is ErrSignature, so
// that a repository without a secret never accepts unsigned payloads.
// Gitea's signature is also read from X-Forgejo-Signature (Forgejo) and
// X-Hub-Signature-256 (which Gitea sends too) when X-Gitea-Signature is
// absent.
func Verify(kind Kind, secret []byte, h http.Header, body []byte) error {
	if len(secret) == 0 {
		return ErrSignature
	}
	switch kind {
	case GitHub:
		return verifyHMAC(secret, h.Get("X-Hub-Signature-256"), "sha256=", body)
	case Gitea:
		if sig := firstHeader(h, "X-Gitea-Signature", "X-Forgejo-Signature"); sig != "" {
			return verifyHMAC(secret, sig, "", body)
		}
		return verifyHMAC(secret, h.Get("X-Hub-Signature-256"), "sha256=", body)
	case GitLab:
		return verifyToken(secret, h.Get("X-Gitlab-Token"))
	}
	return ErrSignature
}

// Delivery is the delivery's unique ID: X-GitHub-Delivery,
// X-Gitlab-Event-UUID, X-Gitea-Delivery; "" when the header is missing.
//
// An ID longer than 128 bytes or holding anything but printable ASCII is
// "" too: callers make workflow IDs of it.
func Delivery(kind Kind, h http.Header) string {
	var id string
	switch kind {
	case GitHub:
		id = h.Get("X-GitHub-Delivery")
	case GitLab:
		id = h.Get("X-Gitlab-Event-UUID")
	case Gitea:
		id = firstHeader(h, "X-Gitea-Delivery", "X-Forgejo-Delivery")
	}
	id = strings.TrimSpace(id)
	if len(id) > 128 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return ""
		}
	}
	return id
}

// The kinds of Event.
const (
	EventPush        = "push"
	EventTag         = "tag"
	EventPullRequest = "pull_request"
	EventPing        = "ping"
)

// Event is a webhook, as BuildIt needs it, from any forge.
type Event struct {
	// Kind is EventPush, EventTag, EventPullRequest or EventPing; ""
	// for an event BuildIt ignores (an issue comment, a closed pull
	// request, a deleted branch), with Ignored saying why.
	Kind    string
	Ignored string
	// Delivery is the delivery's ID (Delivery).
	Delivery string
	// Repository is the repository's clone URL over HTTPS (HTTP for a
	// forge served so) and DefaultBranch its default branch.
	Repository    string
	DefaultBranch string
	// Branch is the pushed branch or the pull request's head branch;
	// Tag the pushed tag; Commit the commit to build (the push's after,
	// the pull request's head sha); Before the push's before.
	Branch string
	Tag    string
	Commit string
	Before string
	// PR, Base and Action describe a pull request: its number, target
	// branch and action (pipeline.Action*: opened, synchronized,
	// reopened; other actions are ignored).
	PR     int
	Base   string
	Action string
	// Fork reports a pull request whose head repository is not the
	// base repository.
	Fork bool
	// HeadRepository is a pull request's head repository's clone URL.
	HeadRepository string
	// Author and Message are the head commit's author's name (or login)
	// and message.
	Author  string
	Message string
	// Changed are the paths the push's commits added, modified or
	// removed; nil when the payload does not list them (pull requests,
	// or a push of more commits than the forge lists).
	Changed []string
}

// Parse reads a verified webhook: the event header (X-GitHub-Event,
// X-Gitlab-Event, X-Gitea-Event) and the JSON body. An event BuildIt does
// not act on is an Event with Kind "" and no error; a body that is not
// the event's JSON is an error.
//
// What each forge's events become is in docs/i14-forge.md; in short:
// pushes to branches are EventPush, pushes of tags EventTag (Commit is
// the tagged commit, not an annotated tag's object), deletions are
// ignored; pull requests (GitLab merge requests) opened, synchronized
// (new commits) and reopened are EventPullRequest, their other actions
// ignored; GitHub's ping is EventPing. A pull request's Message is the
// head commit's message where the forge sends it (GitLab) and its title
// otherwise (GitHub, Gitea), Author the head commit's author (GitLab) or
// the pull request's author (GitHub, Gitea).
func Parse(kind Kind, h http.Header, body []byte) (Event, error) {
	if len(body) > MaxPayload {
		return Event{}, fmt.Errorf("the webhook's body is over %d bytes", MaxPayload)
	}
	var (
		ev  Event
		err error
	)
	switch kind {
	case GitHub:
		ev, err = parseGitHub(h.Get("X-GitHub-Event"), body)
	case GitLab:
		ev, err = parseGitLab(h.Get("X-Gitlab-Event"), body)
	case Gitea:
		ev, err = parseGitea(firstHeader(h, "X-Gitea-Event", "X-Forgejo-Event"), body)
	default:
		return Event{}, fmt.Errorf("unknown forge %q", kind)
	}
	if err != nil {
		return Event{}, err
	}
	ev.Delivery = Delivery(kind, h)
	return ev, nil
}

// The states of a commit status.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// Status is a commit status.
type Status struct {
	State       string
	Context     string
	Description string
	TargetURL   string
}

// Repo is a repository on a forge, as its API names it.
type Repo struct {
	Kind Kind
	// APIURL is the forge's API base: https://api.github.com,
	// https://HOST/api/v3 (GitHub Enterprise), https://HOST/api/v4
	// (GitLab), https://HOST/api/v1 (Gitea).
	APIURL string
	// Owner and Name; GitLab's Owner may hold subgroups ("a/b").
	Owner, Name string
}

// ParseRepo finds the repository and its API from a clone or web URL
// (https://github.com/o/r.git, http://127.0.0.1:3000/o/r). apiURL, when
// not empty, overrides the API base (a forge served under a path).
//
// An scp-like address (git@host:o/r.git) is read as https://host/o/r.
// GitHub and Gitea repositories are owner/name; a GitLab repository is
// everything up to its last path segment ("group/sub/name"), and a web
// URL's "/-/…" tail is dropped. When apiURL is given with a path (a
// Gitea served under /git/), that path, less its /api/v…, is dropped from
// the front of the repository's path.
func ParseRepo(kind Kind, url, apiURL string) (Repo, error) {
	return parseRepo(kind, url, apiURL)
}

// RateLimitError is a forge refusing for now: retry after RetryAfter
// (from Retry-After or X-RateLimit-Reset; zero when it did not say).
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("the forge's rate limit: retry after %s", e.RetryAfter)
}

// StatusError is a forge's refusal of a status (its HTTP status and what
// it said, trimmed); 4xx other than 429 are not worth retrying.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the forge answered %d: %s", e.Code, e.Body)
}

// Client posts commit statuses with a token. Its errors never hold the
// token.
type Client interface {
	SetStatus(ctx context.Context, repo Repo, sha string, st Status) error
}

// NewClient returns the client of repo's forge, with token, over hc (nil:
// a client with a 30 s timeout).
//
// The state is sent as is to GitHub and Gitea; GitLab's names differ
// (pending → running, since BuildIt posts pending when a run starts;
// failure and error → failed). A description is cut to 140 characters
// (GitHub's limit). An unknown kind answers with a client whose every
// call fails.
func NewClient(kind Kind, token string, hc *http.Client) Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &statusClient{kind: kind, token: token, hc: hc, now: time.Now}
}

// CloneHeader is the HTTP header git sends to clone from the forge with
// token (GitHub x-access-token, GitLab oauth2, Gitea the token as the
// user): "Authorization: Basic …".
func CloneHeader(kind Kind, token string) string {
	var user, pass string
	switch kind {
	case GitHub:
		user, pass = "x-access-token", token
	case GitLab:
		user, pass = "oauth2", token
	default:
		// Gitea takes a token as the user name with an empty password.
		user = token
	}
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// GitAuthEnv is the environment that makes git send CloneHeader with the
// HTTP requests it makes to repoURL's scheme, host and port (see
// GitHeaderEnv). Append it to a git command's environment.
func GitAuthEnv(kind Kind, repoURL, token string) ([]string, error) {
	return GitHeaderEnv(repoURL, CloneHeader(kind, token))
}

// GitHeaderEnv is the environment that makes git send header with the
// HTTP requests it makes to repoURL's scheme, host and port, and to no
// other host: http.<url>.extraHeader given through GIT_CONFIG_COUNT,
// which keeps it off the command line (which any user of the host may
// read) and out of .git/config and of URLs (which git prints). Git
// matches that key against the URL it started with and sends the header
// after a redirect too, to wherever it leads, so redirects are not
// followed (http.followRedirects=false): a repository that moved must be
// connected under its new URL. It replaces any GIT_CONFIG_COUNT already
// in the environment. repoURL must be an http(s) URL with a host.
func GitHeaderEnv(repoURL, header string) ([]string, error) {
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("a repository is cloned with its token over HTTP(S) only")
	}
	return []string{
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_0=http." + u.Scheme + "://" + u.Host + "/.extraHeader",
		"GIT_CONFIG_VALUE_0=" + header,
		"GIT_CONFIG_KEY_1=http.followRedirects",
		"GIT_CONFIG_VALUE_1=false",
	}, nil
}

// User is who signed in through a forge.
type User struct {
	// Subject is the forge's stable user ID, as text.
	Subject string
	Login   string
	Name    string
	// Email is the primary email, "" when the forge keeps it private;
	// EmailVerified when the forge says it verified it.
	Email         string
	EmailVerified bool
}

// OAuthEndpoint is the forge's OAuth2 authorization and token URLs, for
// a forge at baseURL (https://github.com, https://gitlab.example.com).
// An empty baseURL is https://github.com or https://gitlab.com.
func OAuthEndpoint(kind Kind, baseURL string) oauth2.Endpoint {
	return oauthEndpoint(kind, baseURL)
}

// OAuthScopes are the scopes BuildIt asks for: enough to read who the
// user is and their email.
//
// GitHub: read:user and user:email (its /user/emails says which address
// is verified). GitLab: read_user. Gitea: read:user, which limits the
// token to reading the user (without a scope Gitea grants full access).
func OAuthScopes(kind Kind) []string {
	switch kind {
	case GitHub:
		return []string{"read:user", "user:email"}
	case GitLab:
		return []string{"read_user"}
	case Gitea:
		return []string{"read:user"}
	}
	return nil
}

// FetchUser asks the forge at apiURL who the token's user is, over hc
// (an oauth2 client).
//
// GitHub: /user, and /user/emails for the primary address and whether it
// is verified. GitLab: /user, whose email is verified when confirmed_at
// is set. Gitea: /user, which does not say whether the email is verified,
// so it never is.
func FetchUser(ctx context.Context, kind Kind, apiURL string, hc *http.Client) (User, error) {
	return fetchUser(ctx, kind, apiURL, hc)
}
