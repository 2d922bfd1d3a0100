package respserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// clusterFake is one node of a fake cluster: the shared stores of a
// fakeBackend placing keys by slots, this node's view of the owners, and a
// check that it is only ever asked about partitions it owns (a test error,
// or a panic without t).
type clusterFake struct {
	*fakeBackend
	t    *testing.T
	topo Topology
}

func (f *clusterFake) Topology() Topology { return f.topo }

func (f *clusterFake) LocalKeys() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for p, st := range f.stores {
		if f.topo.Owners[p] == f.topo.Self {
			n += st.Len()
		}
	}
	return int64(n)
}

func (f *clusterFake) Dispatch(ctx context.Context, items []*nsv1.Item, fw bool) []*nsv1.Result {
	for _, it := range items {
		req, err := kv.DecodeRequest(it.GetPayload())
		if p := f.PartitionOf(it.GetKey()); err == nil && req.Op != kv.OpFlush && f.topo.Owners[p] != f.topo.Self {
			msg := fmt.Sprintf("node %d dispatched %v of partition %d, owned by node %d: cluster mode must answer MOVED", f.topo.Self, req.Op, p, f.topo.Owners[p])
			if f.t == nil { // FuzzCommands
				panic(msg)
			}
			f.t.Error(msg)
		}
	}
	return f.fakeBackend.Dispatch(ctx, items, fw)
}

// startCluster serves three cluster-mode servers over one set of stores:
// partitions 0-2 on node 0, 3-5 on node 1, 6-7 on node 2.
func startCluster(t *testing.T) ([]*clusterFake, []string) {
	t.Helper()
	fb := newFakeBackend()
	fb.slots = true
	var lis []net.Listener
	var nodes []ClusterNode
	for i := range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis = append(lis, l)
		nodes = append(nodes, ClusterNode{ID: fmt.Sprint("n", i+1), Addr: l.Addr().String()})
	}
	owners := []int{0, 0, 0, 1, 1, 1, 2, 2}
	var fakes []*clusterFake
	var addrs []string
	for i, l := range lis {
		f := &clusterFake{fakeBackend: fb, t: t, topo: Topology{Epoch: 7, Self: i, Nodes: nodes, Owners: owners}}
		cfg := DefaultConfig()
		cfg.Backend, cfg.Cluster = f, true
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		t.Cleanup(func() {
			_ = s.Close()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
		fakes, addrs = append(fakes, f), append(addrs, l.Addr().String())
	}
	return fakes, addrs
}

// TestClusterRedirects checks the replies of one cluster-mode node:
// CLUSTER KEYSLOT and MYID, MOVED for a key of another node, CROSSSLOT.
func TestClusterRedirects(t *testing.T) {
	_, addrs := startCluster(t)
	c := dial(t, addrs[0])
	exchange(t, c, cmd("CLUSTER", "KEYSLOT", "foo"), ":12182\r\n")
	exchange(t, c, cmd("CLUSTER", "MYID"), "$40\r\n"+redisID("n1")+"\r\n")
	// foo: slot 12182, partition 12182*8/16384 = 5, node 1.
	exchange(t, c, cmd("GET", "foo"), "-MOVED 12182 "+addrs[1]+"\r\n")
	// bar: slot 5061, partition 2, node 0: served here.
	exchange(t, c, cmd("SET", "bar", "1"), "+OK\r\n")
	exchange(t, c, cmd("MSET", "bar", "1", "foo", "2"), "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	exchange(t, c, cmd("MSETNX", "{bar}x", "1", "{bar}y", "2"), ":1\r\n")
	exchange(t, c, cmd("DEL", "{foo}x", "{foo}y"), "-MOVED 12182 "+addrs[1]+"\r\n")
	exchange(t, c, cmd("READONLY"), "+OK\r\n")
	exchange(t, c, cmd("CLUSTER", "NOPE"), "-ERR unknown subcommand 'NOPE'. Try CLUSTER HELP.\r\n")
	exchange(t, c, cmd("CONFIG", "GET", "cluster-enabled"), "*2\r\n$15\r\ncluster-enabled\r\n$3\r\nyes\r\n")
	// Standalone: CLUSTER is refused as by Redis.
	_, _, addr := start(t, nil)
	exchange(t, dial(t, addr), cmd("CLUSTER", "SLOTS"), "-ERR This instance has cluster support disabled\r\n")
}

// TestClusterCheckPlacement: New refuses cluster mode over a backend that
// does not place keys by slots.
func TestClusterCheckPlacement(t *testing.T) {
	f := &clusterFake{fakeBackend: newFakeBackend()} // hash placement
	cfg := DefaultConfig()
	cfg.Backend, cfg.Cluster = f, true
	if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "slots") {
		t.Fatalf("New = %v, want ErrInvalidConfig about slots", err)
	}
	cfg.Backend = newFakeBackend()
	if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New over a Backend without Topology = %v", err)
	}
}

// TestClusterClient drives go-redis's ClusterClient against the three
// nodes: it reads CLUSTER SLOTS from one and sends each key to its owner
// with zero hops (clusterFake fails the test otherwise), in RESP2 and
// RESP3. SCAN on each master returns its own keys, each once; DBSIZE sums
// to the total.
func TestClusterClient(t *testing.T) {
	_, addrs := startCluster(t)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprint("RESP", proto), func(t *testing.T) {
			cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs[:1], Protocol: proto, MaxRedirects: -1,
				DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
			defer cc.Close()
			if err := cc.FlushAll(ctx).Err(); err == nil || !strings.Contains(err.Error(), "--resp-flushall") {
				t.Fatalf("FLUSHALL = %v", err)
			}
			const n = 300
			for i := range n {
				if err := cc.Set(ctx, fmt.Sprint("p", proto, "k", i), i, 0).Err(); err != nil {
					t.Fatalf("SET: %v", err)
				}
			}
			pipe := cc.Pipeline()
			gets := make([]*redis.StringCmd, n)
			for i := range n {
				gets[i] = pipe.Get(ctx, fmt.Sprint("p", proto, "k", i))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			for i, g := range gets {
				if g.Val() != fmt.Sprint(i) {
					t.Fatalf("GET k%d = %q, %v", i, g.Val(), g.Err())
				}
			}
			tag := fmt.Sprint("{p", proto, "}")
			if err := cc.MSet(ctx, tag+"a", "1", tag+"b", "2").Err(); err != nil {
				t.Fatalf("MSET with a hash tag: %v", err)
			}
			if ok, err := cc.MSetNX(ctx, tag+"c", "1", tag+"a", "2").Result(); err != nil || ok {
				t.Fatalf("MSETNX over a present key = %v, %v", ok, err)
			}
			if err := cc.MSet(ctx, "x", "1", "y", "2").Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
				t.Fatalf("MSET across slots = %v, want CROSSSLOT", err)
			}
			//lint:ignore SA1019 CLUSTER SLOTS is a command ns serves (older clients use it): the test calls it on purpose
			slots, err := cc.ClusterSlots(ctx).Result()
			if err != nil || len(slots) != 3 || slots[0].Start != 0 || slots[0].End != 6143 || slots[2].End != 16383 {
				t.Fatalf("CLUSTER SLOTS = %+v, %v", slots, err)
			}
			shards, err := cc.ClusterShards(ctx).Result()
			if err != nil || len(shards) != 3 || len(shards[1].Slots) != 1 || shards[1].Slots[0].Start != 6144 || shards[1].Nodes[0].Role != "master" {
				t.Fatalf("CLUSTER SHARDS = %+v, %v", shards, err)
			}
			nodes, err := cc.ClusterNodes(ctx).Result()
			if err != nil || strings.Count(nodes, "\n") != 3 || !strings.Contains(nodes, "myself,master") || !strings.Contains(nodes, " 0-6143\n") {
				t.Fatalf("CLUSTER NODES = %q, %v", nodes, err)
			}
			info, err := cc.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				t.Fatalf("CLUSTER INFO = %q, %v", info, err)
			}
			var mu sync.Mutex // guards seen, total and masters (ForEachMaster runs concurrently)
			seen := map[string]int{}
			var total int64
			masters := 0
			err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
				it := m.Scan(ctx, 0, fmt.Sprint("p", proto, "k*"), 20).Iterator()
				var keys []string
				for it.Next(ctx) {
					keys = append(keys, it.Val())
				}
				n, err := m.DBSize(ctx).Result()
				mu.Lock()
				defer mu.Unlock()
				for _, k := range keys {
					seen[k]++
				}
				total += n
				masters++
				return errors.Join(it.Err(), err)
			})
			if err != nil {
				t.Fatal(err)
			}
			if masters != 3 || len(seen) != n {
				t.Fatalf("SCAN over the masters saw %d keys, want %d", len(seen), n)
			}
			for k, c := range seen {
				if c != 1 {
					t.Fatalf("SCAN saw %s %d times", k, c)
				}
			}
			if want := int64(n+2) * int64(proto-1); total != want {
				t.Fatalf("DBSIZE over the masters = %d, want %d", total, want)
			}
		})
	}
}
