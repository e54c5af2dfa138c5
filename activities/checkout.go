package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/workflows"
)

// Defaults of CloneOptions.
const (
	DefaultCloneTimeout = 10 * time.Minute
	DefaultCloneMaxSize = 2 << 30
)

// CloneOptions allow and bound the checkouts PrepareWorkspace makes. The
// zero value is the defaults.
type CloneOptions struct {
	// Repositories is the policy on what may be cloned. The API applies
	// it when a run is triggered; the worker applies it again, for runs
	// triggered before (or by a server that allows more).
	Repositories repourl.Policy
	// Timeout bounds a whole checkout, clone and check out;
	// DefaultCloneTimeout when zero.
	Timeout time.Duration
	// MaxSize bounds the bytes a checkout writes (the .git folder and the
	// work tree); DefaultCloneMaxSize when zero.
	MaxSize int64
}

func (o CloneOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultCloneTimeout
}

func (o CloneOptions) maxSize() int64 {
	if o.MaxSize > 0 {
		return o.MaxSize
	}
	return DefaultCloneMaxSize
}

// sizePoll is how often a checkout's size is measured while it runs.
var sizePoll = 250 * time.Millisecond

// checkout clones in.Repository into dir and checks out the commit, or the
// branch when no commit is given. The repository is checked against the
// policy first; git runs with nothing of the worker's (see
// repourl.Policy.GitEnv) but,
// for a connected repository (in.Auth), the forge token's header (see
// cloneAuth), under
// the timeout and the size cap. Git's own words go into the error, with
// any password in the repository's URL hidden. What retrying cannot fix (a
// refused repository, a missing commit, the caps) is Permanent.
func (a *ServerMode) checkout(ctx context.Context, in workflows.PrepareInput, dir string) error {
	opts := a.Clone
	if err := opts.Repositories.Check(in.Repository); err != nil {
		return Permanent(err)
	}
	auth, hide, err := a.cloneAuth(ctx, in)
	if err != nil {
		return err
	}
	home, err := os.MkdirTemp("", "buildit-git-home-")
	if err != nil {
		return fmt.Errorf("make git's home: %w", err)
	}
	defer os.RemoveAll(home)
	g := gitRunner{env: append(opts.Repositories.GitEnv(home), auth...), config: opts.Repositories.GitConfig(), home: home}

	errTimeout := Permanent(fmt.Errorf("clone %s: the clone took longer than %s (--clone-timeout)", redactURL(in.Repository), opts.timeout()))
	errSize := Permanent(fmt.Errorf("clone %s: the repository is larger than the clone size cap of %s (--clone-max-size)", redactURL(in.Repository), formatBytes(opts.maxSize())))
	cctx, cancel := context.WithTimeoutCause(ctx, opts.timeout(), errTimeout)
	defer cancel()
	cctx, cancelSize := context.WithCancelCause(cctx)
	defer cancelSize(nil)
	stopWatch := watchSize(cctx, dir, opts.maxSize(), func() { cancelSize(errSize) })
	defer stopWatch()
	// bound says which bound stopped a command, if one did, and checks
	// the size once more for a command that beat the watcher.
	bound := func() error {
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case cctx.Err() != nil:
			return context.Cause(cctx)
		}
		if n, _ := dirSize(dir); n > opts.maxSize() {
			return errSize
		}
		return nil
	}

	clone := []string{"clone", "--quiet", "--no-checkout", "--template="}
	if in.Branch != "" && in.Commit == "" {
		clone = append(clone, "--branch", in.Branch)
	}
	clone = append(clone, "--", in.Repository, dir)
	if err := g.run(cctx, "", clone...); err != nil {
		if b := bound(); b != nil {
			return b
		}
		return fmt.Errorf("clone %s: %s", redactURL(in.Repository), hideAll(hidePassword(err.Error(), in.Repository), hide))
	}
	rev := in.Commit
	if rev == "" {
		rev = "HEAD"
	}
	err = g.run(cctx, dir, "checkout", "--quiet", "--detach", rev)
	if b := bound(); b != nil {
		return b
	}
	if err != nil {
		msg := hideAll(hidePassword(err.Error(), in.Repository), hide)
		if in.Commit != "" {
			// A commit that is not there is the trigger's mistake.
			return Permanent(fmt.Errorf("check out %s of %s: %s", in.Commit, redactURL(in.Repository), msg))
		}
		return fmt.Errorf("check out %s: %s", redactURL(in.Repository), msg)
	}
	return nil
}

// gitRunner runs git commands of one checkout.
type gitRunner struct {
	env, config []string
	home        string
}

// run runs git in dir (home when empty), in a process group of its own
// with stdin closed, and kills the whole group when ctx ends: git's
// helpers (git-remote-https, ssh, index-pack) are its children.
func (g gitRunner) run(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", append(append([]string{}, g.config...), args...)...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = g.home
	}
	cmd.Env = g.env
	cmd.Stdin = nil // /dev/null: the fd:: helper read its commands there
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[len(msg)-500:]
		}
		if msg == "" {
			return err
		}
		return fmt.Errorf("%w: %s", err, msg)
	}
	return nil
}

// watchSize measures dir every sizePoll until ctx ends or stop is called,
// and calls over once when it holds more than limit bytes.
func watchSize(ctx context.Context, dir string, limit int64, over func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(sizePoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
			}
			if n, _ := dirSize(dir); n > limit {
				over()
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// dirSize is the bytes of the regular files under dir. Files that go
// away while it walks (git's temporary packs) are skipped.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}

// formatBytes writes n in binary units, as the flag takes them.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// hidePassword replaces the password of repository's URL in text.
func hidePassword(text, repository string) string {
	u, err := url.Parse(repository)
	if err != nil || u.User == nil {
		return text
	}
	if p, ok := u.User.Password(); ok && p != "" {
		text = strings.ReplaceAll(text, p, "xxxxx")
	}
	return text
}

// redactURL hides the password of a URL's user info.
func redactURL(s string) string { return repourl.Redacted(s) }

// cloneAuth is the environment that has git authenticate a clone of a
// connected repository (in.Auth) with the forge token of the tenant's
// secret: the token's HTTP header (forge.CloneHeader) as http.extraHeader,
// given through git's GIT_CONFIG_* variables, so that it is on no command
// line and in no URL, scoped to the repository's scheme, host and port
// (forge.GitHeaderEnv). hide are the strings that
// must not leave in an error: the token and the header.
func (a *ServerMode) cloneAuth(ctx context.Context, in workflows.PrepareInput) (env, hide []string, err error) {
	if in.Auth == nil {
		return nil, nil, nil
	}
	kind, err := forge.ParseKind(in.Auth.Forge)
	if err != nil {
		return nil, nil, Permanent(fmt.Errorf("clone %s: %w", redactURL(in.Repository), err))
	}
	src := a.secrets()
	if src == nil {
		return nil, nil, Permanent(fmt.Errorf("clone %s: this worker has no tenant secrets to read the forge token from", redactURL(in.Repository)))
	}
	values, err := src.Secrets(ctx, &buildit.RunRef{TenantID: in.Auth.TenantID}, []string{in.Auth.Secret})
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("clone %s: read the token secret %q: %w", redactURL(in.Repository), in.Auth.Secret, err)
	}
	token := values[in.Auth.Secret]
	if token == "" {
		return nil, nil, Permanent(fmt.Errorf("clone %s: the tenant has no secret %q (the repository's forge token)", redactURL(in.Repository), in.Auth.Secret))
	}
	header := forge.CloneHeader(kind, token)
	if env, err = forge.GitHeaderEnv(in.Repository, header); err != nil {
		return nil, nil, Permanent(fmt.Errorf("clone %s: %w", redactURL(in.Repository), err))
	}
	hide = []string{header, token}
	if _, cred, ok := strings.Cut(header, " Basic "); ok {
		hide = append(hide, strings.TrimSpace(cred))
	}
	return env, hide, nil
}

// hideAll replaces each of secrets in text.
func hideAll(text string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "xxxxx")
		}
	}
	return text
}
