package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// fillUntilFull puts keys prefix0, prefix1, ... (values of size bytes) until
// a put is refused and returns how many were accepted and the refusal.
// Keys pass only if owned by n when owner is set.
func fillUntilFull(t *testing.T, kvc nsv1.KVServiceClient, prefix string, size int, ok func(key []byte) bool) (int, error) {
	t.Helper()
	ctx := context.Background()
	v := bytes.Repeat([]byte{'v'}, size)
	accepted := 0
	for i := 0; i < 100000; i++ {
		key := []byte(fmt.Sprint(prefix, i))
		if ok != nil && !ok(key) {
			continue
		}
		if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: key, Value: v}); err != nil {
			return accepted, err
		}
		accepted++
	}
	t.Fatal("the node never refused a write")
	return 0, nil
}

// TestMaxMemoryEdge: with --max-memory, writes are accepted up to the limit;
// the first that needs memory past it is refused with RESOURCE_EXHAUSTED
// naming the limit (-OOM over RESP) and changes nothing; a write that needs
// no new memory still succeeds; deletes free room for the refused write; the
// metrics show usage against the limit.
func TestMaxMemoryEdge(t *testing.T) {
	const limit = 128 << 10
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: func(_ int, cfg *node.Config) {
		cfg.Ring.Partitions = 4
		cfg.MaxMemory = limit
	}})
	n := c.Nodes[0]
	kvc := nsv1.NewKVServiceClient(c.Dial(0))
	ctx := context.Background()

	accepted, err := fillUntilFull(t, kvc, "k", 1000, nil)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-memory") ||
		!strings.Contains(err.Error(), fmt.Sprint(limit)) {
		t.Fatalf("first write past the limit: %v, want RESOURCE_EXHAUSTED naming --max-memory %d", err, limit)
	}
	if accepted < 64 {
		t.Fatalf("only %d writes of 1000 B fit %d bytes", accepted, limit)
	}
	used, max := n.MemoryUsed()
	if max != limit || used > limit || used < limit/2 {
		t.Fatalf("usage %d of %d after filling to the limit %d", used, max, limit)
	}
	refused := []byte(fmt.Sprint("k", accepted))
	if _, err := kvc.Get(ctx, &nsv1.GetRequest{Key: refused}); status.Code(err) != codes.NotFound {
		t.Fatalf("the refused write left its key: %v", err)
	}
	// An overwrite that fits its record needs no memory: accepted at the limit.
	if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte("k0"), Value: bytes.Repeat([]byte{'w'}, 1000)}); err != nil {
		t.Fatalf("overwrite in place at the limit: %v", err)
	}
	// A big new value (a page of its own) cannot fit, over RESP either.
	rc := redisClient(t, c, 0, 2, "")
	err = rc.Set(ctx, "big", strings.Repeat("b", 100<<10), 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "OOM ") || !strings.Contains(err.Error(), "--max-memory") {
		t.Fatalf("RESP SET at the limit: %v, want -OOM naming --max-memory", err)
	}
	// The SDK returns the sentinel, without retrying.
	cl, err := client.New(ctx, client.Config{Endpoints: c.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Put(ctx, []byte("big"), make([]byte, 100<<10)); !errors.Is(err, client.ErrMemoryFull) {
		t.Fatalf("SDK Put at the limit: %v, want client.ErrMemoryFull", err)
	}
	fams := scrape(t, n)
	if got := value(fams, "ns_memory_max_bytes"); got != limit {
		t.Fatalf("ns_memory_max_bytes = %v", got)
	}
	if got := value(fams, "ns_memory_used_bytes"); got <= 0 || got > limit {
		t.Fatalf("ns_memory_used_bytes = %v, limit %d", got, limit)
	}
	if got := value(fams, "ns_memory_refused_writes_total"); got < 3 {
		t.Fatalf("ns_memory_refused_writes_total = %v, want at least 3", got)
	}
	// Deletes free room: the refused write now fits.
	for i := 0; i < accepted; i++ {
		if _, err := kvc.Delete(ctx, &nsv1.DeleteRequest{Key: []byte(fmt.Sprint("k", i))}); err != nil {
			t.Fatalf("delete k%d at the limit: %v", i, err)
		}
	}
	if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: refused, Value: bytes.Repeat([]byte{'v'}, 1000)}); err != nil {
		t.Fatalf("the refused write after deletes: %v", err)
	}
	if err := rc.Set(ctx, "small", strings.Repeat("s", 1000), 0).Err(); err != nil {
		t.Fatalf("RESP SET after deletes: %v", err)
	}
}

// TestMaxMemoryBackupNeverRefused: a backup copy applies every write its
// owner accepted even when that takes the backup's node past its own
// --max-memory; that node then refuses its own clients' writes. A node
// joining with a tiny limit takes its partitions by handoff all the same.
func TestMaxMemoryBackupNeverRefused(t *testing.T) {
	const small = 64 << 10
	c := clustertest.Start(t, clustertest.Config{Nodes: 2, Modify: func(i int, cfg *node.Config) {
		cfg.Ring.Partitions = 8
		cfg.Ring.Backups = 1
		if i == 1 {
			cfg.MaxMemory = small
		}
	}})
	n0, n1 := c.Nodes[0], c.Nodes[1]
	kvc := nsv1.NewKVServiceClient(c.Dial(0))
	ctx := context.Background()
	v := bytes.Repeat([]byte{'v'}, 1000)
	ownedBy := func(n *node.Node) func([]byte) bool {
		return func(key []byte) bool { return n.Table().Owner(n.Table().PartitionOf(key)).ID == n.ID() }
	}
	// 400 KB to n0's partitions: every write is backed up on n1.
	var written []string
	for i := 0; len(written) < 400; i++ {
		key := []byte(fmt.Sprint("a", i))
		if !ownedBy(n0)(key) {
			continue
		}
		if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: key, Value: v}); err != nil {
			t.Fatalf("put %s (owner n0, backup n1 past its limit): %v", key, err)
		}
		written = append(written, string(key))
	}
	if used, max := n1.MemoryUsed(); used <= max {
		t.Fatalf("n1 holds %d bytes of %d: its backup copies should have taken it past its limit", used, max)
	}
	// n1's own partitions refuse new writes now, sent to either node.
	_, err := fillUntilFull(t, kvc, "b", 1000, ownedBy(n1))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-memory") {
		t.Fatalf("write to n1's partition past its limit: %v, want RESOURCE_EXHAUSTED", err)
	}

	// A third node with a limit of 1 byte joins: the partitions it takes
	// are installed whole, nothing is lost.
	cfg := clustertest.NodeConfig(t, 2)
	cfg.Ring.Partitions, cfg.Ring.Backups = 8, 1
	cfg.MaxMemory = 1
	cfg.Cluster.Join = []string{n0.GossipAddr()}
	n2, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n2.Abort)
	c.Nodes = append(c.Nodes, n2)
	c.WaitAgreed(30 * time.Second)
	if len(n2.Table().Owned(n2.ID())) == 0 {
		t.Fatal("the joining node owns no partition")
	}
	kv2 := nsv1.NewKVServiceClient(c.Dial(2))
	for _, k := range written {
		resp, err := kv2.Get(ctx, &nsv1.GetRequest{Key: []byte(k)})
		if err != nil || !bytes.Equal(resp.GetValue(), v) {
			t.Fatalf("get %s after a handoff to a node past its limit: %v", k, err)
		}
	}
	if used, _ := n2.MemoryUsed(); used <= 1 {
		t.Fatalf("the joining node holds %d bytes: its installs were not charged", used)
	}
}

// TestMaxMemoryReplayNeverRefused: a node restarted from its data directory
// with a limit below what it holds replays its whole log (nothing
// acknowledged is dropped) and then refuses new writes.
func TestMaxMemoryReplayNeverRefused(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	putKeys(t, nsv1.NewKVServiceClient(dialNode(t, n)), 500)
	n.Abort()

	n = startDurable(t, 0, dir, nil, func(cfg *node.Config) { cfg.MaxMemory = 1 })
	waitReady(t, 10*time.Second, n)
	kvc := nsv1.NewKVServiceClient(dialNode(t, n))
	checkKeys(t, kvc, 500, "the node restarted with --max-memory 1")
	if used, max := n.MemoryUsed(); used <= max || max != 1 {
		t.Fatalf("after replay: usage %d of %d", used, max)
	}
	_, err := kvc.Put(context.Background(), &nsv1.PutRequest{Key: []byte("new"), Value: make([]byte, 100<<10)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("new write after replay past the limit: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// TestMaxMemoryRefusedWriteNotLogged: a write the owner refused for lack of
// memory changed nothing, so nothing may replay it: after a restart without
// the limit, its key is still absent.
func TestMaxMemoryRefusedWriteNotLogged(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, 0, dir, nil, func(cfg *node.Config) { cfg.MaxMemory = 64 << 10 })
	waitReady(t, 10*time.Second, n)
	accepted, err := fillUntilFull(t, nsv1.NewKVServiceClient(dialNode(t, n)), "k", 1000, nil)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("fill: %v, want RESOURCE_EXHAUSTED", err)
	}
	n.Abort()

	n = startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	kvc := nsv1.NewKVServiceClient(dialNode(t, n))
	refused := fmt.Sprint("k", accepted)
	if _, err := kvc.Get(context.Background(), &nsv1.GetRequest{Key: []byte(refused)}); status.Code(err) != codes.NotFound {
		t.Fatalf("the refused write %s after a restart: %v, want NotFound", refused, err)
	}
	if _, err := kvc.Get(context.Background(), &nsv1.GetRequest{Key: []byte(fmt.Sprint("k", accepted-1))}); err != nil {
		t.Fatalf("the last accepted write after a restart: %v", err)
	}
}

// waitExactMemory waits until n's usage is exactly what its copies hold
// (KV stores and request-id dedup tables): dropped copies give their charge
// back once collected. It returns the dedup entries n holds.
func waitExactMemory(t *testing.T, n *node.Node, when string) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		used, counted, entries := node.MemoryAccountForTest(n)
		if used == counted {
			return entries
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: node %s's usage is %d, its copies hold %d", when, n.ID(), used, counted)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// putWithIDs writes count keys prefix0... with request ids from id on.
func putWithIDs(t *testing.T, kvc nsv1.KVServiceClient, prefix string, count int, id uint64) {
	t.Helper()
	for i := range count {
		if _, err := kvc.Put(context.Background(), &nsv1.PutRequest{Key: []byte(fmt.Sprint(prefix, i)), Value: make([]byte, 100), RequestId: id + uint64(i)}); err != nil {
			t.Fatalf("put %s%d: %v", prefix, i, err)
		}
	}
}

// TestMaxMemoryCountsDedupExactly: the request-id dedup tables count in
// --max-memory, and a node's usage stays exactly what its copies hold
// (owned and backup, data and dedup entries) through a handoff to a node
// that joins, backup copies made then, and a graceful leave that hands
// everything back.
func TestMaxMemoryCountsDedupExactly(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: func(_ int, cfg *node.Config) {
		cfg.Ring.Partitions, cfg.Ring.Backups = 8, 1
	}})
	n0 := c.Nodes[0]
	putWithIDs(t, nsv1.NewKVServiceClient(c.Dial(0)), "a", 300, 1)
	if e := waitExactMemory(t, n0, "one node"); e != 300 {
		t.Fatalf("%d dedup entries for 300 writes with request ids", e)
	}

	cfg := clustertest.NodeConfig(t, 1)
	cfg.Ring.Partitions, cfg.Ring.Backups = 8, 1
	cfg.Cluster.Join = []string{n0.GossipAddr()}
	n1, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n1.Abort)
	c.Nodes = append(c.Nodes, n1)
	c.WaitAgreed(30 * time.Second)
	waitReady(t, 20*time.Second, n0, n1)
	putWithIDs(t, nsv1.NewKVServiceClient(c.Dial(1)), "b", 300, 1000)
	// Every write is on both nodes now: one owns it, the other backs it up.
	for _, n := range c.Nodes {
		if e := waitExactMemory(t, n, "two nodes, after the handoff"); e != 600 {
			t.Fatalf("node %s holds %d dedup entries, want all 600 (owned or backup)", n.ID(), e)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// n0 owns everything again; its backup copies of what n1 owned stay
	// (charged) for orphanTTL, in case a new owner needs them.
	if e := waitExactMemory(t, n0, "after n1 left"); e < 600 {
		t.Fatalf("after n1 left, n0 holds %d dedup entries, want at least 600", e)
	}
}

// TestMaxMemoryCountsDedupAfterRestart: a node recovered from its data
// directory charges exactly what it recovered, the dedup tables included.
func TestMaxMemoryCountsDedupAfterRestart(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	putWithIDs(t, nsv1.NewKVServiceClient(dialNode(t, n)), "k", 300, 1)
	waitExactMemory(t, n, "before the restart")
	n.Abort()
	n = startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	if e := waitExactMemory(t, n, "after the restart"); e != 300 {
		t.Fatalf("%d dedup entries recovered, want 300", e)
	}
}
