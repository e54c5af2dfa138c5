package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/pipeline"
)

func newValidateCommand(a *app) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check pipeline files and report every problem as file:line:col",
		Long: `Validate checks each pipeline file: its KDL syntax, every node and property
name, value types, durations, stage references and dependency cycles. It
reports every problem at once, as file:line:col: message, on stderr.

Exit status: 0 when every file is valid (warnings allowed), 2 when any file
is invalid, missing or unreadable.`,
		Example: `  buildit validate pipeline.kdl
  buildit validate -q examples/*.kdl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, files []string) error {
			failed := 0
			for _, file := range files {
				p, ok := a.load(file)
				if !ok {
					failed++
					continue
				}
				if !quiet {
					plan := pipeline.NewPlan(p)
					fmt.Fprintf(a.stdout, "%s: ok: pipeline %q, %d %s in %d %s\n", file, p.Name,
						len(plan.Steps), plural(len(plan.Steps), "stage", "stages"),
						len(plan.Waves), plural(len(plan.Waves), "wave", "waves"))
				}
			}
			if failed > 0 {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%d of %d %s invalid", failed, len(files), plural(len(files), "file is", "files are")), Silent: quiet}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing for valid files")
	return cmd
}

// load reads and validates one pipeline file, printing its diagnostics
// (warnings too) to stderr. It reports false when the file is unusable.
func (a *app) load(file string) (*pipeline.Pipeline, bool) {
	p, diags, err := pipeline.LoadFile(file)
	if err != nil {
		fmt.Fprintf(a.stderr, "%s\n", err)
		return nil, false
	}
	a.printDiagnostics(diags)
	a.logger.Debug("pipeline loaded", "file", file, "errors", len(diags.Errors()), "warnings", len(diags.Warnings()))
	return p, !diags.HasErrors()
}

func (a *app) printDiagnostics(diags pipeline.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(a.stderr, d.String())
		if d.Snippet != "" {
			for _, line := range strings.Split(strings.TrimRight(d.Snippet, "\n"), "\n") {
				fmt.Fprintf(a.stderr, "    %s\n", line)
			}
		}
	}
}

// loadPlan loads one file for a command that needs its plan.
func (a *app) loadPlan(file string) (*pipeline.Plan, error) {
	p, ok := a.load(file)
	if !ok {
		return nil, &ExitError{Code: ExitUsage, Err: errors.New(file + " is invalid"), Silent: true}
	}
	return pipeline.NewPlan(p), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
