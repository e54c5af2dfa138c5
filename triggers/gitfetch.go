package triggers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/repourl"
)

// The bounds of reading a repository's pipelines.
const (
	// fetchTimeout bounds the whole fetch.
	fetchTimeout = 2 * time.Minute
	// maxPipelineFiles bounds the .kdl files read from one commit.
	maxPipelineFiles = 50
	// maxOutput bounds what one git command may print (ls-tree's listing,
	// show's file): a pipeline file is far smaller.
	maxOutput = 4 << 20
)

// shaRE is a full commit ID (SHA-1 or SHA-256), all a fetch may name.
var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// pipelinesPathRE is a safe directory inside a repository.
var pipelinesPathRE = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)

// pipelineFile is one .kdl file of a repository at a commit.
type pipelineFile struct {
	// Path is the file's path in the repository (".buildit/ci.kdl").
	Path   string
	Source []byte
}

// fetcher reads a repository's pipeline files with git.
type fetcher struct {
	policy repourl.Policy
	// header is the Authorization header git sends ("" for none): it
	// reaches git through its environment, never argv or the URL.
	header string
	// maxFile bounds one file's size.
	maxFile int
}

// fetchPipelines returns the .kdl files directly in dir of repo at commit
// (a shallow fetch of that one commit), sorted by path, at most
// maxPipelineFiles of them. A file over maxFile is returned cut at
// maxFile+1 bytes, for the loader to refuse.
func (f fetcher) fetchPipelines(ctx context.Context, repo, commit, dir string) ([]pipelineFile, error) {
	if err := f.policy.Check(repo); err != nil {
		return nil, err
	}
	if repo == "" {
		return nil, errors.New("the repository has no URL")
	}
	if !shaRE.MatchString(commit) {
		return nil, fmt.Errorf("%q is not a full commit ID", commit)
	}
	dir = strings.Trim(dir, "/")
	if !pipelinesPathRE.MatchString(dir) || slicesContainsDots(dir) {
		return nil, fmt.Errorf("pipelines path %q is not a directory inside the repository", dir)
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	home, err := os.MkdirTemp("", "buildit-hook-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	work := filepath.Join(home, "repo")
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, err
	}
	g, err := f.git(home, work, repo)
	if err != nil {
		return nil, err
	}
	if _, err := g(ctx, "init", "-q"); err != nil {
		return nil, err
	}
	if _, err := g(ctx, "fetch", "-q", "--no-tags", "--depth=1", "--", repo, commit); err != nil {
		return nil, fmt.Errorf("fetch %s of %s: %w", commit, repourl.Redacted(repo), err)
	}
	list, err := g(ctx, "ls-tree", "-z", "--full-tree", commit+":"+dir)
	if err != nil {
		// No such directory at the commit: no pipelines.
		return nil, nil
	}
	var files []pipelineFile
	for _, entry := range strings.Split(string(list), "\x00") {
		// "<mode> <type> <object>\t<name>"
		meta, name, ok := strings.Cut(entry, "\t")
		if !ok || !strings.HasSuffix(name, ".kdl") {
			continue
		}
		fields := strings.Fields(meta)
		if len(fields) != 3 || fields[1] != "blob" {
			continue
		}
		if len(files) == maxPipelineFiles {
			return nil, fmt.Errorf("%s holds more than %d pipeline files", dir, maxPipelineFiles)
		}
		src, err := g(ctx, "cat-file", "blob", fields[2])
		if err != nil {
			return nil, err
		}
		if len(src) > f.maxFile+1 {
			src = src[:f.maxFile+1]
		}
		files = append(files, pipelineFile{Path: path.Join(dir, name), Source: src})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

func slicesContainsDots(dir string) bool {
	for _, part := range strings.Split(dir, "/") {
		if part == "." || part == ".." {
			return true
		}
	}
	return false
}

// git returns a runner of git commands in work, with the policy's
// environment (repourl.Policy.GitEnv), the header sent to repo's host
// only, and its output bounded.
func (f fetcher) git(home, work, repo string) (func(ctx context.Context, args ...string) ([]byte, error), error) {
	env := f.policy.GitEnv(home)
	if f.header != "" {
		auth, err := forge.GitHeaderEnv(repo, f.header)
		if err != nil {
			return nil, err
		}
		env = append(env, auth...)
	}
	config := f.policy.GitConfig()
	return func(ctx context.Context, args ...string) ([]byte, error) {
		full := append(slices.Clone(config), args...)
		cmd := exec.CommandContext(ctx, "git", full...)
		cmd.Dir = work
		cmd.Env = env
		out := &limitedBuffer{max: maxOutput}
		var stderr limitedBuffer
		stderr.max = 4 << 10
		cmd.Stdout, cmd.Stderr = out, &stderr
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("git %s: %w", args[0], ctx.Err())
			}
			// git's message, without the header (git never prints it) or
			// credentials in a URL.
			msg := strings.TrimSpace(stderr.String())
			return nil, fmt.Errorf("git %s: %s", args[0], repourl.Redacted(msg))
		}
		if out.over {
			return nil, fmt.Errorf("git %s: output over %d bytes", args[0], maxOutput)
		}
		return out.Bytes(), nil
	}, nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
