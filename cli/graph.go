package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/pipeline"
)

func newGraphCommand(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Print a pipeline's stage DAG",
		Long: `Graph prints the stages of a pipeline as the engine will run them: matrix
stages expanded, in topological waves. Every stage of a wave can start once
the waves before it are done.

Formats: text (the default), dot (Graphviz: pipe into dot -Tsvg) and mermaid.`,
		Example: `  buildit graph examples/diamond.kdl
  buildit graph examples/matrix.kdl --format dot | dot -Tsvg > graph.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(pipeline.GraphFormats, format) {
				return usageError(fmt.Errorf("unknown --format %q: want one of %s", format, strings.Join(pipeline.GraphFormats, ", ")))
			}
			plan, err := a.loadPlan(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return plan.WriteGraph(a.stdout, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "output format: text, dot or mermaid")
	return cmd
}
