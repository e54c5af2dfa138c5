package cli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/api"
)

// streamFlags are the API's bounds on log pages and followed logs, flags of
// buildit server and buildit dev.
type streamFlags struct {
	logPageBytes, followersPerTenant int
	writeTimeout, followIdle         time.Duration
}

func addStreamFlags(cmd *cobra.Command) *streamFlags {
	f := &streamFlags{}
	fl := cmd.Flags()
	fl.IntVar(&f.logPageBytes, "log-page-bytes", envInt("BUILDIT_LOG_PAGE_BYTES", api.DefaultLogPageBytes),
		"most bytes of line text in one page of a stored log; the page's next says where to read on (env BUILDIT_LOG_PAGE_BYTES)")
	fl.DurationVar(&f.writeTimeout, "stream-write-timeout", envDuration("BUILDIT_STREAM_WRITE_TIMEOUT", api.DefaultStreamWriteTimeout),
		"a log page or followed log whose client takes nothing for this long is cut off (env BUILDIT_STREAM_WRITE_TIMEOUT)")
	fl.DurationVar(&f.followIdle, "follow-idle", envDuration("BUILDIT_FOLLOW_IDLE", api.DefaultFollowIdle),
		"a followed log with no new line for this long ends with an idle event, and its client follows again (env BUILDIT_FOLLOW_IDLE)")
	fl.IntVar(&f.followersPerTenant, "followers-per-tenant", envInt("BUILDIT_FOLLOWERS_PER_TENANT", api.DefaultFollowersPerTenant),
		"most logs one tenant follows at once on this process; the next gets a 429 (env BUILDIT_FOLLOWERS_PER_TENANT)")
	return f
}

// apply sets the bounds in cfg, refusing values that would turn one off.
func (f *streamFlags) apply(cfg *api.Config) error {
	if f.logPageBytes < 1 || f.followersPerTenant < 1 || f.writeTimeout <= 0 || f.followIdle <= 0 {
		return usageError(errors.New("--log-page-bytes, --stream-write-timeout, --follow-idle and --followers-per-tenant must be more than 0"))
	}
	cfg.LogPageBytes, cfg.StreamWriteTimeout = f.logPageBytes, f.writeTimeout
	cfg.FollowIdle, cfg.FollowersPerTenant = f.followIdle, f.followersPerTenant
	return nil
}
