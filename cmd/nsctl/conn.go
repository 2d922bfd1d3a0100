package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/client"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// connect builds a client on the global endpoints. One-shot commands turn
// the table watch off; a failure to reach any endpoint exits 3 with a hint.
func (a *app) connect(ctx context.Context, watch bool) (*client.Client, error) {
	cfg := client.Config{
		Endpoints:      a.endpoints,
		RequestTimeout: a.timeout,
		DisableWatch:   !watch,
		DialOptions:    a.sec.dialOpts,
	}
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	c, err := client.New(cctx, cfg)
	if err != nil {
		return nil, a.unreachable(err)
	}
	return c, nil
}

// unreachable rewrites a client.ErrNoEndpoint error into a message that
// says what to do; other errors pass through.
func (a *app) unreachable(err error) error {
	if !errors.Is(err, client.ErrNoEndpoint) {
		return err
	}
	cause := ""
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := u.Unwrap(); len(errs) > 1 {
			cause = " (" + errs[len(errs)-1].Error() + ")"
		}
	}
	return &exitError{code: exitUnreachable, err: fmt.Errorf(
		"cannot reach %s: is nsnode running? use --endpoints or NSCTL_ENDPOINTS%s", strings.Join(a.endpoints, ","), cause)}
}

// candidates returns the addresses to ask for cluster-wide data: the
// configured endpoints first, then the table's members.
func candidates(c *client.Client) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, ep := range c.Endpoints() {
		add(ep)
	}
	for _, m := range c.Table().Members() {
		add(m.Addr)
	}
	return out
}

// members asks the first node that answers for the member list.
func (a *app) members(ctx context.Context, c *client.Client) (*nsv1.MembersResponse, error) {
	var errs []error
	for _, addr := range candidates(c) {
		cc, err := c.Conn(addr)
		if err != nil {
			return nil, err
		}
		rctx, cancel := context.WithTimeout(ctx, a.timeout)
		resp, err := nsv1.NewClusterServiceClient(cc).Members(rctx, &nsv1.MembersRequest{})
		cancel()
		if err == nil {
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, &exitError{code: exitUnreachable, err: fmt.Errorf("no node answered Members: %w", errors.Join(errs...))}
}

// member finds a member by id (or gRPC address).
func (a *app) member(ctx context.Context, c *client.Client, id string) (*nsv1.Member, error) {
	resp, err := a.members(ctx, c)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range resp.GetMembers() {
		if m.GetId() == id || m.GetGrpcAddr() == id {
			return m, nil
		}
		ids = append(ids, m.GetId())
	}
	return nil, failf("no member %q; members are: %s (see nsctl members)", id, strings.Join(ids, ", "))
}

// rpcError turns a gRPC error of an admin call into a short message.
func rpcError(addr string, err error) error {
	if s, ok := status.FromError(err); ok {
		if s.Code() == codes.Unavailable {
			return fmt.Errorf("%s unreachable: %s", addr, s.Message())
		}
		return fmt.Errorf("%s: %s: %s", addr, s.Code(), s.Message())
	}
	return fmt.Errorf("%s: %w", addr, err)
}

// readValue reads a value argument: "-" is stdin, "@path" a file, anything
// else the argument itself.
func (a *app) readValue(arg string) ([]byte, error) {
	switch {
	case arg == "-":
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, failf("reading stdin: %v", err)
		}
		return b, nil
	case strings.HasPrefix(arg, "@") && len(arg) > 1:
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, usagef("value %s: %v", arg, err)
		}
		return b, nil
	default:
		return []byte(arg), nil
	}
}
