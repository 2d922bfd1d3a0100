package node_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/internal/clustertest"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// TestInMemoryCluster runs three nodes with no socket: gRPC, admin HTTP and
// RESP on bufconn listeners (Config.Listen), peer connections through
// Config.Dial, gossip on cluster/memnet. The client SDK writes and reads
// through its own in-memory dialer; one node leaves gracefully and every key
// is still there. Its twin on real loopback sockets is
// TestGracefulLeaveHandsOff.
func TestInMemoryCluster(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 3, InMemory: true})
	for _, n := range c.Nodes {
		// Nothing binds 127.1.x.y: only the in-memory network reaches it.
		for _, a := range []string{n.GRPCAddr(), n.HTTPAddr(), n.RESPAddr()} {
			if !strings.HasPrefix(a, "127.1.") {
				t.Fatalf("%s listens on %s: want an in-memory 127.1.x.y address", n.ID(), a)
			}
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				_ = c.Close()
				t.Fatalf("%s: a TCP dial to %s succeeded: it must listen in memory only", n.ID(), a)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Endpoints: []string{c.Nodes[0].GRPCAddr()}, DialOptions: c.DialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	const keys = 300
	for i := range keys {
		if err := cl.Put(ctx, []byte(fmt.Sprint("k", i)), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatalf("put k%d: %v", i, err)
		}
	}
	dialsBefore := c.GRPCNet.Dials()
	if dialsBefore < 3 {
		t.Fatalf("%d in-memory dials after writes through three nodes: want at least 3", dialsBefore)
	}

	if err := c.Nodes[2].Shutdown(ctx); err != nil {
		t.Fatalf("shutdown %s: %v", c.Nodes[2].ID(), err)
	}
	c.Nodes = c.Nodes[:2]
	c.WaitAgreed(20 * time.Second)
	for i := range keys {
		got, err := cl.Get(ctx, []byte(fmt.Sprint("k", i)))
		if err != nil {
			t.Fatalf("get k%d after the leave: %v", i, err)
		}
		if want := fmt.Sprint("v", i); string(got) != want {
			t.Fatalf("get k%d after the leave = %q, want %q", i, got, want)
		}
	}
	for _, i := range []int{0, 1} {
		checkKeys(t, nsv1.NewKVServiceClient(c.Dial(i)), keys, c.Nodes[i].ID())
	}
}
