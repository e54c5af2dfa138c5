package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/pipeline"
)

// limitFlags are the flags of buildit server and buildit dev that set the
// limits on the pipelines tenants push (pipeline.Limits): an operator can
// raise them for a pipeline that needs more, or lower them.
type limitFlags struct {
	lim pipeline.Limits
	// envErr is the first environment variable that is not a number.
	envErr error
}

// add declares the flags on cmd, each defaulting to its environment
// variable, else to pipeline.DefaultLimits.
func (f *limitFlags) add(cmd *cobra.Command) {
	def := pipeline.DefaultLimits
	fl := cmd.Flags()
	for _, l := range []struct {
		v               *int
		flag, env, help string
		value           int
	}{
		{&f.lim.FileBytes, "max-pipeline-bytes", "BUILDIT_MAX_PIPELINE_BYTES",
			"largest pipeline file in `BYTES` (API request bodies stay capped at 1 MiB)", def.FileBytes},
		{&f.lim.Stages, "max-pipeline-stages", "BUILDIT_MAX_PIPELINE_STAGES",
			"at most `N` stage and deploy nodes in a pipeline", def.Stages},
		{&f.lim.Matrix, "max-matrix", "BUILDIT_MAX_MATRIX",
			"at most `N` matrix instances of one stage (the product of its axes' lengths)", def.Matrix},
		{&f.lim.Instances, "max-plan-instances", "BUILDIT_MAX_PLAN_INSTANCES",
			"at most `N` stage instances in a pipeline, matrices expanded", def.Instances},
		{&f.lim.TemplateDepth, "max-template-depth", "BUILDIT_MAX_TEMPLATE_DEPTH",
			"templates extend each other at most `N` deep", def.TemplateDepth},
		{&f.lim.PlanBytes, "max-plan-bytes", "BUILDIT_MAX_PLAN_BYTES",
			"largest plan in `BYTES`, about as JSON: it is each run's workflow input, which Temporal caps at 2 MB", def.PlanBytes},
	} {
		if s, ok := os.LookupEnv(l.env); ok {
			n, err := strconv.Atoi(s)
			if err != nil && f.envErr == nil {
				f.envErr = fmt.Errorf("%s=%q: want a number", l.env, s)
			}
			if err == nil {
				l.value = n
			}
		}
		fl.IntVar(l.v, l.flag, l.value, l.help+" (env "+l.env+")")
	}
}

// limits returns the limits the flags set, or a usage error.
func (f *limitFlags) limits() (pipeline.Limits, error) {
	if f.envErr != nil {
		return pipeline.Limits{}, usageError(f.envErr)
	}
	for _, v := range []struct {
		name string
		n    int
	}{
		{"--max-pipeline-bytes", f.lim.FileBytes}, {"--max-pipeline-stages", f.lim.Stages}, {"--max-matrix", f.lim.Matrix},
		{"--max-plan-instances", f.lim.Instances}, {"--max-template-depth", f.lim.TemplateDepth}, {"--max-plan-bytes", f.lim.PlanBytes},
	} {
		if v.n < 1 {
			return pipeline.Limits{}, usageError(fmt.Errorf("%s must be at least 1, got %d", v.name, v.n))
		}
	}
	return f.lim, nil
}
