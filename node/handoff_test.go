package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

func putKeys(t *testing.T, kvc nsv1.KVServiceClient, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))}); err != nil {
			t.Fatalf("put k%d: %v", i, err)
		}
	}
}

func checkKeys(t *testing.T, kvc nsv1.KVServiceClient, n int, via string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		resp, err := kvc.Get(ctx, &nsv1.GetRequest{Key: []byte(fmt.Sprint("k", i))})
		if err != nil {
			t.Fatalf("get k%d via %s: %v", i, via, err)
		}
		if want := fmt.Sprint("v", i); string(resp.GetValue()) != want {
			t.Fatalf("get k%d via %s = %q, want %q", i, via, resp.GetValue(), want)
		}
	}
}

// TestGracefulLeaveHandsOff: a node that leaves hands every partition it
// owns to its new owner before it exits; nothing written is lost.
func TestGracefulLeaveHandsOff(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 3})
	const keys = 500
	putKeys(t, nsv1.NewKVServiceClient(c.Dial(0)), keys)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Nodes[2].Shutdown(ctx); err != nil {
		t.Fatalf("shutdown n3: %v", err)
	}
	t.Logf("n3 left in %v", time.Since(start))
	for i := 0; i < 2; i++ {
		checkKeys(t, nsv1.NewKVServiceClient(c.Dial(i)), keys, c.Nodes[i].ID())
	}
}

// TestJoinMovesData: partitions that move to a joining node arrive with
// their state.
func TestJoinMovesData(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 2})
	const keys = 500
	putKeys(t, nsv1.NewKVServiceClient(c.Dial(0)), keys)
	cfg := clustertest.NodeConfig(t, 2)
	cfg.Cluster.Join = []string{c.Nodes[0].GossipAddr()}
	n3, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n3.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n3.Shutdown(context.Background()) })
	c.Nodes = append(c.Nodes, n3)
	c.WaitAgreed(10 * time.Second)
	for i := 0; i < 3; i++ {
		checkKeys(t, nsv1.NewKVServiceClient(c.Dial(i)), keys, c.Nodes[i].ID())
	}
	if len(n3.Table().Owned(n3.ID())) == 0 {
		t.Fatal("n3 owns nothing")
	}
}

// TestBackupsSurviveCrash: with one backup, every acknowledged write
// survives the crash of any one node, through promotion or a pull from the
// backup copy; then the copies are re-created (active repair).
func TestBackupsSurviveCrash(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 3, Modify: func(_ int, cfg *node.Config) {
		cfg.Ring.Backups = 1
	}})
	const keys = 500
	putKeys(t, nsv1.NewKVServiceClient(c.Dial(0)), keys)
	// Every partition of the crashed node must have a copy elsewhere.
	start := time.Now()
	c.Nodes[2].Abort()
	waitFor(t, 20*time.Second, "survivors agree on a 2-member table", func() bool {
		a, b := c.Nodes[0].Table(), c.Nodes[1].Table()
		return len(a.Members()) == 2 && a.Epoch() == b.Epoch() && a.Hash() == b.Hash()
	})
	t.Logf("crash detected and table agreed in %v", time.Since(start))
	for i := 0; i < 2; i++ {
		checkKeys(t, nsv1.NewKVServiceClient(c.Dial(i)), keys, c.Nodes[i].ID())
	}
	t.Logf("all %d keys served again %v after the crash", keys, time.Since(start))
	// Active repair: with two nodes and one backup, each node backs up what
	// the other owns; crash one more and nothing is lost either.
	waitFor(t, 20*time.Second, "backups re-created", func() bool {
		for i := 0; i < 2; i++ {
			st, err := nsv1.NewClusterServiceClient(c.Dial(i)).Stats(context.Background(), &nsv1.StatsRequest{})
			other := c.Nodes[1-i]
			if err != nil || int(st.GetReplicas()) < len(other.Table().Owned(other.ID())) {
				return false
			}
		}
		return true
	})
	c.Nodes[1].Abort()
	waitFor(t, 20*time.Second, "n1 alone", func() bool { return len(c.Nodes[0].Table().Members()) == 1 })
	// n1 alone is a minority of the three agreed members: it cannot tell a
	// crash from a cut link, after which the others would own its
	// partitions, so it serves nothing (its lease lapsed); but it holds
	// every key.
	cl := nsv1.NewClusterServiceClient(c.Dial(0))
	waitFor(t, 20*time.Second, "n1 holds every key", func() bool {
		st, err := cl.Stats(context.Background(), &nsv1.StatsRequest{})
		return err == nil && st.GetKeys() == keys
	})
	_, err := nsv1.NewKVServiceClient(c.Dial(0)).Get(context.Background(), &nsv1.GetRequest{Key: []byte("k0")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "fewer than half") {
		t.Fatalf("get on a lone survivor of three: %v, want Unavailable (no lease)", err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
