// Package clustertest starts in-process ns clusters for tests: N nodes, each
// with its own gRPC, gossip and worker pool, joined through the first node's
// gossip address. They talk over real loopback sockets, or with
// Config.InMemory over in-memory networks (internal/bufnet for gRPC,
// cluster/memnet for gossip) and no socket at all.
package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nothingshared/ns/cluster/memnet"
	"github.com/nothingshared/ns/internal/bufnet"
	"github.com/nothingshared/ns/node"
)

// Config shapes a test cluster.
type Config struct {
	// Nodes is the node count; 0 means 3.
	Nodes int
	// Modify, when set, adjusts each node's config before New.
	Modify func(i int, cfg *node.Config)
	// InMemory runs every node without sockets: gRPC, admin HTTP and RESP
	// listen on Cluster.GRPCNet, gossip runs on Cluster.GossipNet.
	InMemory bool
}

// Cluster is a running test cluster.
type Cluster struct {
	t     testing.TB
	Nodes []*node.Node
	// GRPCNet and GossipNet are the in-memory networks of a Config.InMemory
	// cluster; nil otherwise.
	GRPCNet   *bufnet.Network
	GossipNet *memnet.Network
}

// InMemory points cfg, the config of node i, at the in-memory networks g
// (gRPC, admin HTTP, RESP) and m (gossip), no socket. Its gRPC host is
// 127.1.x.y, a loopback address nothing binds, so that a dial that missed
// the hook fails on this machine instead of leaving it.
func InMemory(cfg *node.Config, i int, g *bufnet.Network, m *memnet.Network) {
	host := fmt.Sprintf("127.1.%d.%d", (i+1)/250, (i+1)%250+1)
	cfg.GRPCAddr = host + ":7700"
	if cfg.HTTPAddr != "" {
		cfg.HTTPAddr = host + ":7780"
	}
	if cfg.RESPAddr != "" {
		cfg.RESPAddr = host + ":7379"
	}
	cfg.Listen = g.Listen
	cfg.Dial = g.Dial
	mc := memberlist.DefaultLANConfig()
	if cfg.Cluster.Memberlist != nil {
		*mc = *cfg.Cluster.Memberlist
	}
	mc.Transport = m.NewTransport(cfg.NodeID)
	cfg.Cluster.Memberlist = mc
}

// DialOptions returns the gRPC dial options a client of c needs: plaintext,
// and the in-memory dialer of an InMemory cluster.
func (c *Cluster) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if c.GRPCNet != nil {
		opts = append(opts, grpc.WithContextDialer(c.GRPCNet.Dial))
	}
	return opts
}

// FastGossip returns memberlist LAN settings shortened for tests on loopback.
func FastGossip() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.ProbeInterval = 200 * time.Millisecond
	mc.ProbeTimeout = 100 * time.Millisecond
	mc.GossipInterval = 50 * time.Millisecond
	mc.PushPullInterval = 2 * time.Second
	// A suspicion timeout of 800 ms (4 x 200 ms): it is also how long a
	// node keeps its serving lease without contact (node/lease.go), and
	// 400 ms lapsed it under -race on a busy 2-core machine.
	mc.SuspicionMult = 4
	return mc
}

// NodeConfig returns a config for test node i: loopback, free ports, fast
// gossip, two workers, logs to t.Log.
func NodeConfig(t testing.TB, i int) node.Config {
	cfg := node.DefaultConfig()
	cfg.NodeID = fmt.Sprintf("n%d", i+1)
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RESPAddr = "127.0.0.1:0"
	cfg.Cluster.BindAddr = "127.0.0.1"
	cfg.Cluster.BindPort = 0
	cfg.Cluster.Memberlist = FastGossip()
	cfg.Worker.Workers = 2
	cfg.LeaveTimeout = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return cfg
}

// Start starts a cluster and waits until every node's table has every node
// with one epoch. Nodes are shut down at the end of the test.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	c := &Cluster{t: t}
	if cfg.InMemory {
		c.GRPCNet, c.GossipNet = &bufnet.Network{}, &memnet.Network{}
	}
	for i := 0; i < cfg.Nodes; i++ {
		nc := NodeConfig(t, i)
		if cfg.InMemory {
			InMemory(&nc, i, c.GRPCNet, c.GossipNet)
		}
		if i > 0 {
			nc.Cluster.Join = []string{c.Nodes[0].GossipAddr()}
		}
		if cfg.Modify != nil {
			cfg.Modify(i, &nc)
		}
		n, err := node.New(nc)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatalf("node %d start: %v", i, err)
		}
		c.Nodes = append(c.Nodes, n)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Shutdown(ctx)
		})
	}
	c.WaitAgreed(10 * time.Second)
	return c
}

// WaitAgreed waits until every running node is ready (no partition still
// incoming) and has a table with all of them and the same epoch and hash.
func (c *Cluster) WaitAgreed(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := c.agreed()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster did not agree within %v: %s", timeout, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *Cluster) agreed() (bool, string) {
	first := c.Nodes[0].Table()
	for _, n := range c.Nodes {
		if ok, why := n.Ready(); !ok {
			return false, n.ID() + " not ready: " + why
		}
		t := n.Table()
		if len(t.Members()) != len(c.Nodes) {
			return false, fmt.Sprintf("%s has %d members", n.ID(), len(t.Members()))
		}
		if t.Epoch() != first.Epoch() || t.Hash() != first.Hash() {
			return false, fmt.Sprintf("%s epoch %d/%x vs %s epoch %d/%x", n.ID(), t.Epoch(), t.Hash(), c.Nodes[0].ID(), first.Epoch(), first.Hash())
		}
	}
	return true, ""
}

// Dial returns a client connection to node i, closed at the end of the test.
func (c *Cluster) Dial(i int) *grpc.ClientConn {
	c.t.Helper()
	conn, err := grpc.NewClient(c.Nodes[i].GRPCAddr(), c.DialOptions()...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return conn
}

// Endpoints returns every node's gRPC address.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.GRPCAddr()
	}
	return out
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
