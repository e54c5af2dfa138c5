package cli

import (
	"context"
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

It also checks the limits a BuildIt server applies unless its operator
raised them, with the same messages: a file of at most 1 MiB, 1,000 stage
and deploy nodes, 256 matrix instances per stage and 1,000 per pipeline,
templates extending each other at most 16 deep, and 1 MiB of plan with
templates applied and matrices expanded.

Exit status: 0 when every file is valid (warnings allowed), 2 when any file
is invalid, missing or unreadable.`,
		Example: `  buildit validate pipeline.kdl
  buildit validate -q examples/*.kdl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			failed := 0
			for _, file := range files {
				// Planned even when quiet: the plan's size is checked
				// as it is made.
				plan, err := a.loadPlan(cmd.Context(), file)
				var ee *ExitError
				if errors.As(err, &ee) {
					failed++
					continue
				}
				if err != nil {
					return err
				}
				if !quiet {
					fmt.Fprintf(a.stdout, "%s: ok: pipeline %q, %d %s in %d %s\n", file, plan.Pipeline,
						len(plan.Steps), plural(len(plan.Steps), "stage", "stages"),
						len(plan.Waves), plural(len(plan.Waves), "wave", "waves"))
					if plan.On != nil {
						fmt.Fprintf(a.stdout, "  on: %s\n", describeOn(plan.On))
					}
					if len(plan.Inputs) > 0 {
						fmt.Fprintf(a.stdout, "  inputs: %s\n", describeInputs(plan.Inputs))
					}
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

// loadPlan loads and plans one file for a command that needs its plan,
// under the default limits, printing its diagnostics. An invalid file, or
// one whose plan is over the limits, is an ExitError; ctx ending is its
// error.
func (a *app) loadPlan(ctx context.Context, file string) (*pipeline.Plan, error) {
	invalid := &ExitError{Code: ExitUsage, Err: errors.New(file + " is invalid"), Silent: true}
	p, ok := a.load(file)
	if !ok {
		return nil, invalid
	}
	plan, err := p.Plan(ctx)
	var refused pipeline.Diagnostics
	if errors.As(err, &refused) {
		a.printDiagnostics(refused)
		return nil, invalid
	}
	return plan, err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// describeOn says what starts a pipeline, on one line: `push (main),
// pull-request, tag (v*), manual, schedule nightly "0 3 * * *"`.
func describeOn(on *pipeline.On) string {
	var parts []string
	globs := func(name string, gs []string) string {
		if len(gs) == 0 {
			return name
		}
		return name + " (" + strings.Join(gs, ", ") + ")"
	}
	if on.Push != nil {
		parts = append(parts, globs("push", on.Push.Branches))
	}
	if on.PullRequest != nil {
		parts = append(parts, globs("pull-request", on.PullRequest.Branches))
	}
	if on.Tag != nil {
		parts = append(parts, globs("tag", on.Tag.Tags))
	}
	if on.Manual {
		parts = append(parts, "manual")
	}
	for _, sc := range on.Schedules {
		d := fmt.Sprintf("schedule %s %q", sc.Name, sc.Cron)
		if sc.Timezone != "" {
			d += " " + sc.Timezone
		}
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		return "nothing (the pipeline never runs)"
	}
	return strings.Join(parts, ", ")
}

// describeInputs lists inputs with their types and defaults.
func describeInputs(inputs []pipeline.Input) string {
	parts := make([]string, len(inputs))
	for i, in := range inputs {
		d := in.Name + " (" + in.Type
		switch {
		case in.Required:
			d += ", required"
		case in.Default != nil:
			d += fmt.Sprintf(", default %q", *in.Default)
		}
		parts[i] = d + ")"
	}
	return strings.Join(parts, ", ")
}
