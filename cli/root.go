// Package cli holds BuildIt's cobra commands. It parses flags, builds the
// logger once and wires the packages that do the work; it holds no logic of
// its own that a test of those packages could not reach.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Exit statuses shared by every command.
const (
	ExitOK      = 0
	ExitFailed  = 1 // the pipeline ran and failed
	ExitUsage   = 2 // a bad file, flag or argument
	ExitSignal  = 130
	exitUnknown = 1
)

// ExitError carries the exit status a command wants. Its message, if any, has
// already been printed when Silent is set.
type ExitError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks err as the user's mistake (exit status 2).
func usageError(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// app is the state shared by every command: the streams and the logger.
type app struct {
	stdout  io.Writer
	stderr  io.Writer
	verbose bool
	logger  *slog.Logger
}

// NewRootCommand builds the `buildit` command tree.
func NewRootCommand(version string) *cobra.Command {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:   "buildit",
		Short: "BuildIt runs CI/CD pipelines written in KDL, on your machine or as a service",
		Long: `BuildIt runs CI/CD pipelines written in KDL.

A pipeline is a file of stages; each run is a Temporal workflow that fans the
stage DAG out into container, shell and deployment steps. The same pipeline
runs on your laptop (buildit run) and on a BuildIt server.`,
		Example: `  buildit validate examples/*.kdl
  buildit graph examples/diamond.kdl --format mermaid`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			a.stdout = cmd.OutOrStdout()
			a.stderr = cmd.ErrOrStderr()
			level := slog.LevelWarn
			if a.verbose {
				level = slog.LevelDebug
			}
			a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
		},
	}
	root.SetVersionTemplate("buildit {{.Version}}\n")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log debug detail to stderr")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(
		newValidateCommand(a),
		newGraphCommand(a),
		newRunCommand(a),
		newMigrateCommand(a),
		newServerCommand(a),
		newWorkerCommand(a),
		newDevCommand(a),
		newLoginCommand(a),
		newPipelinesCommand(a),
		newReposCommand(a),
		newTriggerCommand(a),
		newRunsCommand(a),
		newCacheCommand(a),
		newDeploymentsCommand(a),
		newSchedulesCommand(a),
	)
	return root
}

// Execute runs the command tree with args and returns the process's exit
// status, printing any error to stderr.
func Execute(root *cobra.Command, args []string) int {
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if !ee.Silent && ee.Err != nil {
			fmt.Fprintln(root.ErrOrStderr(), "buildit:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(root.ErrOrStderr(), "buildit:", err)
	// cobra reports unknown commands and bad arguments as plain errors.
	return ExitUsage
}
