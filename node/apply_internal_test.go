package node

import (
	"context"
	"testing"
	"time"
)

// startTestNode starts a one-node cluster on loopback (ports chosen by the
// kernel, no admin or RESP server) and waits until it serves every key.
// modify, if not nil, changes the config first.
func startTestNode(tb testing.TB, modify func(*Config)) *Node {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = "n0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.RESPAddr = ""
	cfg.Cluster.BindAddr = "127.0.0.1"
	cfg.Cluster.BindPort = 0
	cfg.Worker.Workers = 2
	if modify != nil {
		modify(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Abort)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ok, why := n.Ready()
		if ok {
			return n
		}
		if time.Now().After(deadline) {
			tb.Fatalf("node not ready after 20s: %s", why)
		}
	}
}
