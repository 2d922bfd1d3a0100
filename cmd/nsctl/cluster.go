package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/internal/buildinfo"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

func stateName(s nsv1.MemberState) string {
	switch s {
	case nsv1.MemberState_MEMBER_STATE_ALIVE:
		return "alive"
	case nsv1.MemberState_MEMBER_STATE_SUSPECT:
		return "suspect"
	case nsv1.MemberState_MEMBER_STATE_DEAD:
		return "dead"
	case nsv1.MemberState_MEMBER_STATE_LEFT:
		return "left"
	}
	return "unknown"
}

func memberViews(resp *nsv1.MembersResponse) []memberView {
	out := make([]memberView, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, memberView{
			ID: m.GetId(), GossipAddr: m.GetGossipAddr(), GRPCAddr: m.GetGrpcAddr(), State: stateName(m.GetState()),
			Zone: m.GetZone(), PartitionsOwned: m.GetPartitionsOwned(), PartitionsBackup: m.GetPartitionsBackup(),
			Workers: m.GetWorkers(), Version: m.GetVersion(),
		})
	}
	return out
}

func (a *app) membersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the cluster's members",
		Long: `members lists every member the answering node knows: id, gossip and gRPC
addresses, state (alive, suspect, dead, left), zone, partitions owned and
backed up, worker count and software version.`,
		Example: `  nsctl members
  nsctl members -o json | jq -r '.[] | select(.state == "alive") | .grpc_addr'`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := a.members(cmd.Context(), c)
			if err != nil {
				return err
			}
			return renderMembers(a.stdout, a.output, memberViews(resp))
		},
	}
}

func (a *app) partitionsCmd() *cobra.Command {
	var nodeID string
	cmd := &cobra.Command{
		Use:   "partitions",
		Short: "Show the partition table: owner and backups of every partition",
		Long: `partitions prints the partition table the cluster agreed on: for each
partition its owner, its backups, the table epoch and the partition's state.
--node keeps the partitions a node owns or backs up.

Nodes do not report per-partition key counts or hand-offs in progress yet:
every partition shows state "owned" and keys "-" (they come with the
handoff issue). nsctl stats shows keys per node.`,
		Example: `  nsctl partitions
  nsctl partitions --node n2 -o wide
  nsctl partitions -o json | jq '[.[] | .owner] | group_by(.) | map({(.[0]): length}) | add'`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RefreshTable(cmd.Context()); err != nil {
				return err
			}
			t := c.Table()
			if nodeID != "" {
				if _, ok := t.Member(nodeID); !ok {
					var ids []string
					for _, m := range t.Members() {
						ids = append(ids, m.ID)
					}
					return failf("--node %q is not in the table; members are: %s", nodeID, strings.Join(ids, ", "))
				}
			}
			var ps []partitionView
			for p := 0; p < t.Partitions(); p++ {
				owner := t.Owner(p)
				pv := partitionView{Partition: p, Owner: owner.ID, OwnerAddr: owner.Addr, Epoch: t.Epoch(), State: "owned", Backups: []string{}}
				keep := nodeID == "" || owner.ID == nodeID
				for _, b := range t.BackupsOf(p) {
					pv.Backups = append(pv.Backups, b.ID)
					keep = keep || b.ID == nodeID
				}
				if keep {
					ps = append(ps, pv)
				}
			}
			return renderPartitions(a.stdout, a.output, ps)
		},
	}
	cmd.Flags().StringVar(&nodeID, "node", "", "only partitions this node (id) owns or backs up")
	return cmd
}

func (a *app) locateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "locate KEY",
		Short: "Show which partition, node and worker own a key",
		Long: `locate computes KEY's partition with the cluster's hash, looks up the owner
in the partition table, and names the worker on that node that processes
the key (partition mod the owner's worker count). It reads nothing.`,
		Example: `  nsctl locate user:42
  nsctl locate user:42 -o wide`,
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			p, owner := c.Locate([]byte(args[0]))
			l := locateView{Key: args[0], Partition: p, Owner: owner.ID, OwnerAddr: owner.Addr, Worker: -1, Epoch: c.Table().Epoch()}
			if resp, err := a.members(cmd.Context(), c); err == nil {
				for _, m := range resp.GetMembers() {
					if m.GetId() == owner.ID && m.GetWorkers() > 0 {
						l.Workers = int(m.GetWorkers())
						l.Worker = p % l.Workers
					}
				}
			}
			return renderLocate(a.stdout, a.output, l)
		},
	}
}

// sampleStats reads Stats from every member that is not dead or gone.
func (a *app) sampleStats(ctx context.Context, c *client.Client) ([]nodeStatsView, error) {
	resp, err := a.members(ctx, c)
	if err != nil {
		return nil, err
	}
	type res struct {
		i  int
		st *nsv1.StatsResponse
		e  error
	}
	ms := resp.GetMembers()
	out := make([]nodeStatsView, len(ms))
	ch := make(chan res, len(ms))
	for i, m := range ms {
		out[i] = nodeStatsView{Node: m.GetId(), Addr: m.GetGrpcAddr(), Version: m.GetVersion()}
		go func() {
			cc, err := c.Conn(m.GetGrpcAddr())
			if err != nil {
				ch <- res{i: i, e: err}
				return
			}
			rctx, cancel := context.WithTimeout(ctx, a.timeout)
			defer cancel()
			st, err := nsv1.NewClusterServiceClient(cc).Stats(rctx, &nsv1.StatsRequest{})
			ch <- res{i: i, st: st, e: err}
		}()
	}
	for range ms {
		r := <-ch
		n := &out[r.i]
		if r.e != nil {
			n.Error = rpcError(n.Addr, r.e).Error()
			continue
		}
		st := r.st
		n.UptimeSeconds, n.TableEpoch, n.PartitionsOwned = st.GetUptimeSeconds(), st.GetTableEpoch(), st.GetPartitionsOwned()
		n.Keys, n.Forwarded = st.GetKeys(), st.GetForwarded()
		if st.GetVersion() != "" {
			n.Version = st.GetVersion()
		}
		for _, w := range st.GetWorkers() {
			n.Workers = append(n.Workers, workerStatsView{
				ID: w.GetId(), Processed: w.GetProcessed(), QueueDepth: w.GetQueueDepth(),
				P50Us: w.GetP50Us(), P99Us: w.GetP99Us(), P999Us: w.GetP999Us(), Panics: w.GetPanics(),
				Restarts: w.GetRestarts(), Enqueued: w.GetEnqueued(), Dropped: w.GetDropped(), Batches: w.GetBatches(),
				Partitions: w.GetPartitions(), CircuitOpen: w.GetCircuitOpen(),
			})
			n.Processed += w.GetProcessed()
			n.QueueDepth += w.GetQueueDepth()
			n.Panics += w.GetPanics()
			n.P99Us = max(n.P99Us, w.GetP99Us())
		}
	}
	return out, nil
}

// withRates fills the rates of cur from prev, dt apart.
func withRates(prev, cur []nodeStatsView, dt time.Duration) {
	rate := func(a, b uint64) *float64 {
		r := 0.0
		if a >= b && dt > 0 {
			r = float64(a-b) / dt.Seconds()
		}
		return &r
	}
	old := map[string]*nodeStatsView{}
	for i := range prev {
		old[prev[i].Node] = &prev[i]
	}
	for i := range cur {
		n := &cur[i]
		p := old[n.Node]
		if p == nil || n.Error != "" || p.Error != "" {
			continue
		}
		n.Rate = rate(n.Processed, p.Processed)
		for j := range n.Workers {
			if j < len(p.Workers) && p.Workers[j].ID == n.Workers[j].ID {
				n.Workers[j].Rate = rate(n.Workers[j].Processed, p.Workers[j].Processed)
			}
		}
	}
}

func statsFailed(ns []nodeStatsView) error {
	var bad []string
	for _, n := range ns {
		if n.Error != "" {
			bad = append(bad, n.Error)
		}
	}
	if len(bad) > 0 {
		return failf("could not read stats of %d node(s): %s", len(bad), strings.Join(bad, "; "))
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) statsCmd() *cobra.Command {
	var watch bool
	var interval time.Duration
	var count int
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show per-node and per-worker statistics",
		Long: `stats asks every member (at its gRPC address, from members) for its runtime
statistics and prints one row per node (worker "*": totals, worst p99) and
one per worker: messages processed, queue depth, handler p99 latency and
panics. -o wide adds p50/p999, restarts, enqueued, dropped, partitions
and the node's key count.

Without --watch the RATE/S column is "-": a rate needs two samples. With
--watch, stats samples every --interval and prints the rate of processed
messages between samples, redrawing the screen on a terminal (one JSON
document per line with -o json), until interrupted or --count tables.`,
		Example: `  nsctl stats
  nsctl stats --watch --interval 1s
  nsctl stats -o json | jq '.[] | {node, processed, keys}'`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval <= 0 {
				return usagef("--interval %v: must be positive", interval)
			}
			if count < 0 {
				return usagef("--count %d: must not be negative", count)
			}
			ctx := cmd.Context()
			c, err := a.connect(ctx, false)
			if err != nil {
				return err
			}
			defer c.Close()
			if !watch {
				ns, err := a.sampleStats(ctx, c)
				if err != nil {
					return err
				}
				if err := renderStats(a.stdout, a.output, ns); err != nil {
					return err
				}
				return statsFailed(ns)
			}
			prev, err := a.sampleStats(ctx, c)
			if err != nil {
				return err
			}
			last := time.Now()
			tty := isTerminal(a.stdout)
			for shown := 0; count == 0 || shown < count; shown++ {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
				cur, err := a.sampleStats(ctx, c)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				now := time.Now()
				withRates(prev, cur, now.Sub(last))
				prev, last = cur, now
				switch {
				case a.output == outJSON:
					if err := writeJSONLine(a.stdout, cur); err != nil {
						return err
					}
					continue
				case tty:
					fmt.Fprint(a.stdout, "\033[H\033[2J")
					fmt.Fprintf(a.stdout, "nsctl stats every %v  %s\n\n", interval, now.Format(time.TimeOnly))
				case shown > 0:
					fmt.Fprintln(a.stdout)
				}
				if err := renderStats(a.stdout, a.output, cur); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "sample repeatedly and show message rates")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between samples with --watch")
	cmd.Flags().IntVar(&count, "count", 0, "with --watch, stop after this many tables (0: until interrupted)")
	return cmd
}

func (a *app) hotkeysCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "hotkeys",
		Short: "Show the most frequently used keys, per node",
		Long: `hotkeys asks every member for its busiest keys. Each worker tracks its keys
with a space-saving sketch (a sample of the traffic, counts halved regularly
so recent traffic weighs most): COUNT is an upper bound, COUNT-ERROR a lower
one. Keys are printed as text when printable, else in hex.`,
		Example: `  nsctl hotkeys
  nsctl hotkeys --limit 5 -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return usagef("--limit %d: must be at least 1", limit)
			}
			ctx := cmd.Context()
			c, err := a.connect(ctx, false)
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := a.members(ctx, c)
			if err != nil {
				return err
			}
			var out []hotKeyView
			var failed []string
			for _, m := range resp.GetMembers() {
				if m.GetState() != nsv1.MemberState_MEMBER_STATE_ALIVE {
					continue
				}
				cc, err := c.Conn(m.GetGrpcAddr())
				if err != nil {
					failed = append(failed, rpcError(m.GetGrpcAddr(), err).Error())
					continue
				}
				rctx, cancel := context.WithTimeout(ctx, a.timeout)
				hk, err := nsv1.NewClusterServiceClient(cc).HotKeys(rctx, &nsv1.HotKeysRequest{Limit: uint32(limit)})
				cancel()
				if err != nil {
					failed = append(failed, rpcError(m.GetGrpcAddr(), err).Error())
					continue
				}
				for _, k := range hk.GetKeys() {
					out = append(out, hotKeyView{Node: m.GetId(), Key: printableKey(k.GetKey()), Count: k.GetCount(),
						Error: k.GetError(), Partition: k.GetPartition(), Worker: k.GetWorker()})
				}
			}
			if err := renderHotKeys(a.stdout, a.output, out); err != nil {
				return err
			}
			if len(failed) > 0 {
				return failf("%s", strings.Join(failed, "; "))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 10, "keys per node")
	return cmd
}

// hotKeyView is one row of nsctl hotkeys.
type hotKeyView struct {
	Node      string `json:"node"`
	Key       string `json:"key"`
	Count     uint64 `json:"count"`
	Error     uint64 `json:"error"`
	Partition int32  `json:"partition"`
	Worker    uint32 `json:"worker"`
}

func printableKey(k []byte) string {
	for _, b := range k {
		if b < 0x20 || b > 0x7e {
			return "0x" + hex.EncodeToString(k)
		}
	}
	return string(k)
}

func renderHotKeys(w io.Writer, format string, ks []hotKeyView) error {
	if ks == nil {
		ks = []hotKeyView{}
	}
	return render(w, format, ks, func(tw *tabwriter.Writer, wide bool) {
		row(tw, "NODE", "KEY", "COUNT", "ERROR", "PARTITION", "WORKER")
		for _, k := range ks {
			row(tw, k.Node, k.Key, k.Count, k.Error, k.Partition, k.Worker)
		}
	})
}

func (a *app) healthCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Check every node's grpc.health.v1 status",
		Long: `health calls grpc.health.v1 Check on every member's gRPC address and prints
its status. A node is ready when it reports SERVING: nodes serve only once
they hold a partition table, and stop serving as soon as they start leaving.
(The admin HTTP /readyz is not reachable from the gRPC address, so nsctl
reports the gRPC health status, which nodes keep in step with /readyz.)

Exits 1 when any member is not SERVING or cannot be reached.`,
		Example: `  nsctl health
  nsctl health -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.connect(ctx, false)
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := a.members(ctx, c)
			if err != nil {
				return err
			}
			var hs []healthView
			bad := 0
			for _, m := range resp.GetMembers() {
				h := healthView{Node: m.GetId(), Addr: m.GetGrpcAddr()}
				if st := m.GetState(); st == nsv1.MemberState_MEMBER_STATE_LEFT || st == nsv1.MemberState_MEMBER_STATE_DEAD {
					h.Status = strings.ToUpper(stateName(st))
					hs = append(hs, h)
					continue // gone on purpose or declared dead: not a failed check
				}
				cc, err := c.Conn(m.GetGrpcAddr())
				if err == nil {
					rctx, cancel := context.WithTimeout(ctx, a.timeout)
					var r *healthpb.HealthCheckResponse
					r, err = healthpb.NewHealthClient(cc).Check(rctx, &healthpb.HealthCheckRequest{})
					cancel()
					if err == nil {
						h.Status = r.GetStatus().String()
						h.Ready = r.GetStatus() == healthpb.HealthCheckResponse_SERVING
					}
				}
				if err != nil {
					h.Status = "UNREACHABLE"
					h.Error = rpcError(m.GetGrpcAddr(), err).Error()
				}
				if !h.Ready {
					bad++
				}
				hs = append(hs, h)
			}
			if err := renderHealth(a.stdout, a.output, hs); err != nil {
				return err
			}
			if bad > 0 {
				return failf("%d of %d node(s) not serving", bad, len(hs))
			}
			return nil
		},
	}
}

func (a *app) leaveCmd(name string) *cobra.Command {
	long := `leave asks NODE (an id from nsctl members, or its gRPC address) to leave the
cluster gracefully: it stops serving, tells the cluster it leaves, hands
its work over, and its process exits 0. The call goes to the node's own
gRPC address, found with Members. --wait waits until the other members see
it gone (left or absent), up to --timeout.`
	short := "Ask a node to leave the cluster gracefully"
	if name == "drain" {
		short = "Drain a node (for now the same as leave)"
		long = `drain empties NODE of its partitions. For now it is the same as leave: the
node hands its partitions over and exits; a drain that keeps the process
running comes with the handoff issue.

` + long
	}
	var wait bool
	cmd := &cobra.Command{
		Use:     name + " NODE",
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("  nsctl %s n3\n  nsctl %s 127.0.0.1:7702 --wait", name, name),
		Args:    exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.connect(ctx, false)
			if err != nil {
				return err
			}
			defer c.Close()
			m, err := a.member(ctx, c, args[0])
			if err != nil {
				return err
			}
			if st := m.GetState(); st == nsv1.MemberState_MEMBER_STATE_LEFT || st == nsv1.MemberState_MEMBER_STATE_DEAD {
				return failf("%s is %s already", m.GetId(), stateName(st))
			}
			cc, err := c.Conn(m.GetGrpcAddr())
			if err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, a.timeout)
			_, err = nsv1.NewClusterServiceClient(cc).Leave(rctx, &nsv1.LeaveRequest{})
			cancel()
			if err != nil {
				return failf("leave: %v", rpcError(m.GetGrpcAddr(), err))
			}
			fmt.Fprintf(a.stdout, "%s (%s) is leaving the cluster\n", m.GetId(), m.GetGrpcAddr())
			if wait {
				return a.waitGone(ctx, c, m)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the other members see the node gone")
	return cmd
}

// waitGone polls the other members until m is left, dead or absent.
func (a *app) waitGone(ctx context.Context, c *client.Client, m *nsv1.Member) error {
	deadline := time.Now().Add(a.timeout)
	for {
		for _, addr := range candidates(c) {
			if addr == m.GetGrpcAddr() {
				continue
			}
			cc, err := c.Conn(addr)
			if err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			resp, err := nsv1.NewClusterServiceClient(cc).Members(rctx, &nsv1.MembersRequest{})
			cancel()
			if err != nil {
				continue
			}
			gone := true
			for _, o := range resp.GetMembers() {
				if o.GetId() == m.GetId() && o.GetState() != nsv1.MemberState_MEMBER_STATE_LEFT && o.GetState() != nsv1.MemberState_MEMBER_STATE_DEAD {
					gone = false
				}
			}
			if gone {
				fmt.Fprintf(a.stdout, "%s has left\n", m.GetId())
				return nil
			}
			break
		}
		if time.Now().After(deadline) {
			return failf("%s still a member after %v (raise --timeout)", m.GetId(), a.timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *app) versionCmd() *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of nsctl and of every node",
		Long: `version prints nsctl's version and commit, then every member's software
version as it reports it in Members. --client skips the cluster.`,
		Example: `  nsctl version
  nsctl version --client`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionView{Client: buildinfo.String()}
			if clientOnly {
				return renderVersion(a.stdout, a.output, v)
			}
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				fmt.Fprintln(a.stdout, "nsctl", v.Client)
				return err
			}
			defer c.Close()
			resp, err := a.members(cmd.Context(), c)
			if err != nil {
				return err
			}
			for _, m := range resp.GetMembers() {
				v.Servers = append(v.Servers, serverVersionView{Node: m.GetId(), Addr: m.GetGrpcAddr(), Version: m.GetVersion()})
			}
			return renderVersion(a.stdout, a.output, v)
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only nsctl's version")
	return cmd
}
