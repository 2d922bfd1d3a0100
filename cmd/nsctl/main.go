// Command nsctl is the operator CLI of ns: it lists members and partitions,
// locates keys, reads and writes the built-in key-value store, sends to any
// registered service, shows per-node and per-worker statistics, checks
// health, asks nodes to leave, and benchmarks a cluster (nsctl bench).
//
// It talks to 127.0.0.1:7700 unless --endpoints or NSCTL_ENDPOINTS says
// otherwise. Data goes to stdout, errors and progress to stderr. Exit codes:
// 0 ok, 1 the operation failed, 2 usage error, 3 no endpoint reachable,
// 4 key not found.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nothingshared/ns/client"
)

// Exit codes, documented in `nsctl --help`.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitNotFound    = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries the exit code an error should produce.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usagef returns an error that exits with code 2.
func usagef(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failf returns an error that exits with code 1.
func failf(format string, args ...any) error {
	return &exitError{code: exitFailed, err: fmt.Errorf(format, args...)}
}

// exitCode maps an error to nsctl's exit code.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, client.ErrNoEndpoint):
		return exitUnreachable
	case errors.Is(err, client.ErrNotFound):
		return exitNotFound
	case errors.Is(err, client.ErrInvalidConfig):
		return exitUsage
	default:
		return exitFailed
	}
}

// app is one invocation of nsctl: its streams and global flags.
type app struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	endpoints []string
	timeout   time.Duration
	output    string
	sec       securityFlags // security.go
}

// Output formats of -o.
const (
	outTable = "table"
	outWide  = "wide"
	outJSON  = "json"
	outYAML  = "yaml"
)

const rootLong = `nsctl operates an ns ("nothing shared") cluster: it lists members and
partitions, locates keys, reads and writes the built-in key-value store,
sends messages to any registered service, shows statistics and health, asks
nodes to leave, and benchmarks the cluster.

It talks to 127.0.0.1:7700 unless --endpoints (or NSCTL_ENDPOINTS) names
other nodes; any one node that answers is enough. NSCTL_TIMEOUT and
NSCTL_OUTPUT set --timeout and -o the same way; a flag wins over the
environment.

Against nodes started with TLS, give --tls-ca, --tls-cert and --tls-key
(NSCTL_TLS_CA, NSCTL_TLS_CERT, NSCTL_TLS_KEY); against nodes that want a
token, --token-file (NSCTL_TOKEN_FILE) or the token itself in NSCTL_TOKEN.

Data goes to stdout; errors and progress go to stderr. Output is a table by
default; -o wide adds columns, -o json and -o yaml are for scripts.

Exit codes:
  0  ok
  1  the operation failed (an error from the cluster, a swap that did not happen, an unhealthy node)
  2  usage error (unknown command or flag, bad value)
  3  no endpoint reachable
  4  key not found`

const rootExample = `  nsctl members
  nsctl --endpoints 127.0.0.1:7700,127.0.0.1:7701 partitions --node n2
  nsctl put user:42 ada && nsctl get user:42
  nsctl locate user:42 -o json
  nsctl stats --watch
  nsctl bench -c 50 --pipeline 16 --ops put:1,get:9 -n 1000000
  source <(nsctl completion bash)`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	started := false // set once a command's own code runs: errors before it are usage errors
	root := &cobra.Command{
		Use:           "nsctl",
		Short:         "Operate an ns cluster",
		Long:          rootLong,
		Example:       rootExample,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			started = true
			return a.setup(cmd)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	pf := root.PersistentFlags()
	pf.StringSliceVar(&a.endpoints, "endpoints", []string{client.DefaultEndpoint}, "comma list of node gRPC addresses (env NSCTL_ENDPOINTS)")
	pf.DurationVar(&a.timeout, "timeout", 5*time.Second, "bound on connecting and on each request (env NSCTL_TIMEOUT)")
	pf.StringVarP(&a.output, "output", "o", outTable, "output format: table, wide, json or yaml (env NSCTL_OUTPUT)")
	a.sec.register(pf)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })

	root.AddCommand(
		a.membersCmd(), a.partitionsCmd(), a.locateCmd(),
		a.getCmd(), a.putCmd(), a.delCmd(), a.incrCmd(), a.casCmd(), a.sendCmd(),
		a.statsCmd(), a.hotkeysCmd(), a.healthCmd(), a.leaveCmd("leave"), a.leaveCmd("drain"),
		a.versionCmd(), a.benchCmd(), a.gossipKeyCmd(),
	)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if !started && code == exitFailed {
		code = exitUsage // cobra's own errors: unknown command, wrong argument count
	}
	fmt.Fprintf(stderr, "nsctl: %v\n", err)
	if code == exitUsage {
		fmt.Fprintln(stderr, "Run 'nsctl --help' for usage.")
	}
	return code
}

// setup applies NSCTL_* to global flags not given and checks them.
func (a *app) setup(cmd *cobra.Command) error {
	for _, e := range []struct{ flag, env string }{
		{"endpoints", "NSCTL_ENDPOINTS"}, {"timeout", "NSCTL_TIMEOUT"}, {"output", "NSCTL_OUTPUT"},
		{"tls-ca", "NSCTL_TLS_CA"}, {"tls-cert", "NSCTL_TLS_CERT"}, {"tls-key", "NSCTL_TLS_KEY"},
		{"tls-server-name", "NSCTL_TLS_SERVER_NAME"}, {"token-file", "NSCTL_TOKEN_FILE"},
	} {
		f := cmd.Flags().Lookup(e.flag)
		if f == nil || f.Changed {
			continue
		}
		if v := a.getenv(e.env); v != "" {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				if err := sv.Replace(splitList(v)); err != nil {
					return usagef("invalid value %q for %s: %v", v, e.env, err)
				}
			} else if err := f.Value.Set(v); err != nil {
				return usagef("invalid value %q for %s (--%s): %v", v, e.env, e.flag, err)
			}
		}
	}
	a.endpoints = splitList(strings.Join(a.endpoints, ","))
	if len(a.endpoints) == 0 {
		return usagef("--endpoints is empty: give at least one node address, e.g. 127.0.0.1:7700")
	}
	for _, ep := range a.endpoints {
		if !strings.Contains(ep, ":") {
			return usagef("--endpoints: %q is not host:port", ep)
		}
	}
	if a.timeout <= 0 {
		return usagef("--timeout %v: must be positive", a.timeout)
	}
	switch a.output {
	case outTable, outWide, outJSON, outYAML:
	default:
		return usagef("-o %q: want table, wide, json or yaml", a.output)
	}
	return a.sec.load(a.getenv)
}

// splitList splits a comma list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// exactArgs is cobra.ExactArgs with names, as a usage error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("want %d argument(s) (%s), got %d", len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}
