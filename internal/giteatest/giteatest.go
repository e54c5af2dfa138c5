// Package giteatest starts a real Gitea (the forge BuildIt's webhook,
// commit-status and sign-in tests run against) on 127.0.0.1 for a test:
// SQLite in a folder of the test's own, an admin user with an API token,
// and helpers to make repositories, push commits over HTTP, add webhooks,
// read commit statuses and sign in through Gitea's OAuth2 provider.
//
// The binary is built once by scripts/gitea.sh (10 to 14 minutes on 2
// cores); see ../../../shared/recipes/gitea.md for the configuration this
// package follows.
package giteatest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Gitea release scripts/gitea.sh builds.
const Version = "v1.27.3"

// BinaryEnv names the Gitea binary; unset, `scripts/gitea.sh --path` (from
// the module's root) or the default cache path is tried.
const BinaryEnv = "BUILDIT_GITEA"

// RequireEnv names the variable that, set to 1, fails a test that would
// skip for want of the binary (CI sets it).
const RequireEnv = "BUILDIT_REQUIRE_GITEA"

// The admin user Start makes.
const (
	AdminUser     = "buildit"
	AdminPassword = "Buildit-pass-123"
	AdminEmail    = "buildit@example.com"
)

// The author of the commits Push makes.
const (
	AuthorName  = "Gitea Tester"
	AuthorEmail = "tester@example.com"
)

// Gitea is a running Gitea.
type Gitea struct {
	// URL is the web root, with a trailing slash removed
	// (http://127.0.0.1:PORT); APIURL is URL + "/api/v1".
	URL    string
	APIURL string
	// Token is an API token of User (scopes all); User and Password sign
	// in to the web UI. For git over HTTP the token is the password.
	Token    string
	User     string
	Password string
	// Dir is the instance's folder (app.ini, data, gitea.log).
	Dir string

	bin, config string
}

// Binary answers with the Gitea binary's path, or "" when it is not
// there.
func Binary() string {
	p := binaryPath()
	if p == "" {
		return ""
	}
	// A build in the background (make test's testdeps starts one with
	// `scripts/gitea.sh --background`, which keeps its pid in
	// building.pid beside the binary) is waited for.
	pidFile := filepath.Join(filepath.Dir(p), "building.pid")
	for deadline := time.Now().Add(BuildWait); ; time.Sleep(2 * time.Second) {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if !building(pidFile) || time.Now().After(deadline) {
			return ""
		}
	}
}

// BuildWait bounds how long Binary waits for a background build of Gitea.
const BuildWait = 30 * time.Minute

// building reports whether pidFile names a live process.
func building(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

// binaryPath is where the Gitea binary is or will be, or "".
func binaryPath() string {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	var p string
	if root := moduleRoot(); root != "" {
		out, err := exec.Command("sh", filepath.Join(root, "scripts", "gitea.sh"), "--path").Output()
		if err == nil {
			p = strings.TrimSpace(string(out))
		}
	}
	if p == "" {
		dir := os.Getenv("BUILDIT_TOOLS_DIR")
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			dir = filepath.Join(home, ".cache", "buildit-tools")
		}
		p = filepath.Join(dir, "gitea-"+Version, "gitea")
	}
	return p
}

// moduleRoot is the folder of the go.mod above the working directory (a
// test runs in its package's folder), or "".
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// staticRoot is Gitea's source folder in the module cache, where it reads
// its templates and locales (STATIC_ROOT_PATH).
var staticRoot = sync.OnceValues(func() (string, error) {
	var out []byte
	var err error
	if root := moduleRoot(); root != "" {
		out, err = exec.Command("sh", filepath.Join(root, "scripts", "gitea.sh"), "--static").Output()
	} else {
		out, err = exec.Command("go", "mod", "download", "-json", "code.gitea.io/gitea@"+Version).Output()
		if err == nil {
			var m struct{ Dir string }
			err = json.Unmarshal(out, &m)
			out = []byte(m.Dir)
		}
	}
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("find Gitea's source (STATIC_ROOT_PATH): %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "templates")); err != nil {
		return "", fmt.Errorf("the Gitea source has no templates: %w", err)
	}
	return dir, nil
})

// secrets are SECRET_KEY, INTERNAL_TOKEN and JWT_SECRET, generated once
// per test binary with `gitea generate secret` (so that Gitea does not
// rewrite app.ini).
var secrets = sync.OnceValues(func() ([3]string, error) {
	var s [3]string
	var errs [3]error
	var wg sync.WaitGroup
	for i, name := range []string{"SECRET_KEY", "INTERNAL_TOKEN", "JWT_SECRET"} {
		wg.Go(func() {
			out, err := exec.Command(Binary(), "generate", "secret", name).Output()
			s[i], errs[i] = strings.TrimSpace(string(out)), err
			if err == nil && s[i] == "" {
				errs[i] = errors.New("empty")
			}
			if errs[i] != nil {
				errs[i] = fmt.Errorf("gitea generate secret %s: %w", name, errs[i])
			}
		})
	}
	wg.Wait()
	return s, errors.Join(errs[:]...)
})

const appIni = `APP_NAME = buildit-test-gitea
RUN_MODE = prod
WORK_PATH = {{RUN}}
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {{PORT}}
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:{{PORT}}/
STATIC_ROOT_PATH = {{STATIC}}
APP_DATA_PATH = {{RUN}}/data
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
OFFLINE_MODE = true

[database]
DB_TYPE = sqlite3
PATH = {{RUN}}/data/gitea.db

[repository]
ROOT = {{RUN}}/data/repositories
DEFAULT_BRANCH = main

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[security]
INSTALL_LOCK = true
SECRET_KEY = {{SECRET_KEY}}
INTERNAL_TOKEN = {{INTERNAL_TOKEN}}
ALLOWED_HOST_LIST = loopback

[oauth2]
ENABLED = true
JWT_SECRET = {{JWT_SECRET}}

[service]
DISABLE_REGISTRATION = true

[webhook]
DELIVER_TIMEOUT = 10

[actions]
ENABLED = false

[mailer]
ENABLED = false

[cache]
ADAPTER = memory

[session]
PROVIDER = memory

[log]
MODE = console
LEVEL = info
ROOT_PATH = {{RUN}}/log

[cron.update_checker]
ENABLED = false
`

// Start starts Gitea on a free port of 127.0.0.1 over a fresh SQLite
// database in a folder of the test's own, makes the admin user with a
// token, and stops it (SIGTERM) when the test ends. Without the binary
// the test is skipped, or fails when BUILDIT_REQUIRE_GITEA=1. A start
// takes some seconds (Gitea migrates its empty database): share one
// instance among a package's subtests where the tests allow.
func Start(t testing.TB) *Gitea {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "gitea not built (and no build of it running): run `sh scripts/gitea.sh` (builds it once, 10 to 14 minutes) or set " + BinaryEnv
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("gitea needs git: ", err)
	}
	static, err := staticRoot()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := secrets()
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	for _, d := range []string{"data", "log", "home"} {
		if err := os.MkdirAll(filepath.Join(run, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	ini := strings.NewReplacer("{{RUN}}", run, "{{PORT}}", fmt.Sprint(port), "{{STATIC}}", static,
		"{{SECRET_KEY}}", sec[0], "{{INTERNAL_TOKEN}}", sec[1], "{{JWT_SECRET}}", sec[2]).Replace(appIni)
	config := filepath.Join(run, "app.ini")
	if err := os.WriteFile(config, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Gitea{
		URL:      fmt.Sprintf("http://127.0.0.1:%d", port),
		User:     AdminUser,
		Password: AdminPassword,
		Dir:      run,
		bin:      bin,
		config:   config,
	}
	g.APIURL = g.URL + "/api/v1"

	logf, err := os.Create(filepath.Join(run, "gitea.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "web", "--config", config, "--work-path", run)
	cmd.Env = g.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gitea: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error // set before exited is closed
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT and SIGTERM both stop Gitea gracefully
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	if err := waitHealthy(g.URL, exited, &waitErr); err != nil {
		t.Fatalf("gitea: %v\n%s", err, tail(filepath.Join(run, "gitea.log")))
	}
	g.admin(t, "user", "create", "--admin", "--username", AdminUser, "--password", AdminPassword,
		"--email", AdminEmail, "--must-change-password=false")
	g.Token = g.admin(t, "user", "generate-access-token", "--username", AdminUser,
		"--token-name", "buildit-test", "--scopes", "all", "--raw")
	if g.Token == "" {
		t.Fatal("gitea: empty access token")
	}
	return g
}

// env is the environment of Gitea's commands: its own HOME, none of the
// user's git configuration.
func (g *Gitea) env() []string {
	return append(os.Environ(), "HOME="+filepath.Join(g.Dir, "home"), "GIT_CONFIG_NOSYSTEM=1",
		"GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
}

// admin runs `gitea admin args...` against the instance and answers with
// its trimmed standard output.
func (g *Gitea) admin(t testing.TB, args ...string) string {
	t.Helper()
	args = append([]string{"admin"}, args...)
	args = append(args, "--config", g.config, "--work-path", g.Dir)
	cmd := exec.Command(g.bin, args...)
	cmd.Env = g.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gitea %s: %v\n%s%s", args[1], err, out, stderr.Bytes())
	}
	// The root warning and other log lines go to stdout before the answer.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHealthy(base string, exited <-chan struct{}, waitErr *error) error {
	deadline := time.Now().Add(90 * time.Second)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready: %w", *waitErr)
		default:
		}
		resp, err := c.Get(base + "/api/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("not ready after 90 s")
}

// tail is the end of a log file, for a failure's message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Log is the instance's log so far, for a failing test's message.
func (g *Gitea) Log() string {
	return tail(filepath.Join(g.Dir, "gitea.log"))
}

// API calls the REST API as the admin user: method, path under APIURL
// (starting with "/"), a body marshalled as JSON (nil: none), and out
// unmarshalled from the answer (nil: ignored). A status other than 2xx
// fails the test.
func (g *Gitea) API(t testing.TB, method, path string, body, out any) {
	t.Helper()
	code, answer := g.Do(t, method, path, body)
	if code/100 != 2 {
		t.Fatalf("gitea %s %s: %d %s", method, path, code, answer)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("gitea %s %s: %v: %s", method, path, err, answer)
		}
	}
}

// Do calls the REST API as the admin user and answers with the status and
// the body, whatever the status.
func (g *Gitea) Do(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.APIURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+g.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("gitea %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("gitea %s %s: %v", method, path, err)
	}
	return resp.StatusCode, answer
}

// Repo is a repository on the Gitea.
type Repo struct {
	ID            int64  `json:"id"`
	Owner         string `json:"-"`
	Name          string `json:"name"`
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url"`
	HTMLURL       string `json:"html_url"`
	Private       bool   `json:"private"`
	DefaultBranch string `json:"default_branch"`
}

// RepoOption changes a repository CreateRepo makes.
type RepoOption func(map[string]any)

// Private makes the repository private.
func Private() RepoOption { return func(m map[string]any) { m["private"] = true } }

// CreateRepo makes an empty repository name of the admin user, default
// branch main.
func (g *Gitea) CreateRepo(t testing.TB, name string, opts ...RepoOption) Repo {
	t.Helper()
	req := map[string]any{"name": name, "private": false, "default_branch": "main"}
	for _, o := range opts {
		o(req)
	}
	var r Repo
	g.API(t, http.MethodPost, "/user/repos", req, &r)
	r.Owner = g.User
	return r
}

// gitURL is the repository's clone URL with the admin's token as password.
func (g *Gitea) gitURL(r Repo) string {
	u, err := url.Parse(r.CloneURL)
	if err != nil || u.Host == "" {
		u, _ = url.Parse(g.URL + "/" + r.FullName + ".git")
	}
	u.User = url.UserPassword(g.User, g.Token)
	return u.String()
}

// Git runs git in dir with a fixed author and none of the user's or the
// system's configuration, and answers with its trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := RunGit(dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", args[0], err, out)
	}
	return out
}

// RunGit runs git as Git does, with env added (GIT_CONFIG_COUNT=… for an
// extra header), and answers with its trimmed combined output and error;
// git never prompts for credentials.
func RunGit(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME="+AuthorName, "GIT_AUTHOR_EMAIL="+AuthorEmail,
		"GIT_COMMITTER_NAME="+AuthorName, "GIT_COMMITTER_EMAIL="+AuthorEmail,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Checkout makes a work tree of the repository in a fresh folder, on
// branch at its tip; a branch that does not exist starts from the default
// branch's tip, or as an orphan in an empty repository. Its origin
// carries the admin's token, so Git(t, dir, "push", "origin", …) works.
func (g *Gitea) Checkout(t testing.TB, r Repo, branch string) string {
	t.Helper()
	dir := t.TempDir()
	Git(t, dir, "init", "--quiet", "--initial-branch="+branch)
	Git(t, dir, "remote", "add", "origin", g.gitURL(r))
	base := r.DefaultBranch
	if base == "" {
		base = "main"
	}
	for _, b := range []string{branch, base} {
		if _, err := RunGit(dir, nil, "fetch", "--quiet", "origin", "refs/heads/"+b); err == nil {
			Git(t, dir, "checkout", "--quiet", "-B", branch, "FETCH_HEAD")
			break
		}
	}
	return dir
}

// Push commits files (path: content; "" deletes the path) on branch of
// the repository, from its tip (or from the default branch's tip for a
// new branch), with the fixed author and message, pushes it over HTTP
// and answers with the commit.
func (g *Gitea) Push(t testing.TB, r Repo, branch string, files map[string]string, message string) string {
	t.Helper()
	dir := g.Checkout(t, r, branch)
	for path, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(path))
		if content == "" {
			if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, dir, "add", "--all")
	Git(t, dir, "commit", "--quiet", "--allow-empty", "-m", message)
	sha := Git(t, dir, "rev-parse", "HEAD")
	Git(t, dir, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch)
	return sha
}

// PushTag tags branch's tip with the lightweight tag, pushes it over HTTP
// and answers with the tagged commit.
func (g *Gitea) PushTag(t testing.TB, r Repo, tag, branch string) string {
	t.Helper()
	dir := t.TempDir()
	Git(t, dir, "init", "--quiet")
	Git(t, dir, "remote", "add", "origin", g.gitURL(r))
	Git(t, dir, "fetch", "--quiet", "origin", "refs/heads/"+branch)
	sha := Git(t, dir, "rev-parse", "FETCH_HEAD")
	Git(t, dir, "tag", tag, sha)
	Git(t, dir, "push", "--quiet", "origin", "refs/tags/"+tag)
	return sha
}

// CreateBranch makes branch from another through the API.
func (g *Gitea) CreateBranch(t testing.TB, r Repo, branch, from string) {
	t.Helper()
	g.API(t, http.MethodPost, "/repos/"+r.FullName+"/branches",
		map[string]string{"new_branch_name": branch, "old_branch_name": from}, nil)
}

// OpenPR opens a pull request from head to base and answers with its
// number.
func (g *Gitea) OpenPR(t testing.TB, r Repo, head, base, title string) int {
	t.Helper()
	var pr struct {
		Number int `json:"number"`
	}
	g.API(t, http.MethodPost, "/repos/"+r.FullName+"/pulls",
		map[string]string{"head": head, "base": base, "title": title}, &pr)
	return pr.Number
}

// AddWebhook adds a Gitea-type webhook with a JSON body to the
// repository, signed with secret, for events (none: push); it answers
// with the hook's ID.
func (g *Gitea) AddWebhook(t testing.TB, r Repo, hookURL, secret string, events ...string) int64 {
	t.Helper()
	if len(events) == 0 {
		events = []string{"push"}
	}
	var h struct {
		ID int64 `json:"id"`
	}
	g.API(t, http.MethodPost, "/repos/"+r.FullName+"/hooks", map[string]any{
		"type":   "gitea",
		"active": true,
		"events": events,
		"config": map[string]string{"url": hookURL, "content_type": "json", "secret": secret},
	}, &h)
	return h.ID
}

// Status is a commit status as Gitea lists it.
type Status struct {
	State       string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// Statuses lists the commit statuses of sha, newest first.
func (g *Gitea) Statuses(t testing.TB, r Repo, sha string) []Status {
	t.Helper()
	var st []Status
	g.API(t, http.MethodGet, "/repos/"+r.FullName+"/statuses/"+sha, nil, &st)
	return st
}

// CreateOAuthApp registers a confidential OAuth2 application of the admin
// user with one redirect URI and answers with its client ID and secret.
func (g *Gitea) CreateOAuthApp(t testing.TB, name, redirectURI string) (clientID, clientSecret string) {
	t.Helper()
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	g.API(t, http.MethodPost, "/user/applications/oauth2", map[string]any{
		"name":                name,
		"redirect_uris":       []string{redirectURI},
		"confidential_client": true,
	}, &app)
	if app.ClientID == "" || app.ClientSecret == "" {
		t.Fatalf("gitea: OAuth2 application without client ID or secret")
	}
	return app.ClientID, app.ClientSecret
}
