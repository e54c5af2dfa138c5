package cli

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/workflows"
)

// allowHTTPRepositories adds --allow-http-repositories to cmd: plain
// http:// repositories, for a mirror on the operator's own network. The
// API (buildit server) and the workers (buildit worker) each apply the
// policy, so both need it.
func allowHTTPRepositories(cmd *cobra.Command, allow *bool) {
	cmd.Flags().BoolVar(allow, "allow-http-repositories", env("BUILDIT_ALLOW_HTTP_REPOSITORIES", "") == "true",
		"accept http:// repositories besides https://, ssh:// and user@host:path, for a mirror on a trusted network (env BUILDIT_ALLOW_HTTP_REPOSITORIES=true)")
}

// cloneFlags are a worker's flags on the repositories it clones.
type cloneFlags struct {
	allowHTTP bool
	timeout   time.Duration
	maxSize   byteSize
	// envErr is a BUILDIT_CLONE_MAX_SIZE that is not a size, said at
	// start rather than ignored.
	envErr error
}

func (f *cloneFlags) register(cmd *cobra.Command) {
	allowHTTPRepositories(cmd, &f.allowHTTP)
	fl := cmd.Flags()
	fl.DurationVar(&f.timeout, "clone-timeout", envDuration("BUILDIT_CLONE_TIMEOUT", activities.DefaultCloneTimeout),
		fmt.Sprintf("longest a run's checkout (clone and check out) may take, at most %s; the run fails past it (env BUILDIT_CLONE_TIMEOUT)", workflows.PrepareTimeout))
	f.maxSize = activities.DefaultCloneMaxSize
	if v := os.Getenv("BUILDIT_CLONE_MAX_SIZE"); v != "" {
		if err := f.maxSize.Set(v); err != nil {
			f.envErr = fmt.Errorf("BUILDIT_CLONE_MAX_SIZE: %w", err)
		}
	}
	fl.Var(&f.maxSize, "clone-max-size", "most bytes a run's checkout may write (.git and the work tree), such as 2GiB or 500MB; the clone is stopped past it (env BUILDIT_CLONE_MAX_SIZE)")
}

// options are the activities' CloneOptions the flags ask for.
func (f *cloneFlags) options(log *slog.Logger) (activities.CloneOptions, error) {
	if f.envErr != nil {
		return activities.CloneOptions{}, usageError(f.envErr)
	}
	if f.timeout <= 0 {
		return activities.CloneOptions{}, usageError(fmt.Errorf("--clone-timeout must be above zero"))
	}
	if f.timeout > workflows.PrepareTimeout {
		log.Warn("--clone-timeout is longer than a workspace's preparation may take: that limit ends the clone first",
			"clone_timeout", f.timeout.String(), "limit", workflows.PrepareTimeout.String())
	}
	if f.allowHTTP {
		log.Warn("http:// repositories are allowed: their contents can be read and changed on the way")
	}
	opts := activities.CloneOptions{Timeout: f.timeout, MaxSize: int64(f.maxSize)}
	opts.Repositories.AllowHTTP = f.allowHTTP
	return opts, nil
}
