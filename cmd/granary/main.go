// Command granary moves time-stamped, geo-referenced rows from files into a
// typed dataset store and back out: define datasets, ingest CSV files,
// query and delete datapoints. The store is an embedded SQLite file unless
// told otherwise.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/granaryhq/granary/datasets"
)

// Exit codes: 0 success, 1 a failed operation, 2 a usage error.
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks errors in how granary was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app holds what every verb shares: global flags and the output streams.
type app struct {
	storePath string
	apiKey    string
	json      bool
	quiet     bool
	stdout    io.Writer
	stderr    io.Writer
	stdin     io.Reader
	log       *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes granary with args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, stdin: stdin}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "granary: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "granary",
		Short: "Move spatio-temporal datapoints between files and a typed dataset store",
		Long: `granary moves time-stamped, geo-referenced rows from files into a typed dataset
store and back out again: fast, exact, and safe to re-run.

The store is an embedded SQLite file: ./granary.db unless --store or
$GRANARY_STORE names another.`,
		Example: `  granary dataset create --schema examples/measurements.yaml
  granary ingest --dataset my_org.measurements --collection 2024 examples/measurements.csv
  granary query --dataset my_org.measurements --time 2024-01-01,2024-02-01`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if a.quiet {
				level = slog.LevelError
			}
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.storePath, "store", "", "store to use: a SQLite file path, a PostgreSQL URL (postgres://...) or a server URL (http://HOST:PORT) (default $GRANARY_STORE or ./granary.db)")
	pf.StringVar(&a.apiKey, "api-key", "", "API key for a server store (default $GRANARY_API_KEY, $TILEBOX_API_KEY)")
	pf.BoolVar(&a.json, "json", false, "print JSON instead of text")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print only errors and results")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.datasetCommand(), a.collectionCommand(), a.ingestCommand(), a.queryCommand(), a.deleteCommand(), a.geoCommand(), a.schemaCommand(), a.serveCommand(), a.copyCommand(), a.convertCommand())
	return root
}

// client opens the store named by --store, $GRANARY_STORE or the default:
// a server when it is an http(s):// URL, else an embedded store file.
func (a *app) client() (*datasets.Client, error) {
	var opts []datasets.ClientOption
	switch {
	case datasets.IsURL(a.storePath):
		opts = append(opts, datasets.WithURL(a.storePath))
	case a.storePath != "":
		opts = append(opts, datasets.WithStorePath(a.storePath))
	}
	if a.apiKey != "" {
		opts = append(opts, datasets.WithAPIKey(a.apiKey))
	}
	return datasets.NewClient(opts...)
}

// collectionOf finds a dataset by slug and one of its collections by name.
func collectionOf(ctx context.Context, c *datasets.Client, slug, name string) (*datasets.Dataset, *datasets.Collection, error) {
	ds, err := c.Datasets.Get(ctx, slug)
	if err != nil {
		return nil, nil, err
	}
	col, err := c.Collections.Get(ctx, ds.ID, name)
	if err != nil {
		return nil, nil, err
	}
	return ds, col, nil
}

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// args checks positional arguments and reports a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d; see granary %s --help", cmd.Name(), n, len(args), cmd.CommandPath()[len("granary "):])
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("%s takes at most %d argument(s), got %d", cmd.Name(), n, len(args))
		}
		return nil
	}
}
