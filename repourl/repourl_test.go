package repourl_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/repourl/repourltest"
)

// Every form git would read as a local path, a remote helper or an option
// is refused with a reason that names the field; https, ssh and scp-style
// pass; http only when the operator allows it.
func TestSecurityRepositoryPolicy(t *testing.T) {
	for _, policy := range []repourl.Policy{{}, {AllowHTTP: true}} {
		for _, c := range repourltest.Refusals {
			if policy.AllowHTTP && strings.HasPrefix(c.Repository, "http://") {
				continue
			}
			err := policy.Check(c.Repository)
			var re *repourl.Error
			if !errors.As(err, &re) {
				t.Errorf("%+v: %q is allowed (%v)", policy, c.Repository, err)
				continue
			}
			if !strings.HasPrefix(err.Error(), "repository: ") || !strings.Contains(err.Error(), c.Because) {
				t.Errorf("%+v: %q: %q, want it to say %q", policy, c.Repository, err, c.Because)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: the reason repeats the value: %q", c.Repository, err)
			}
		}
		for _, repo := range repourltest.Accepted {
			if err := policy.Check(repo); err != nil {
				t.Errorf("%+v: %q is refused: %v", policy, repo, err)
			}
		}
	}
	for _, repo := range repourltest.AcceptedHTTP {
		if err := (repourl.Policy{AllowHTTP: true}).Check(repo); err != nil {
			t.Errorf("with http allowed, %q is refused: %v", repo, err)
		}
	}
	if err := (repourl.Policy{}).Check(""); err != nil {
		t.Errorf("no repository: %v", err)
	}
}

// git agrees: every accepted ssh or scp-style form is ssh to the host the
// policy checked, with no option for a host or a path, and the refused
// scp-like local forms are local to git too. git's --diag-url shows how it
// parses a URL without connecting.
func TestPolicyAgreesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := filepath.Join(t.TempDir(), "r")
	if out, err := exec.Command("git", "init", "--quiet", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	diag := func(repo string) map[string]string {
		t.Helper()
		cmd := exec.Command("git", "fetch-pack", "--diag-url", repo)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git fetch-pack --diag-url %q: %v\n%s", repo, err, out)
		}
		m := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "Diag: "), "="); ok {
				m[k] = v
			}
		}
		return m
	}
	for _, repo := range repourltest.Accepted {
		if strings.HasPrefix(repo, "https://") {
			continue
		}
		d := diag(repo)
		if d["protocol"] != "ssh" {
			t.Errorf("git reads %q as %s, not ssh", repo, d["protocol"])
		}
		if h := d["userandhost"]; h == "" || strings.HasPrefix(h, "-") || strings.HasPrefix(d["path"], "-") {
			t.Errorf("git reads %q as host %q, path %q", repo, h, d["path"])
		}
	}
	for _, repo := range []string{"./a:b", "../other:x", "git@host/x:y", "/srv/x"} {
		if d := diag(repo); d["protocol"] != "file" {
			t.Errorf("git reads %q as %s; the corpus calls it local", repo, d["protocol"])
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	var p repourl.Policy
	for b.Loop() {
		for _, repo := range []string{"https://github.com/acme/app.git", "git@github.com:acme/app.git", "fd::0", "/srv/x"} {
			_ = p.Check(repo)
		}
	}
}
